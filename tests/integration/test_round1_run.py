"""A run written before format versions were recorded (tests/fixtures/round1_run, made by
tests/fixtures/make_round1_run.py) still predicts, evaluates and resumes; files written by a
newer trainspec are refused with the fix."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.integration

FIXTURES = ROOT / "tests" / "fixtures"


@pytest.fixture
def old_run(tmp_path: Path) -> Path:
    """A copy of the round-1 run, with its data at data.csv in the working directory."""
    shutil.copytree(FIXTURES / "round1_run", tmp_path / "run", symlinks=True)
    shutil.copy(FIXTURES / "round1_data.csv", tmp_path / "data.csv")
    return tmp_path / "run"


def test_the_fixture_stays_small_and_has_no_format_version() -> None:
    files = [p for p in (FIXTURES / "round1_run").rglob("*") if p.is_file() and not p.is_symlink()]
    assert sum(p.stat().st_size for p in files) < 64_000
    for path in files:
        if path.suffix == ".json":
            assert "format_version" not in path.read_text(encoding="utf-8"), path


def test_an_old_run_predicts_and_evaluates(cli, old_run: Path) -> None:  # type: ignore[no-untyped-def]
    data = old_run.parent / "data.csv"
    res = cli("predict", str(old_run), "--data", str(data), "--out", "-")
    assert res.returncode == 0, res.stderr
    predictions = pd.read_csv(io.StringIO(res.stdout))
    assert len(predictions) == len(pd.read_csv(data))
    res = cli("evaluate", str(old_run), "--data", str(data), "--json")
    assert res.returncode == 0, res.stderr
    assert 0.0 <= json.loads(res.stdout)["metrics"]["accuracy"] <= 1.0


def test_an_old_run_resumes_and_is_then_current(cli, old_run: Path) -> None:  # type: ignore[no-untyped-def]
    res = cli(
        "train", str(old_run / "config.yaml"), "--run-dir", str(old_run), "--resume",
        "train.epochs=3",
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    rows = (old_run / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(r)["epoch"] for r in rows] == [1, 2, 3]
    assert json.loads((old_run / "environment.json").read_text())["format_version"] == 1


def _newer(path: Path) -> None:
    from trainspec.files import sha256_file

    doc = json.loads(path.read_text(encoding="utf-8"))
    doc.pop("format", None)
    path.write_text(json.dumps({"format_version": 99, **doc}), encoding="utf-8")
    manifest = path.parent / "manifest.json"
    if manifest.is_file():  # a deliberate edit: the checksums follow it
        listed = json.loads(manifest.read_text(encoding="utf-8"))
        listed["files"] = {n: sha256_file(path.parent / n) for n in listed["files"]}
        manifest.write_text(json.dumps(listed), encoding="utf-8")


@pytest.mark.parametrize(
    "file",
    ["environment.json", "model/model.json", "transforms/transforms.json"],
)
def test_files_from_a_newer_trainspec_are_refused_with_the_fix(  # type: ignore[no-untyped-def]
    cli, old_run: Path, file: str
) -> None:
    _newer(old_run / file)
    res = cli("predict", str(old_run), "--data", str(old_run.parent / "data.csv"), "--out", "-")
    assert res.returncode == 2, res.stderr
    assert file.split("/")[-1] in res.stderr
    assert "format version 99" in res.stderr and "pip install --upgrade trainspec" in res.stderr
    assert "Traceback" not in res.stderr


def test_a_checkpoint_from_a_newer_trainspec_is_refused_not_set_aside(  # type: ignore[no-untyped-def]
    cli, old_run: Path
) -> None:
    ckpt = (old_run / "checkpoints" / "last").resolve()
    _newer(ckpt / "state.json")
    res = cli(
        "train", str(old_run / "config.yaml"), "--run-dir", str(old_run), "--resume",
        "train.epochs=3",
    )  # fmt: skip
    assert res.returncode == 2, res.stderr
    assert "state.json" in res.stderr and "format version 99" in res.stderr
    assert ckpt.is_dir()  # kept for the newer trainspec that wrote it
