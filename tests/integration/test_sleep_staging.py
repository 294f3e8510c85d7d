"""The flagship example on tiny cohorts: pretrain on A, fine-tune the head on B, predict held-out
nights, all through the command line, as `make demo` does it with full-size cohorts."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.conftest import EXAMPLES, ROOT

pytestmark = pytest.mark.integration

SLEEP = EXAMPLES / "sleep_staging"
# A smaller configuration than the demo's (20 subjects a cohort, shorter nights, 8 pretraining
# epochs): seconds per run, and still enough nights for kappa to mean something.
SMALL = {"subjects_a": 20, "subjects_b": 20, "min_epochs": 80, "max_epochs": 120}
EPOCHS = (8, 20)  # pretraining, fine-tuning
STAGES = ["W", "N1", "N2", "N3", "REM"]


def _module(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"sleep_{name}", SLEEP / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it executes
    spec.loader.exec_module(module)
    return module


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
    res = subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900
    )
    assert res.returncode == 0, f"{' '.join(args)}\n{res.stdout[-2000:]}\n{res.stderr[-4000:]}"
    return res


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Small cohorts, a pretraining run, a fine-tuning run, and predictions on cohort B."""
    tmp = tmp_path_factory.mktemp("sleep")
    paths = _module("generate").generate(tmp / "data", **SMALL)  # EDF+ folders, as the demo
    h5 = _module("generate").generate(tmp / "h5", fmt="hdf5", **SMALL)  # the same nights
    common = [f"run.root={tmp / 'runs'}", "--quiet"]
    pre, fine = tmp / "pretrain", tmp / "finetune"
    _run(
        "-m", "trainspec", "train", str(SLEEP / "pretrain.yaml"), f"data.source.path={paths['A']}",
        f"train.epochs={EPOCHS[0]}", "--run-dir", str(pre), *common,
    )  # fmt: skip
    _run(
        "-m", "trainspec", "train", str(SLEEP / "finetune.yaml"), f"data.source.path={paths['B']}",
        f"finetune.init.from={pre}", f"train.epochs={EPOCHS[1]}", "--run-dir", str(fine), *common,
    )  # fmt: skip
    out = {name: tmp / f"{name}_on_B.csv" for name in ("pretrain", "finetune")}
    for name, run_dir in (("pretrain", pre), ("finetune", fine)):
        data = ["--data", str(paths["B"]), "--out", str(out[name])]
        _run("-m", "trainspec", "predict", str(run_dir), *data)
    return {"pretrain": pre, "finetune": fine, "B": paths["B"], "A_h5": h5["A"], "B_h5": h5["B"],
            "pred_pretrain": out["pretrain"], "pred_finetune": out["finetune"]}  # fmt: skip


def _weights(path: Path) -> dict[str, Any]:
    from safetensors.torch import load_file

    return load_file(str(path))


def test_both_runs_write_their_files(runs: dict[str, Path]) -> None:
    for name in ("pretrain", "finetune"):
        run = runs[name]
        for item in ("config.yaml", "metrics.jsonl", "summary.json", "splits.json", "model"):
            assert (run / item).exists(), f"{name} run lacks {item}"
        assert (run / "checkpoints" / "best" / "model.safetensors").is_file()
        rows = (run / "metrics.jsonl").read_text().splitlines()
        assert len(rows) == EPOCHS[name == "finetune"]
        assert "val/kappa" in json.loads(rows[-1])
    report = json.loads((runs["finetune"] / "load_report.json").read_text())
    assert report["source"] == str(runs["pretrain"] / "checkpoints" / "best" / "model.safetensors")
    assert report["loaded"] and not report["missing"] and not report["unexpected"]


def test_the_splits_are_subject_wise_and_name_the_nights(runs: dict[str, Path]) -> None:
    plan = json.loads((runs["finetune"] / "splits.json").read_text())
    fold, ids, groups = plan["folds"][0], plan["ids"], plan["groups"]
    subjects = {split: {groups[i] for i in idx} for split, idx in fold.items()}
    assert set(fold) == {"train", "val", "test"}
    assert not subjects["train"] & (subjects["val"] | subjects["test"])
    assert all(ids[i].startswith("B-S") for i in fold["test"])


