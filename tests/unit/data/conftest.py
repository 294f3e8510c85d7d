"""Tiny data files for the data-layer tests, written fresh in each test's tmp_path."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

N_SUBJECTS = 6
SAMPLES_PER_EPOCH = 16
FEATURES = ["age", "sex", "hour"]


def make_frame(n: int = 60, seed: int = 0) -> pd.DataFrame:
    """A small classification table: two numbers, a category, a label, a subject."""
    rng = np.random.default_rng(seed)
    label = np.arange(n) % 3
    return pd.DataFrame(
        {
            "a": rng.normal(size=n) + label,
            "b": rng.normal(size=n) * 10,
            "color": rng.choice(["red", "green", "blue"], size=n),
            "label": np.array(["cat", "dog", "eel"])[label],
            "subject": [f"s{i % 10}" for i in range(n)],
        }
    )


def write_records_h5(path: Path, lengths: list[int] | None = None, seed: int = 0) -> Path:
    """The records layout of the ECG sleep-staging example, tiny."""
    import h5py

    rng = np.random.default_rng(seed)
    lengths = lengths or [5, 9, 6, 7, 8, 5, 6, 7]
    with h5py.File(path, "w") as f:
        f.attrs["fs"] = 16.0
        f.attrs["epoch_seconds"] = 1.0
        f.attrs["feature_names"] = FEATURES
        f.attrs["stage_names"] = ["W", "N1", "N2", "N3", "REM"]
        group = f.create_group("records")
        for i, t in enumerate(lengths):
            rec = group.create_group(f"night{i:02d}")
            rec.create_dataset("ecg", data=rng.normal(size=(t, SAMPLES_PER_EPOCH)).astype("f4"))
            feats = np.stack([np.full(t, 30 + i), np.full(t, i % 2), np.arange(t)], axis=1)
            rec.create_dataset("features", data=feats.astype("f4"))
            rec.create_dataset("stage", data=(np.arange(t) + i) % 5)
            rec.attrs["subject"] = f"subj{i % N_SUBJECTS}"
            rec.attrs["cohort"] = "a" if i < 4 else "b"
    return path


@pytest.fixture
def frame() -> pd.DataFrame:
    return make_frame()


@pytest.fixture
def write_records() -> Callable[..., Path]:
    return write_records_h5


@pytest.fixture
def records_h5(tmp_path: Path) -> Path:
    return write_records_h5(tmp_path / "sleep.h5")
