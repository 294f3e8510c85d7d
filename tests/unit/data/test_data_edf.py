"""The edf source: EDF+ nights with Sleep-EDF or NSRR XML hypnograms, covariates, bad files."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from trainspec.data import IGNORE_INDEX, prepare_data
from trainspec.data._edf import EdfLoader
from trainspec.data._sources import SourceContext
from trainspec.errors import DataError
from trainspec.spec import DataSpec

pyedflib = pytest.importorskip("pyedflib")

FS = 8  # Hz; 30-s epochs of 240 samples
START = dt.datetime(2001, 2, 3, 23, 0)
TEXT = {
    0: "Sleep stage W",
    1: "Sleep stage 1",
    2: "Sleep stage 2",
    3: "Sleep stage 3",
    4: "Sleep stage R",
}


def write_psg(
    path: Path, n_epochs: int, *, label: str = "ECG", fs: int = FS, seed: int = 0
) -> np.ndarray:
    """One channel whose value in epoch e is e (plus a small ripple): (n_epochs * 30 * fs,)."""
    n = n_epochs * 30 * fs
    ripple = 0.01 * np.sin(np.arange(n) * 2 * np.pi / fs)
    values = np.repeat(np.arange(n_epochs, dtype=np.float64), 30 * fs) + ripple + seed
    writer = pyedflib.EdfWriter(str(path), 2, file_type=pyedflib.FILETYPE_EDFPLUS)
    try:
        writer.setStartdatetime(START)
        header = {"dimension": "mV", "sample_frequency": fs, "physical_max": 100.0,
                  "physical_min": -100.0, "digital_max": 32767, "digital_min": -32768,
                  "transducer": "", "prefilter": ""}  # fmt: skip
        writer.setSignalHeaders([{**header, "label": label}, {**header, "label": "EEG Fpz-Cz"}])
        writer.writeSamples([values, -values])
    finally:
        writer.close()
    return values


def write_hypnogram(
    path: Path, events: list[tuple[float, float, str]], start: dt.datetime = START
) -> None:
    writer = pyedflib.EdfWriter(str(path), 0, file_type=pyedflib.FILETYPE_EDFPLUS)
    try:
        writer.setStartdatetime(start)
        for onset, duration, text in events:
            writer.writeAnnotation(onset, duration, text)
    finally:
        writer.close()


def stage_events(stages: list[int]) -> list[tuple[float, float, str]]:
    return [(30.0 * i, 30.0, TEXT[s]) for i, s in enumerate(stages)]


def write_xml(path: Path, events: list[tuple[float, float, str]]) -> None:
    body = "".join(
        f"<ScoredEvent><EventType>Stages|Stages</EventType><EventConcept>{text}</EventConcept>"
        f"<Start>{onset}</Start><Duration>{duration}</Duration></ScoredEvent>"
        for onset, duration, text in events
    )
    path.write_text(
        '<?xml version="1.0" encoding="UTF-8"?><PSGAnnotation><EpochLength>30</EpochLength>'
        f"<ScoredEvents>{body}</ScoredEvents></PSGAnnotation>"
    )


NIGHTS = {"S01-N1": [0, 1, 2, 2, 3, 4], "S01-N2": [0, 2, 2, 4, 0], "S02-N1": [0, 1, 2, 3, 3, 4, 0]}


@pytest.fixture
def cohort(tmp_path: Path) -> Path:
    folder = tmp_path / "cohort"
    folder.mkdir()
    for i, (night, stages) in enumerate(NIGHTS.items()):
        write_psg(folder / f"{night}-PSG.edf", len(stages), seed=10 * i)
        write_hypnogram(folder / f"{night}-Hypnogram.edf", stage_events(stages))
    (folder / "covariates.csv").write_text(
        "record,age,sex\nS01-N1,30.5,0\nS01-N2,30.6,0\nS02-N1,61.0,1\nS03-N1,70,1\n"
    )
    return folder


def source(folder: Path, **extra: Any) -> dict[str, Any]:
    return {
        "type": "edf",
        "path": str(folder),
        "signals": "*-PSG.edf",
        "hypnograms": "*-Hypnogram.edf",
        "subject": r"^(S\d+)-N",
        "channels": {"ecg": ["EKG", "ECG"]},
        **extra,
    }


def load(src: dict[str, Any], ctx: SourceContext | None = None) -> Any:
    spec = DataSpec.model_validate({"source": src}).source
    return EdfLoader().load(spec, ctx or SourceContext())


def test_nights_become_records_of_epochs_with_stages_subjects_and_covariates(cohort: Path) -> None:
    table = load(source(cohort, covariates={"path": "covariates.csv"}))
    assert list(table.record_keys["record"]) == sorted(NIGHTS)
    assert list(table.record_keys["subject"]) == ["S01", "S01", "S02"]
    np.testing.assert_allclose(table.record_keys["age"], [30.5, 30.6, 61.0])
    assert list(np.diff(table.offsets)) == [len(NIGHTS[n]) for n in sorted(NIGHTS)]
    ecg = table.get("ecg", "test")
    assert ecg.shape == (sum(map(len, NIGHTS.values())), 30 * FS) and ecg.dtype == np.float32
    # Epoch e of a night holds the value e (+ the night's offset): epochs are cut in order.
    np.testing.assert_allclose(ecg[:6].mean(axis=1), np.arange(6), atol=0.01)
    stage = table.get("stage", "test")
    assert stage.tolist() == [s for n in sorted(NIGHTS) for s in NIGHTS[n]]
    assert table.meta["stage_names"] == ["W", "N1", "N2", "N3", "REM"]
    assert table.meta["default_target"] == "stage"
    tn = table.get("time_of_night", "test")[:6]
    np.testing.assert_allclose(tn, np.linspace(0, 1, 6), rtol=1e-6)


def test_resampling_to_the_declared_rate(cohort: Path) -> None:
    table = load(source(cohort, rate=4))
    ecg = table.get("ecg", "test")
    assert ecg.shape[1] == 120
    np.testing.assert_allclose(ecg[:6, 20:100].mean(axis=1), np.arange(6), atol=0.05)


def test_unscored_and_movement_epochs_are_ignored_and_codes_keep_their_names(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "c"
    folder.mkdir()
    for night in ("S01-N1", "S02-N1"):
        write_psg(folder / f"{night}-PSG.edf", 6)
        # Sleep-EDF style: runs of equal stages, an unscored and a movement epoch, an arousal.
        write_hypnogram(
            folder / f"{night}-Hypnogram.edf",
            [(0, 60, "Sleep stage W"), (60, 30, "Sleep stage ?"), (90, 30, "Movement time"),
             (100, 5, "Arousal"), (120, 30, "Sleep stage 4"), (150, 30, "Sleep stage R")],
        )  # fmt: skip
    table = load(source(folder))
    assert table.get("stage", "test")[:6].tolist() == [0, 0, IGNORE_INDEX, IGNORE_INDEX, 3, 4]
    data = DataSpec.model_validate(
        {"source": source(folder), "inputs": {"x": {"key": "ecg", "shape": [1, -1]}},
         "group": "subject", "split": {"method": "group", "ratios": {"train": 0.5, "val": 0.5}}}
    )  # fmt: skip
    prepared = prepare_data(data, seed=0, task="classification")
    assert prepared.class_names == ["W", "N1", "N2", "N3", "REM"]  # N1, N2 absent, kept


def test_nsrr_xml_annotations(tmp_path: Path) -> None:
    folder = tmp_path / "shhs"
    (folder / "edfs").mkdir(parents=True)
    (folder / "annotations").mkdir()
    concepts = ["Wake|0", "Stage 2 sleep|2", "Stage 3 sleep|3", "REM sleep|5", "Unscored|9"]
    for rec in ("shhs1-200001", "shhs1-200002"):
        write_psg(folder / "edfs" / f"{rec}.edf", 5)
        events = [(30.0 * i, 30.0, c) for i, c in enumerate(concepts)]
        events.append((40.0, 3.0, "Arousal|Arousal ()"))
        write_xml(folder / "annotations" / f"{rec}-nsrr.xml", events)
    src = {**source(folder / "edfs"), "signals": "*.edf", "hypnograms": "../annotations/*-nsrr.xml"}
    src.pop("subject")
    table = load(src)
    assert list(table.record_keys["record"]) == ["shhs1-200001", "shhs1-200002"]
    assert table.get("stage", "test")[:5].tolist() == [0, 2, 3, 4, IGNORE_INDEX]


def test_covariates_joined_by_subject_from_a_column_of_another_name(cohort: Path) -> None:
    (cohort / "subjects.csv").write_text("nsrrid,age_s1,gender\nS01,40,1\nS02,50,2\n")
    cov = {"path": "subjects.csv", "by": "subject", "column": "nsrrid"}
    table = load(source(cohort, covariates=cov))
    assert table.record_keys["age_s1"].tolist() == [40, 40, 50]
    assert table.record_keys["gender"].tolist() == [1, 1, 2]


def test_record_covariates_become_per_epoch_inputs_beside_time_of_night(cohort: Path) -> None:
    data = DataSpec.model_validate(
        {"source": source(cohort, covariates={"path": "covariates.csv", "columns": ["age", "sex"]}),
         "inputs": {"ecg": {"key": "ecg", "shape": [1, -1]},
                    "extra": ["age", "sex", "time_of_night"]},
         "group": "subject", "id": "record",
         "split": {"method": "group", "ratios": {"train": 0.5, "val": 0.5}}}
    )  # fmt: skip
    prepared = prepare_data(data, seed=0, task="classification")
    assert prepared.input_shapes["extra"] == (None, 3)
    assert prepared.input_shapes["ecg"] == (None, 1, 240)
    assert prepared.n_samples == 3


def test_a_single_recording_and_a_hypnogram_that_starts_later(tmp_path: Path) -> None:
    folder = tmp_path / "late"
    folder.mkdir()
    write_psg(folder / "n1-PSG.edf", 4)
    # The hypnogram's clock starts an epoch after the signal: its onsets are shifted by 30 s.
    later = START + dt.timedelta(seconds=30)
    write_hypnogram(folder / "n1-Hypnogram.edf", [(0, 90, "Sleep stage 2")], start=later)
    table = load(source(folder, subject=None, uncovered="ignore"))
    assert table.get("stage", "test").tolist() == [IGNORE_INDEX, 2, 2, 2]
    with pytest.raises(DataError, match=r"n1-Hypnogram\.edf.*does not cover.*uncovered: ignore"):
        load(source(folder, subject=None))


def test_missing_channel_names_the_file_and_lists_its_channels(cohort: Path) -> None:
    with pytest.raises(DataError, match=r"S01-N1-PSG\.edf.*no channel 'EMG'.*ECG, EEG Fpz-Cz"):
        load(source(cohort, channels={"emg": "EMG"}))


def test_unreadable_edf_and_wrong_file_kinds_name_the_file(cohort: Path) -> None:
    (cohort / "S03-N1-PSG.edf").write_bytes(b"0       this is not an EDF header" * 3)
    write_hypnogram(cohort / "S03-N1-Hypnogram.edf", stage_events([0, 0]))
    with pytest.raises(DataError, match=r"S03-N1-PSG\.edf.*cannot be read"):
        load(source(cohort))
    (cohort / "S03-N1-PSG.edf").unlink()
    (cohort / "S03-N1-Hypnogram.edf").unlink()
    (cohort / "S01-N1-Hypnogram.edf").unlink()
    (cohort / "S01-N1-Hypnogram.txt").write_text("W W N1 N2")
    with pytest.raises(DataError, match=r"S01-N1-Hypnogram\.txt.*neither EDF\+"):
        load(source(cohort, hypnograms="*-Hypnogram.*"))
    (cohort / "S01-N1-Hypnogram.txt").unlink()
    (cohort / "S01-N1-Hypnogram.xml").write_text("<html><body/></html>")
    with pytest.raises(DataError, match=r"S01-N1-Hypnogram\.xml.*not NSRR"):
        load(source(cohort, hypnograms="*-Hypnogram.*"))


def test_a_label_map_that_names_nothing_lists_the_descriptions_seen(cohort: Path) -> None:
    with pytest.raises(
        DataError, match=r"no annotation that source.label_map names.*'Sleep stage 1'"
    ):
        load(source(cohort, label_map={"Wake": "W"}))


def test_on_bad_skip_leaves_bad_nights_out_and_lists_them(cohort: Path) -> None:
    (cohort / "S03-N1-PSG.edf").write_bytes(b"garbage")
    write_hypnogram(cohort / "S03-N1-Hypnogram.edf", stage_events([0]))
    write_psg(cohort / "S04-N1-PSG.edf", 3)  # no hypnogram at all
    table = load(source(cohort), SourceContext(on_bad="skip"))
    assert list(table.record_keys["record"]) == sorted(NIGHTS)
    bad = table.meta["bad_files"]
    assert sorted(Path(b["file"]).name for b in bad) == ["S03-N1-PSG.edf", "S04-N1-PSG.edf"]
    assert "has no hypnogram" in " ".join(b["problem"] for b in bad)
    with pytest.raises(DataError, match=r"2 file\(s\) cannot be used(.|\n)*S03-N1-PSG\.edf"):
        load(source(cohort))


def test_no_hypnograms_give_an_unscored_source_for_prediction(cohort: Path) -> None:
    table = load(source(cohort, hypnograms="*-none.edf"))
    assert "stage" not in table.names() and "default_target" not in table.meta
    assert "unscored" in table.where


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"label_map": {"Sleep stage W": "Wake"}}, "not in stages"),
        ({"channels": {"stage": "ECG"}}, "reserved"),
        ({"rate": 7.31}, "whole number of samples"),
        ({"channels": {}}, "channels is empty"),
        ({"covariates": {"path": "c.csv", "columns": ["subject"]}}, "replace the source's own"),
        ({"epoch_seconds": 0}, "greater than 0"),
    ],
)
def test_bad_specs_fail_validation(cohort: Path, extra: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DataSpec.model_validate({"source": source(cohort, **extra)})


@pytest.mark.integration
def test_cli_validate_train_skip_and_predict(cohort: Path, tmp_path: Path, cli: Any) -> None:
    import yaml

    (cohort / "S03-N1-PSG.edf").write_bytes(b"not an edf")
    job = {
        "task": "classification",
        "model": {"layers": [{"type": "Linear", "out_features": 5}]},
        "data": {
            "source": source(cohort, covariates={"path": "covariates.csv"}),
            "features": "ecg",
            "target": "stage",
            "on_bad": "skip",
            "split": {"method": "holdout", "ratios": {"train": 0.7, "val": 0.3}},
        },
        "train": {"epochs": 1, "batch_size": 2},
        "tracking": {"backend": "none"},
        "run": {"root": str(tmp_path / "runs")},
    }
    job["data"]["source"]["unit"] = "rows"  # every epoch a sample
    spec = tmp_path / "job.yaml"
    spec.write_text(yaml.safe_dump(job))
    assert cli("validate", str(spec)).returncode == 0
    res = cli("train", str(spec), "--run-dir", str(tmp_path / "run"), "--quiet")
    assert res.returncode == 0, res.stderr[-3000:]
    bad = json.loads((tmp_path / "run" / "bad_files.json").read_text())
    assert [Path(b["file"]).name for b in bad] == ["S03-N1-PSG.edf"]
    res = cli("predict", str(tmp_path / "run"), "--data", str(cohort / "S02-N1-PSG.edf"),
              "--out", str(tmp_path / "p.csv"))  # fmt: skip
    assert res.returncode == 0, res.stderr[-3000:]
    lines = (tmp_path / "p.csv").read_text().splitlines()
    assert len(lines) == 1 + len(NIGHTS["S02-N1"])
    job["data"]["on_bad"] = "error"
    spec.write_text(yaml.safe_dump(job))
    res = cli("train", str(spec), "--run-dir", str(tmp_path / "run2"))
    assert res.returncode == 2 and "S03-N1-PSG.edf" in res.stderr
    assert "Traceback" not in res.stderr


def test_predict_on_a_folder_reads_night_by_night_as_the_whole_folder_did(
    cohort: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pandas as pd

    import trainspec.data._edf as edf
    from trainspec import run_experiment
    from trainspec.inference import predict_run
    from trainspec.inference._ensemble import load_models
    from trainspec.inference._predict import predict_frame
    from trainspec.inference._read import iter_tables

    job = {
        "task": "classification",
        "model": {"layers": [{"type": "Linear", "out_features": 5}]},
        "data": {
            "source": {**source(cohort, covariates={"path": "covariates.csv"}), "unit": "rows"},
            "features": ["ecg"],
            "target": "stage",
            "id": "record",
            "split": {"method": "holdout", "ratios": {"train": 0.7, "val": 0.3}},
        },
        "train": {"epochs": 1, "batch_size": 4},
        "tracking": {"backend": "none"},
        "run": {"root": str(tmp_path / "runs")},
    }
    run = run_experiment(job, run_dir=tmp_path / "run").run_dir

    # The whole folder as one table, predicted at once: what predict did before.
    models = load_models(run)
    spec = models.run.job.data.source
    whole = EdfLoader().load(spec, SourceContext())
    chunks = models.prepare(whole)
    before = predict_frame(models.run, chunks[0], models.scores(chunks, 256))

    reads: list[str] = []
    real = edf.read_channel
    monkeypatch.setattr(edf, "read_channel", lambda h, *a: reads.append(h.path.name) or real(h, *a))
    now = predict_run(run, cohort)
    assert isinstance(now, pd.DataFrame)
    assert list(now.columns) == list(before.columns)
    pd.testing.assert_frame_equal(
        now.drop(columns=[c for c in now if c.startswith("proba_")]),
        before.drop(columns=[c for c in before if c.startswith("proba_")]),
    )
    np.testing.assert_allclose(now.filter(like="proba_"), before.filter(like="proba_"), atol=1e-6)
    assert sorted(reads) == sorted(f"{n}-PSG.edf" for n in NIGHTS)  # each night read once

    # One table per night, its signal read only when that table is used.
    reads.clear()
    tables = iter_tables(cohort, spec, 10_000)
    first = next(tables)
    assert reads == [] and list(np.unique(first.get("record", "id"))) == ["S01-N1"]
    first.get("ecg", "input")
    assert reads == ["S01-N1-PSG.edf"]
    rest = list(tables)
    assert [str(np.unique(t.get("record", "id"))[0]) for t in rest] == ["S01-N2", "S02-N1"]
    assert reads == ["S01-N1-PSG.edf"]  # not read until used
