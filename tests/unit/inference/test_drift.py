"""Drift statistics, the run's reference, and monitor flagging a shifted feature only."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trainspec.inference import (
    DriftAccumulator,
    Reference,
    feature_matrix,
    ks_statistic,
    load_run,
    monitor_run,
    psi,
)


def test_psi_and_ks_known_values() -> None:
    assert psi([0.5, 0.5], [0.5, 0.5]) == 0.0
    assert psi([0.5, 0.5], [0.9, 0.1]) == pytest.approx(
        0.4 * np.log(1.8) - 0.4 * np.log(0.2), rel=1e-6
    )
    assert ks_statistic(np.arange(10.0), np.arange(10.0)) == 0.0
    assert ks_statistic(np.arange(10.0), np.arange(10.0) + 100) == 1.0
    assert ks_statistic([0.0, 1.0, 2.0, 3.0], [2.0, 3.0, 4.0, 5.0]) == pytest.approx(0.5)


def test_streamed_ks_equals_the_two_sample_statistic() -> None:
    rng = np.random.default_rng(0)
    train = rng.normal(size=(800, 2))
    ref = Reference.from_values(train, ["u", "v"])
    new = np.stack([rng.normal(0.3, 1.2, 500), rng.normal(size=500)], axis=1)
    acc = DriftAccumulator(ref)
    for part in np.array_split(new, 7):
        acc.update(part, ["u", "v"])
    report = acc.report()
    for j, f in enumerate(report.features):
        assert f.ks == pytest.approx(ks_statistic(train[:, j], new[:, j]), abs=1e-12)
    assert report.n_rows == 500


def test_feature_matrix_columns_and_summaries() -> None:
    inputs = {
        "x": np.arange(6.0).reshape(3, 2),
        "ecg": np.ones((3, 1, 400)),
    }
    values, names = feature_matrix(inputs, columns={"x": ["age", "sex"]})
    assert names == ["age", "sex", "ecg.mean", "ecg.std"]
    assert values.shape == (3, 4)
    masked, _ = feature_matrix(
        {"x": np.zeros((2, 4, 3))}, mask=np.array([[1, 1, 0, 0], [1, 0, 0, 0]])
    )
    assert masked.shape == (3, 3)  # the real rows of two padded records


def test_reference_round_trip(tmp_path: Path) -> None:
    values = np.random.default_rng(1).normal(size=(50, 3))
    values[:, 2] = 4.0  # a constant feature
    ref = Reference.from_values(values, ["a", "b", "c"], origin="test")
    ref.save(tmp_path)
    back = Reference.load(tmp_path)
    assert back.names == ["a", "b", "c"] and back.n_rows == 50 and back.info["origin"] == "test"
    for e1, e2 in zip(ref.edges, back.edges, strict=True):
        np.testing.assert_array_equal(e1, e2)
    np.testing.assert_array_equal(ref.samples, back.samples)
    acc = DriftAccumulator(back)
    acc.update(np.tile([0.0, 0.0, 4.0], (20, 1)), ["a", "b", "c"])
    assert acc.report().features[2].psi == pytest.approx(0.0)


def test_monitor_flags_the_shifted_feature_and_not_the_others(
    table_torch_run: Path, tmp_path: Path
) -> None:
    from tests.unit.inference.conftest import make_table

    run = load_run(table_torch_run)
    new = make_table(300, seed=11)
    steady = monitor_run(run, new)
    assert steady.drifted == []
    assert (table_torch_run / "reference" / "reference.json").is_file()  # cached on first use

    shifted = new.assign(b=new["b"] + 15.0)  # 1.5 standard deviations of b's noise
    shifted.to_csv(tmp_path / "shifted.csv", index=False)
    report = monitor_run(table_torch_run, tmp_path / "shifted.csv")
    assert report.drifted == ["b"]
    by_name = {f.feature: f for f in report.features}
    assert by_name["b"].psi > 0.2 and by_name["b"].ks > 0.2
    assert by_name["a"].psi < 0.2 and by_name["a"].ks < 0.2
    assert report.n_rows == 300


def test_monitor_records(records_run: Path, tmp_path: Path) -> None:
    from tests.unit.inference.conftest import write_records

    path = write_records(tmp_path / "new.h5", [6, 7, 8, 5], seed=4)
    report = monitor_run(records_run, path)
    names = [f.feature for f in report.features]
    assert names[:2] == ["ecgs.mean", "ecgs.std"]
    assert "additional.age" in names
    assert report.n_rows == 26  # every real epoch counts once
    assert isinstance(pd.DataFrame(report.to_dict()["features"]), pd.DataFrame)
