"""The sleep-staging example's synthetic data generator: layout, determinism, physiology, reuse."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import h5py
import numpy as np
import pytest
from scipy.signal import butter, find_peaks, sosfiltfilt

SCRIPT = Path(__file__).resolve().parents[3] / "examples" / "sleep_staging" / "generate.py"
SMALL = {"subjects_a": 4, "subjects_b": 3, "min_epochs": 50, "max_epochs": 90}


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("sleep_staging_generate", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


gen = _load()


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    paths: dict[str, Path] = gen.generate(
        tmp_path_factory.mktemp("sleep"), seed=3, fmt="hdf5", **SMALL
    )
    return paths


@pytest.fixture(scope="module")
def edf_folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    paths: dict[str, Path] = gen.generate(
        tmp_path_factory.mktemp("edf"), seed=3, fmt="edf", **SMALL
    )
    return paths


def _records(path: Path) -> dict[str, dict[str, np.ndarray]]:
    with h5py.File(path, "r") as f:
        return {
            name: {key: g[key][()] for key in ("ecg", "features", "stage")}
            for name, g in f["records"].items()
        }


def _mean_rr_per_epoch(ecg: np.ndarray, fs: int) -> np.ndarray:
    """A plain R-peak detector: band-pass the QRS, take the tall peaks, average RR per epoch."""
    x = ecg.reshape(-1).astype(np.float64)
    qrs = sosfiltfilt(butter(3, [5, 20], btype="band", fs=fs, output="sos"), x)
    peaks, _ = find_peaks(qrs, distance=int(0.33 * fs), height=0.4 * np.percentile(qrs, 98))
    rr = np.diff(peaks) / fs
    epoch = peaks[1:] // ecg.shape[1]
    return np.array([rr[epoch == e].mean() for e in range(ecg.shape[0])])


def test_layout_and_dtypes_match_the_reader_contract(files: dict[str, Path]) -> None:
    assert set(files) == {"A", "B"}
    for cohort, path in files.items():
        with h5py.File(path, "r") as f:
            assert f.attrs["fs"] == 64 and f.attrs["epoch_seconds"] == 30
            assert list(f.attrs["feature_names"]) == ["age", "sex", "time_of_night"]
            assert list(f.attrs["stage_names"]) == ["W", "N1", "N2", "N3", "REM"]
            assert bool(f.attrs["synthetic"]) and f.attrs["cohort"] == cohort
            names = sorted(f["records"])
            n_subjects = SMALL["subjects_a" if cohort == "A" else "subjects_b"]
            assert names == [f"{cohort}-S{i:03d}-N1" for i in range(n_subjects)]
            for name in names:
                g = f["records"][name]
                n = g["stage"].shape[0]
                assert g["ecg"].dtype == np.float32 and g["ecg"].shape == (n, 64 * 30)
                assert g["features"].dtype == np.float32 and g["features"].shape == (n, 3)
                assert g["stage"].dtype == np.int64
                assert set(np.unique(g["stage"][()])) <= {0, 1, 2, 3, 4}
                assert g.attrs["subject"] == name[: -len("-N1")] and g.attrs["cohort"] == cohort
                assert np.isfinite(g["ecg"][()]).all()


def test_same_seed_gives_identical_arrays_and_another_seed_does_not(
    files: dict[str, Path], tmp_path: Path
) -> None:
    again = gen.generate(tmp_path / "again", seed=3, fmt="hdf5", **SMALL)
    other = gen.generate(tmp_path / "other", seed=4, fmt="hdf5", **SMALL)
    for cohort in "AB":
        first, second = _records(files[cohort]), _records(again[cohort])
        assert first.keys() == second.keys()
        for name in first:
            for key in ("ecg", "features", "stage"):
                np.testing.assert_array_equal(first[name][key], second[name][key])
        different = _records(other[cohort])
        name = next(iter(first))
        assert not np.array_equal(first[name]["ecg"][:10], different[name]["ecg"][:10])


def test_heart_beats_slower_in_deep_sleep_than_awake(files: dict[str, Path]) -> None:
    for path in files.values():
        rr_by_stage: dict[int, list[float]] = {0: [], 3: []}
        for record in _records(path).values():
            rr = _mean_rr_per_epoch(record["ecg"], 64)
            for stage in rr_by_stage:
                rr_by_stage[stage].extend(rr[record["stage"] == stage])
        assert len(rr_by_stage[0]) and len(rr_by_stage[3])
        assert np.nanmean(rr_by_stage[3]) > np.nanmean(rr_by_stage[0]) + 0.03


def test_nights_vary_in_length_within_bounds(files: dict[str, Path]) -> None:
    lengths = [len(r["stage"]) for p in files.values() for r in _records(p).values()]
    assert len(set(lengths)) > 1
    assert min(lengths) >= SMALL["min_epochs"] and max(lengths) <= SMALL["max_epochs"]


def test_every_stage_occurs_and_nights_start_awake(files: dict[str, Path]) -> None:
    stages = [r["stage"] for p in files.values() for r in _records(p).values()]
    assert all(s[0] == 0 for s in stages)
    assert set(np.concatenate(stages)) == {0, 1, 2, 3, 4}


def test_features_are_per_subject_and_cohorts_differ_in_age(files: dict[str, Path]) -> None:
    ages: dict[str, list[float]] = {}
    for cohort, path in files.items():
        ages[cohort] = []
        for record in _records(path).values():
            age, sex, night = record["features"].T
            assert np.all(age == age[0]) and np.all(sex == sex[0]) and sex[0] in (0.0, 1.0)
            assert night[0] == 0.0 and night[-1] == 1.0 and np.all(np.diff(night) > 0)
            ages[cohort].append(float(age[0]))
    assert all(20 <= a <= 45 for a in ages["A"])
    assert all(55 <= a <= 80 for a in ages["B"])


def test_files_are_reused_unless_forced_or_parameters_change(tmp_path: Path) -> None:
    tiny: dict[str, Any] = {"subjects_a": 1, "subjects_b": 1, "min_epochs": 4, "max_epochs": 6}
    tiny["fmt"] = "hdf5"
    paths = gen.generate(tmp_path, **tiny)
    stamps = {k: p.stat().st_mtime_ns for k, p in paths.items()}
    assert gen.generate(tmp_path, **tiny) == paths
    assert {k: p.stat().st_mtime_ns for k, p in paths.items()} == stamps
    gen.generate(tmp_path, force=True, **tiny)
    assert all(p.stat().st_mtime_ns != stamps[k] for k, p in paths.items())
    with h5py.File(paths["A"], "r") as f:
        old_hash = f.attrs["params_hash"]
    gen.generate(tmp_path, seed=1, **tiny)
    with h5py.File(paths["A"], "r") as f:
        assert f.attrs["params_hash"] != old_hash


def test_cli_writes_both_cohorts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--out", str(tmp_path), "--subjects-a", "1", "--subjects-b", "1"]
    assert gen.main([*argv, "--min-epochs", "3", "--max-epochs", "3", "--format", "hdf5"]) == 0
    assert "cohort_A.h5" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.glob("*.h5")) == ["cohort_A.h5", "cohort_B.h5"]
    assert gen.main([*argv, "--min-epochs", "5", "--max-epochs", "2"]) == 2
    assert gen.main([*argv, "--min-epochs", "3", "--max-epochs", "3", "--format", "edf"]) == 0
    assert sorted(p.name for p in (tmp_path / "cohort_B").iterdir()) == [
        "B-S000-N1-Hypnogram.edf",
        "B-S000-N1-PSG.edf",
        "covariates.csv",
        "params.json",
    ]


# The edf source as docs/sleep_staging.md spells it for the generated EDF+ cohorts.
EDF_SOURCE = {
    "type": "edf",
    "signals": "*-PSG.edf",
    "hypnograms": "*-Hypnogram.edf",
    "subject": r"^(.+)-N\d+-PSG",
    "channels": {"ecg": "ECG"},
    "rate": 64,
    "epoch_seconds": 30,
    "covariates": {"path": "covariates.csv", "by": "record", "columns": ["age", "sex"]},
}


def _edf_table(folder: Path) -> Any:
    from trainspec.data._edf import EdfLoader
    from trainspec.data._sources import SourceContext
    from trainspec.spec import DataSpec

    spec = DataSpec.model_validate({"source": {**EDF_SOURCE, "path": str(folder)}})
    return EdfLoader().load(spec.source, SourceContext())


def test_edf_cohorts_hold_what_the_hdf5_files_hold(
    files: dict[str, Path], edf_folders: dict[str, Path]
) -> None:
    for cohort in "AB":
        records = _records(files[cohort])
        table = _edf_table(edf_folders[cohort])
        names = list(table.record_keys["record"])
        assert names == sorted(records)
        ecg, stage = table.get("ecg", "t"), table.get("stage", "t")
        tn = table.get("time_of_night", "t")
        for i, name in enumerate(names):
            rows = slice(table.offsets[i], table.offsets[i + 1])
            want = records[name]
            # 16-bit EDF over +-8 mV: within one 0.24 µV step of the 2 µV-quantised signal.
            np.testing.assert_allclose(ecg[rows], want["ecg"], atol=2.5e-4)
            np.testing.assert_array_equal(stage[rows], want["stage"])
            np.testing.assert_allclose(tn[rows], want["features"][:, 2], atol=1e-6)
            assert table.record_keys["age"][i] == pytest.approx(want["features"][0, 0], abs=0.01)
            assert table.record_keys["sex"][i] == want["features"][0, 1]
            assert table.record_keys["subject"][i] == name.rsplit("-", 1)[0]


def test_edf_folders_are_reused_unless_parameters_change(tmp_path: Path) -> None:
    tiny: dict[str, Any] = {"subjects_a": 1, "subjects_b": 1, "min_epochs": 3, "max_epochs": 4}
    tiny["fmt"] = "edf"
    paths = gen.generate(tmp_path, **tiny)
    psg = next(paths["A"].glob("*-PSG.edf"))
    stamp = psg.stat().st_mtime_ns
    assert gen.generate(tmp_path, **tiny) == paths and psg.stat().st_mtime_ns == stamp
    before = psg.read_bytes()
    gen.generate(tmp_path, seed=1, **tiny)
    assert psg.read_bytes() != before
    gen.generate(tmp_path, seed=0, force=True, **tiny)
    assert psg.read_bytes() == before  # a fixed start time: the same parameters, the same bytes
