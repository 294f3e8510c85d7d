"""Tiny trained runs shared by the inference tests (trained once per session, one epoch)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.conftest import EXAMPLES

N_SAMPLES = 16  # ECG samples per epoch in the records file
STAGES = ["W", "N1", "N2", "N3", "REM"]

SLEEP_NET: dict[str, Any] = {
    "inputs": {"ecgs": [None, 1, None], "additional": [None, 3]},
    "blocks": {
        "cnn": {
            "type": "conv_stack",
            "in": "ecgs",
            "per_step": True,
            "channels": [4],
            "kernel_size": 3,
            "pool": "max",
            "pool_size": 2,
        },
        "pooled": {"type": "global_pool", "mode": "avgmax", "per_step": True},
        "tabular": {"type": "dense_stack", "in": "additional", "units": 4},
        "merged": {"type": "concat", "in": ["pooled", "tabular"]},
        "tcn": {"type": "tcn", "channels": 8, "levels": 2, "kernel_size": 3},
        "head": {"type": "Linear", "out_features": 5},
    },
}
QUIET = {"progress": "none"}


def make_table(n: int = 120, seed: int = 0) -> pd.DataFrame:
    """Two numbers, a category and a label that depends on them; ids in 'sid'."""
    rng = np.random.default_rng(seed)
    label = np.arange(n) % 3
    return pd.DataFrame(
        {
            "sid": [f"s{seed}-{i}" for i in range(n)],
            "a": rng.normal(size=n) + label,
            "b": rng.normal(size=n) * 10 + 5 * label,
            "color": rng.choice(["red", "green", "blue"], size=n),
            "label": np.array(["cat", "dog", "eel"])[label],
        }
    )


def write_records(path: Path, lengths: list[int], seed: int = 0) -> Path:
    """The records layout of the sleep-staging example, tiny: ecg (T, S), features (T, 3)."""
    import h5py

    rng = np.random.default_rng(seed)
    with h5py.File(path, "w") as f:
        f.attrs["fs"] = 16.0
        f.attrs["feature_names"] = ["age", "sex", "hour"]
        f.attrs["stage_names"] = STAGES
        group = f.create_group("records")
        for i, t in enumerate(lengths):
            rec = group.create_group(f"night{i:02d}")
            stage = (np.arange(t) + i) % 5
            wave = np.sin(np.linspace(0, 6, N_SAMPLES))[None] * (stage[:, None] + 1)
            ecg = wave + 0.3 * rng.normal(size=(t, N_SAMPLES))
            rec.create_dataset("ecg", data=ecg.astype("f4"))
            feats = np.stack([np.full(t, 30 + i), np.full(t, i % 2), np.arange(t)], axis=1)
            rec.create_dataset("features", data=feats.astype("f4"))
            rec.create_dataset("stage", data=stage)
            rec.attrs["subject"] = f"subj{i % 4}"
    return path


def _train(spec: dict[str, Any], run_dir: Path) -> Path:
    from trainspec.experiments import run_experiment

    spec = {**spec, "tracking": {"backend": "none"}}
    run_experiment(spec, run_dir=run_dir, progress="none")
    return run_dir


@pytest.fixture(scope="session")
def digits_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The digits example (MLP, standardize), trained for one epoch."""
    from trainspec.spec import load_spec

    root = tmp_path_factory.mktemp("digits")
    loaded = load_spec(EXAMPLES / "digits" / "train.yaml", overrides=["train.epochs=1"])
    return _train(loaded.data, root / "run")


@pytest.fixture(scope="session")
def digits_frame() -> pd.DataFrame:
    from sklearn.datasets import load_digits

    return load_digits(as_frame=True).frame


@pytest.fixture(scope="session")
def table_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("table") / "train.csv"
    make_table().to_csv(path, index=False)
    return path


def _table_data(path: Path) -> dict[str, Any]:
    return {
        "source": {"type": "csv", "path": str(path)},
        "features": ["a", "b", "color"],
        "target": "label",
        "id": "sid",
        "transforms": [{"type": "one_hot", "columns": ["color"]}, {"type": "standardize"}],
    }


@pytest.fixture(scope="session")
def sklearn_run(tmp_path_factory: pytest.TempPathFactory, table_csv: Path) -> Path:
    spec = {
        "task": "classification",
        "model": {"target": "sklearn.linear_model.LogisticRegression", "params": {"max_iter": 500}},
        "data": _table_data(table_csv),
        "train": {"metrics": ["accuracy"], "monitor": {"metric": "val/accuracy"}},
    }
    return _train(spec, tmp_path_factory.mktemp("sk") / "run")


@pytest.fixture(scope="session")
def table_torch_run(tmp_path_factory: pytest.TempPathFactory, table_csv: Path) -> Path:
    spec = {
        "task": "classification",
        "model": {
            "layers": [
                {"type": "Linear", "out_features": 8},
                "ReLU",
                {"type": "Linear", "out_features": 3},
            ]
        },
        "data": _table_data(table_csv),
        "train": {"epochs": 2, "batch_size": 16, **QUIET},
    }
    return _train(spec, tmp_path_factory.mktemp("tab") / "run")


@pytest.fixture(scope="session")
def records_h5(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_records(tmp_path_factory.mktemp("rec") / "nights.h5", [5, 9, 6, 7, 8, 5, 6, 7])


@pytest.fixture(scope="session")
def records_run(tmp_path_factory: pytest.TempPathFactory, records_h5: Path) -> Path:
    """A sleep-staging-like graph network on nights of epochs (one sample = one night)."""
    spec = {
        "task": "classification",
        "model": SLEEP_NET,
        "data": {
            "source": {"type": "hdf5", "path": str(records_h5), "records": "records"},
            "inputs": {"ecgs": {"key": "ecg", "shape": [1, -1]}, "additional": "features"},
            "target": "stage",
            "group": "subject",
            "id": "record",
            "transforms": [
                {"type": "filter", "high": 5.0, "order": 2, "inputs": ["ecgs"]},
                {"type": "standardize", "per": "channel", "inputs": ["ecgs"]},
                {"type": "standardize", "inputs": ["additional"]},
            ],
            "split": {"method": "group", "ratios": {"train": 0.75, "val": 0.25}},
        },
        "train": {"epochs": 1, "batch_size": 2, "loss": {"ignore_index": -100}, **QUIET},
    }
    return _train(spec, tmp_path_factory.mktemp("records") / "run")
