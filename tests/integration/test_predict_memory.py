"""Prediction streams: on an input many chunks long, peak memory follows the chunk size."""

# The run fixtures are imported from the unit tests' conftest; their names are reused as
# test parameters, which is how pytest injects them.
# ruff: noqa: F811

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pandas as pd
import pytest

from tests.unit.inference.conftest import digits_frame, digits_run  # noqa: F401  (fixtures)
from trainspec.inference import LoadedRun, load_run, predict_run

pytestmark = pytest.mark.integration


def _peak(run: LoadedRun, data: Path, out: Path, chunk_size: int) -> tuple[int, int]:
    chunks: list[int] = []
    tracemalloc.start()
    try:
        predict_run(
            run, data, out=out, chunk_size=chunk_size, progress=lambda i, n: chunks.append(n)
        )
        return tracemalloc.get_traced_memory()[1], len(chunks)
    finally:
        tracemalloc.stop()


def test_peak_memory_is_bounded_by_the_chunk_not_the_file(
    digits_run: Path,
    digits_frame: pd.DataFrame,
    tmp_path: Path,
) -> None:
    rows = pd.concat([digits_frame.drop(columns=["target"])] * 6, ignore_index=True)  # 10,782
    rows.to_csv(tmp_path / "big.csv", index=False)
    full = rows.to_numpy().nbytes  # 5.5 MB as float64
    del rows
    run = load_run(digits_run)
    small, n_small = _peak(run, tmp_path / "big.csv", tmp_path / "a.parquet", 1_000)
    large, n_large = _peak(run, tmp_path / "big.csv", tmp_path / "b.parquet", 20_000)
    assert (n_small, n_large) == (11, 1)
    assert small < full  # far less than the data, which one pass holds several times over
    assert small < 0.35 * large
    a, b = pd.read_parquet(tmp_path / "a.parquet"), pd.read_parquet(tmp_path / "b.parquet")
    assert len(a) == 10_782 and a["prediction"].tolist() == b["prediction"].tolist()
