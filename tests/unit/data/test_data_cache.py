"""Preprocessed data is cached by fingerprint; a changed file or transform spec misses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from trainspec.data import prepare_data
from trainspec.spec import DataSpec


def _spec(path: Path, **extra: Any) -> DataSpec:
    raw = {
        "source": {"type": "csv", "path": str(path)},
        "features": ["a", "b", "color"],
        "target": "label",
        "transforms": [{"type": "one_hot"}],
        **extra,
    }
    return DataSpec.model_validate(raw)


def test_second_prepare_hits_the_cache_and_a_changed_file_misses(
    frame: Any, tmp_path: Path
) -> None:
    path, cache = tmp_path / "d.csv", tmp_path / "cache"
    frame.to_csv(path, index=False)
    first = prepare_data(_spec(path), seed=0, cache_dir=cache)
    second = prepare_data(_spec(path), seed=0, cache_dir=cache)
    assert not first.cache_hit and second.cache_hit
    assert first.fingerprint == second.fingerprint
    assert not list(cache.rglob("*.pkl")) and list(cache.rglob("arrays.npz"))
    # The cached object (string) column comes back the same: same batches.
    order = np.arange(10)
    a = next(first.fold().source("train").iter_batches(order, 10))
    b = next(second.fold().source("train").iter_batches(order, 10))
    assert all(bool((a[k] == b[k]).all()) for k in a)

    frame.loc[0, "a"] += 1.0
    frame.to_csv(path, index=False)
    changed = prepare_data(_spec(path), seed=0, cache_dir=cache)
    assert not changed.cache_hit and changed.fingerprint != first.fingerprint


def test_changed_transform_spec_changes_the_fingerprint(frame: Any, tmp_path: Path) -> None:
    path, cache = tmp_path / "d.csv", tmp_path / "cache"
    frame.to_csv(path, index=False)
    first = prepare_data(_spec(path), seed=0, cache_dir=cache)
    other = _spec(path, transforms=[{"type": "ordinal"}])
    second = prepare_data(other, seed=0, cache_dir=cache)
    assert second.fingerprint != first.fingerprint


def test_signal_transform_change_misses_the_cache(tmp_path: Path) -> None:
    path, cache = tmp_path / "d.npz", tmp_path / "cache"
    np.savez(path, s=np.random.default_rng(0).normal(size=(8, 32)), y=np.arange(8) % 2)

    def spec(size: int) -> DataSpec:
        return DataSpec.model_validate(
            {
                "source": {"type": "npz", "path": str(path)},
                "features": "s",
                "target": "y",
                "transforms": [{"type": "window", "size": size}],
                "split": {"method": "holdout"},
            }
        )

    assert not prepare_data(spec(8), seed=0, cache_dir=cache).cache_hit
    assert prepare_data(spec(8), seed=0, cache_dir=cache).cache_hit
    assert not prepare_data(spec(16), seed=0, cache_dir=cache).cache_hit


def test_arrays_without_cache_dir_touch_no_files(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)
    x, y = np.zeros((20, 2)), np.arange(20) % 2
    prepare_data(DataSpec.model_validate({"source": {"type": "arrays"}}), seed=0, arrays=(x, y))
    assert not list(tmp_path.iterdir())