def test_finetuning_changes_the_head_only(runs: dict[str, Path]) -> None:
    import torch

    before = _weights(runs["pretrain"] / "checkpoints" / "best" / "model.safetensors")
    for path in (
        runs["finetune"] / "checkpoints" / "best" / "model.safetensors",
        runs["finetune"] / "model" / "model.safetensors",
    ):
        after = _weights(path)
        assert after.keys() == before.keys()
        frozen = [k for k in before if not k.startswith("outer_dense.")]
        head = [k for k in before if k.startswith("outer_dense.")]
        assert frozen and head
        # Bitwise: the backbone, batch-norm running statistics included, is untouched.
        changed = [k for k in frozen if not torch.equal(before[k], after[k])]
        assert not changed, f"frozen tensors changed in {path}: {changed}"
        assert any(not torch.equal(before[k], after[k]) for k in head)


def test_predictions_cover_every_epoch_of_every_night(runs: dict[str, Path]) -> None:
    import h5py

    frame = pd.read_csv(runs["pred_finetune"])  # predicted from the EDF+ folder
    assert sorted(p.name for p in runs["B"].glob("*-PSG.edf"))  # a folder of recordings
    with h5py.File(runs["B_h5"], "r") as f:  # the same nights, as the generator drew them
        nights = {name: f["records"][name]["stage"][()] for name in f["records"]}
    assert sorted(frame["record"].unique()) == sorted(nights)
    for night, stages in nights.items():
        rows = frame[frame["record"] == night].sort_values("epoch")
        assert rows["epoch"].tolist() == list(range(len(stages)))
        assert rows["target"].tolist() == stages.tolist()
    assert set(frame["prediction"]) <= set(STAGES)
    proba = frame[[f"proba_{s}" for s in STAGES]].to_numpy()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-4)


def _pooled_kappa(confusions: list[list[list[int]]]) -> float:
    """Cohen's kappa of the summed confusion matrices (the epochs of all those nights)."""
    m = np.sum(np.asarray(confusions, dtype=float), axis=0)
    n = m.sum()
    expected = float((m.sum(axis=0) * m.sum(axis=1)).sum()) / n**2
    return (float(np.trace(m)) / n - expected) / (1 - expected)


def test_finetuning_beats_the_pretrained_model_on_held_out_b_nights(
    runs: dict[str, Path],
) -> None:
    # Every cohort-B night fine-tuning did not train on: its test nights and the validation
    # nights that only chose its best epoch (10 nights; 6 of them test nights).
    from trainspec.inference import evaluate_run

    scores: dict[str, list[Any]] = {"pretrain": [], "finetune": []}
    for split in ("test", "val"):
        for name in scores:
            scores[name].append(
                evaluate_run(runs[name], runs["B"], split=split, splits_from=runs["finetune"])
            )
    nights = sum(e.n for e in scores["finetune"])
    assert nights == sum(e.n for e in scores["pretrain"]) >= 8
    before = _pooled_kappa([e.confusion for e in scores["pretrain"]])
    after = _pooled_kappa([e.confusion for e in scores["finetune"]])
    assert after > before, (before, after)
    # The command the demo prints gives the same number.
    shown = _run(
        "-m", "trainspec", "evaluate", str(runs["finetune"]), "--data", str(runs["B"]),
        "--split", "test", "--json",
    )  # fmt: skip
    assert json.loads(shown.stdout)["metrics"] == scores["finetune"][0].metrics
    test_only = scores["finetune"][0]
    assert test_only.metrics["kappa"] == pytest.approx(_pooled_kappa([test_only.confusion]))


def test_the_hdf5_variant_trains_and_evaluates(runs: dict[str, Path], tmp_path: Path) -> None:
    """pretrain_hdf5.yaml reads the same nights from the generator's HDF5 files."""
    run = tmp_path / "pretrain_hdf5"
    _run(
        "-m", "trainspec", "train", str(SLEEP / "pretrain_hdf5.yaml"),
        f"data.source.path={runs['A_h5']}", "train.epochs=1", f"run.root={tmp_path / 'runs'}",
        "--quiet", "--run-dir", str(run),
    )  # fmt: skip
    shown = _run(
        "-m", "trainspec", "evaluate", str(run), "--data", str(runs["A_h5"]), "--split", "test",
        "--json",
    )  # fmt: skip
    report = json.loads(shown.stdout)
    assert report["n"] >= 2 and set(report["metrics"]) == {"kappa", "accuracy"}
    # The same split as the EDF+ pretraining run: the same nights, the same subjects.
    plans = [json.loads((r / "splits.json").read_text()) for r in (run, runs["pretrain"])]
    assert plans[0]["ids"] == plans[1]["ids"] and plans[0]["folds"] == plans[1]["folds"]
