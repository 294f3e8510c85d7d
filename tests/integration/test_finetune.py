"""Fine-tuning end to end on digits: from a pretraining run, from a foreign checkpoint."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tests.conftest import EXAMPLES
from trainspec.experiments import run_experiment
from trainspec.spec import load_spec

pytestmark = pytest.mark.integration

FINETUNE = EXAMPLES / "finetune"
FAST = ["tracking.backend=none", "train.progress=none"]


def _weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(str(run_dir / "model" / "model.safetensors"))


def test_fine_tuning_spec_extends_pretraining_and_trains_only_the_head(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # init.from in finetune.yaml is relative to the working dir
    pre = run_experiment(
        load_spec(FINETUNE / "pretrain.yaml", overrides=[*FAST, "train.epochs=3"]),
        run_dir=tmp_path / "runs/finetune/pretrain",
    )
    best = load_file(str(pre.run_dir / "checkpoints/best/model.safetensors"))

    loaded = load_spec(FINETUNE / "finetune.yaml", overrides=[*FAST, "train.epochs=2"])
    assert loaded.data["data"] == load_spec(FINETUNE / "pretrain.yaml").data["data"]  # extends
    result = run_experiment(loaded, run_dir=tmp_path / "head")
    assert result.status == "finished"
    tuned = _weights(result.run_dir)
    for key in ("body.0.linear.weight", "body.0.linear.bias", "body.1.linear.weight"):
        assert torch.equal(tuned[key], best[key]), key  # frozen: bitwise the pretrained values
    assert not torch.equal(tuned["head.weight"], best["head.weight"])
    assert not torch.equal(tuned["head.bias"], best["head.bias"])

    report = json.loads((result.run_dir / "load_report.json").read_text())
    assert report["status"] == "loaded" and len(report["loaded"]) == len(best)
    assert report["source"].endswith("pretrain/checkpoints/best/model.safetensors")


def test_dataparallel_checkpoint_of_a_plain_script_loads_strictly_by_rename_rules(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    plain = tmp_path / "runs/finetune/plain.pth"
    script = FINETUNE / "train_plain.py"
    done = subprocess.run(
        [sys.executable, str(script), "--out", str(plain), "--epochs", "1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    saved = torch.load(plain, weights_only=True)
    assert set(saved) == {"epoch", "model_state_dict", "optimizer_state_dict"}
    foreign = saved["model_state_dict"]
    assert all(k.startswith("module.") for k in foreign)

    loaded = load_spec(FINETUNE / "from_foreign.yaml", overrides=[*FAST, "train.epochs=1"])
    result = run_experiment(loaded, run_dir=tmp_path / "foreign")
    report = json.loads((result.run_dir / "load_report.json").read_text())
    assert report["renamed"] == {
        "module.features.0.weight": "body.0.linear.weight",
        "module.features.0.bias": "body.0.linear.bias",
        "module.features.3.weight": "body.1.linear.weight",
        "module.features.3.bias": "body.1.linear.bias",
        "module.classifier.weight": "head.weight",
        "module.classifier.bias": "head.bias",
    }
    assert sorted(report["loaded"]) == sorted(report["renamed"].values())
    assert report["missing"] == report["unexpected"] == report["mismatched"] == []
    tuned = _weights(result.run_dir)
    assert torch.equal(tuned["body.0.linear.weight"], foreign["module.features.0.weight"])
    assert not torch.equal(tuned["head.weight"], foreign["module.classifier.weight"])


def test_cli_dry_run_and_summary_show_patterns_and_refuse_bad_input(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    spec = str(FINETUNE / "gradual.yaml")
    res = cli("model", "summary", spec)
    assert res.returncode == 0, res.stderr
    assert "freeze: *" in res.stdout and "trainable: head.*" in res.stdout
    assert "trainable: 650" in res.stdout  # the head's 64 * 10 + 10 values
    assert "unfreeze at epoch 3: body.1.linear.weight, body.1.linear.bias" in res.stdout

    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    evil.write_bytes(
        b"\x80\x02cbuiltins\nopen\nq\x00X"
        + len(str(marker)).to_bytes(4, "little")
        + str(marker).encode()
        + b"q\x01X\x01\x00\x00\x00wq\x02\x86q\x03Rq\x04."
    )  # a protocol-2 pickle of open(marker, "w"): what a malicious checkpoint does
    res = cli("train", spec, f"finetune.init.from={evil}", "--dry-run")
    assert res.returncode == 2
    assert "weights_only=True" in res.stderr
    assert not marker.exists()

    res = cli("model", "summary", spec, "finetune.freeze=[bdy.*]")
    assert res.returncode == 2
    assert "finetune.freeze[0]: pattern 'bdy.*' matches no parameter" in res.stderr
