"""``RunDir``: the run directory's layout, its readers and writers, and the checkpoint locator."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from trainspec.errors import FormatError, TrainspecError
from trainspec.files import RUN_FORMAT_VERSION, RunDir, write_manifest

ROUND1 = Path(__file__).resolve().parents[2] / "fixtures" / "round1_run"
SRC = Path(__file__).resolve().parents[3] / "src" / "trainspec"


def _table_job(csv: Path) -> dict[str, Any]:
    return {
        "task": "classification",
        "model": {"layers": [{"type": "Linear", "out_features": 2}]},
        "data": {"source": {"type": "csv", "path": str(csv)}, "target": "y"},
        "train": {"epochs": 2, "batch_size": 8, "progress": "none"},
        "tracking": {"backend": "none"},
    }


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real run of two epochs, trained with the working directory elsewhere."""
    from trainspec.experiments import run_experiment

    base = tmp_path_factory.mktemp("rundir")
    rng = np.random.default_rng(0)
    y = np.arange(40) % 2
    frame = pd.DataFrame({"a": rng.normal(size=40) + y, "b": rng.normal(size=40), "y": y})
    frame.to_csv(base / "t.csv", index=False)
    cwd = base / "cwd"
    cwd.mkdir()
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(cwd)
        run_experiment(_table_job(base / "t.csv"), run_dir=base / "runs" / "one")
    return base / "runs" / "one"


def test_layout_names_every_file_of_a_run(tmp_path: Path) -> None:
    run = RunDir(tmp_path / "r")
    assert run.summary == tmp_path / "r" / "summary.json"
    assert run.metrics.name == "metrics.jsonl"
    assert run.environment.name == "environment.json"
    assert run.config.name == "config.yaml"
    assert run.checkpoint("best") == tmp_path / "r" / "checkpoints" / "best"
    assert run.model_weights == tmp_path / "r" / "model" / "model.safetensors"
    assert run.fold(2).transforms == tmp_path / "r" / "folds" / "2" / "transforms"
    assert run.fold(2).top == run
    assert run.top == run
    assert RunDir(str(tmp_path)).path == tmp_path  # a str is taken as a path


def test_a_real_run_reads_back(tiny_run: Path) -> None:
    run = RunDir(tiny_run)
    assert run.is_run()
    assert run.format_version() == RUN_FORMAT_VERSION
    assert run.read(run.ENVIRONMENT)["format_version"] == RUN_FORMAT_VERSION
    rows = run.read_metrics()
    assert [r["epoch"] for r in rows] == [1, 2]
    summary = run.read(run.SUMMARY)
    assert summary["status"] == "finished"
    assert summary["final"]["train/loss"] == pytest.approx(rows[-1]["train/loss"])
    assert run.read_config()["data"]["target"] == "y"
    best = run.best_checkpoint()
    assert best is not None and best.resolve().parent == run.checkpoints.resolve()
    latest = run.latest_checkpoint()
    assert latest is not None and latest.name.startswith("ckpt-")
    assert run.model_weights.is_file()
    assert run.folds() == []


def test_the_data_cache_is_under_the_runs_root_not_the_working_directory(tiny_run: Path) -> None:
    cwd = tiny_run.parent.parent / "cwd"
    assert list(cwd.iterdir()) == []  # nothing written where the process ran
    assert RunDir(tiny_run).shared_cache.is_dir()
    assert RunDir(tiny_run).shared_cache == (tiny_run.parent / ".cache").resolve()
    assert RunDir.cache_under("runs") == Path("runs").resolve() / ".cache"


def test_a_run_inside_the_runs_root_shares_its_cache(tmp_path: Path) -> None:
    from trainspec.experiments._run import _cache_dir
    from trainspec.spec import load_spec

    csv = tmp_path / "t.csv"
    job = load_spec({**_table_job(csv), "run": {"root": str(tmp_path / "runs")}}).job
    assert job is not None
    shared = (tmp_path / "runs" / ".cache").resolve()
    assert _cache_dir(job, None) == shared
    assert _cache_dir(job, tmp_path / "runs" / "sweeps" / "s" / "trials" / "0003") == shared
    assert _cache_dir(job, tmp_path / "elsewhere" / "r") == (tmp_path / "elsewhere" / ".cache")


def test_missing_and_damaged_documents_name_the_file(tmp_path: Path) -> None:
    run = RunDir(tmp_path)
    with pytest.raises(TrainspecError, match=re.escape(str(run.summary)) + ".*missing"):
        run.read(run.SUMMARY)
    run.summary.write_text('{"status": "fin', encoding="utf-8")
    with pytest.raises(TrainspecError, match="summary.json.*not valid JSON"):
        run.read(run.SUMMARY)
    assert run.read_or(run.SUMMARY, {}) == {}  # the run store lists such a run anyway
    assert run.read_config() == {}
    assert not run.is_run()


def test_a_torn_metrics_line_is_skipped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    run = RunDir(tmp_path)
    assert run.read_metrics() == []
    run.metrics.write_text('{"epoch": 1, "loss": 0.5}\n{"epoch": 2, "lo', encoding="utf-8")
    assert run.read_metrics() == [{"epoch": 1, "loss": 0.5}]
    assert "metrics.jsonl" not in caplog.text  # a kill tears the last line: nothing to say
    run.metrics.write_text('{"epoch": 1, "lo\n{"epoch": 2, "loss": 0.4}\n', encoding="utf-8")
    assert run.read_metrics() == [{"epoch": 2, "loss": 0.4}]
    assert "metrics.jsonl:1 is not a JSON object" in caplog.text


def test_a_newer_run_is_refused_with_the_fix(tmp_path: Path) -> None:
    run = RunDir(tmp_path)
    assert run.format_version() == 0  # nothing written yet
    run.write_environment({"seed": 1})
    assert run.format_version() == RUN_FORMAT_VERSION
    run.write(run.ENVIRONMENT, {"format_version": RUN_FORMAT_VERSION + 1})
    with pytest.raises(FormatError, match="environment.json.*newer.*Upgrade trainspec"):
        run.format_version()


def test_strict_json_writes_non_finite_numbers_as_null(tmp_path: Path) -> None:
    run = RunDir(tmp_path)
    run.write(run.SUMMARY, {"best": {"loss": float("nan")}, "n": 1})
    assert json.loads(run.summary.read_text(encoding="utf-8")) == {"best": {"loss": None}, "n": 1}


def test_json_files_take_any_mapping_and_name_other_values(tmp_path: Path) -> None:
    """Finite data is written as it is; a mapping that is no dict is an object, NaN inside it
    null, and a value JSON has no type for its text."""
    from types import MappingProxyType

    run = RunDir(tmp_path)
    data = {"m": MappingProxyType({"a": 1, "b": float("inf")}), "p": Path("x/y"), "t": (1, 2)}
    run.write(run.SUMMARY, data)
    assert json.loads(run.summary.read_text(encoding="utf-8")) == {
        "m": {"a": 1, "b": None},
        "p": "x/y",
        "t": [1, 2],
    }
    run.write(run.SUMMARY, {"m": MappingProxyType({"a": 1})})
    assert json.loads(run.summary.read_text(encoding="utf-8")) == {"m": {"a": 1}}


def _checkpoint(root: Path, name: str) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(name.encode())
    write_manifest(folder, ("model.safetensors",), {})
    return folder


def test_latest_checkpoint_passes_over_a_damaged_one(tmp_path: Path) -> None:
    run = RunDir(tmp_path)
    assert run.latest_checkpoint() is None and run.best_checkpoint() is None
    older = _checkpoint(run.checkpoints, "ckpt-00000004")
    newer = _checkpoint(run.checkpoints, "ckpt-00000008")
    assert run.latest_checkpoint() == newer
    (newer / "model.safetensors").write_bytes(b"damaged")
    assert run.latest_checkpoint() == older
    (run.checkpoints / "best").symlink_to(older.name)
    assert run.best_checkpoint() == run.checkpoint("best")


def test_folds_are_listed_in_order(tmp_path: Path) -> None:
    run = RunDir(tmp_path)
    for k in (10, 2, 0):
        run.fold(k).path.mkdir(parents=True)
    (run.folds_dir / "notes").mkdir()
    assert [f.path.name for f in run.folds()] == ["0", "2", "10"]


def test_a_round1_run_still_opens(tmp_path: Path) -> None:
    copy = tmp_path / "round1"
    shutil.copytree(ROUND1, copy, symlinks=True)
    run = RunDir(copy)
    assert run.is_run()
    assert run.format_version() == 0  # written before versions were recorded
    assert run.read_metrics() and run.read(run.SUMMARY)["best_epoch"] is not None
    assert run.read(run.DATA)["task"]
    assert run.latest_checkpoint() == run.checkpoint("ckpt-00000006")
    assert run.best_checkpoint() is not None


_LITERALS = ("summary.json", "metrics.jsonl", "environment.json", "model.safetensors")


def test_run_file_names_are_spelled_only_in_rundir() -> None:
    """Every module asks ``RunDir`` for a run's paths: a new literal name elsewhere fails."""
    owner = SRC / "files" / "_rundir.py"
    found = []
    for path in SRC.rglob("*.py"):
        if path == owner:
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#", 1)[0]
            found += [f"{path.relative_to(SRC)}:{n}" for lit in _LITERALS if f'"{lit}"' in code]
            found += [f"{path.relative_to(SRC)}:{n}" for lit in _LITERALS if f"'{lit}'" in code]
            if re.search(r"""/ ["'](checkpoints|folds|transforms|config\.yaml)["']""", code):
                found.append(f"{path.relative_to(SRC)}:{n}")
    assert found == [], f"run file names spelled outside files/_rundir.py: {found}"
