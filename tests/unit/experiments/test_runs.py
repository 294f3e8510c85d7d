"""The run store (listing, finding, showing, comparing runs) and the commands over it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from typer.testing import CliRunner

from trainspec.cli._cmds_runs import register as register_runs
from trainspec.cli._cmds_sweep import register as register_sweep
from trainspec.errors import TrainspecError
from trainspec.experiments._runs import compare_runs, find_runs, flatten, resolve_run, ui_command


def fake_run(path: Path, *, lr: float, acc: float, created: str, status: str = "finished") -> Path:
    path.mkdir(parents=True)
    config = {
        "name": "digits",
        "train": {"epochs": 2, "optimizer": {"lr": lr}},
        "model": {"layers": [16, 10]},
    }
    (path / "config.yaml").write_text("# trainspec resolved spec\n" + yaml.safe_dump(config))
    (path / "environment.json").write_text(json.dumps({"created": created, "seed": 0}))
    rows = [{"epoch": 1, "val/accuracy": acc / 2}, {"epoch": 2, "val/accuracy": acc}]
    (path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    summary = {
        "status": status,
        "spec_hash": f"hash{lr}",
        "monitor": {"metric": "val/accuracy", "mode": "max"},
        "final": {"val/accuracy": acc},
        "best": {"val/accuracy": acc},
        "best_epoch": 2,
    }
    (path / "summary.json").write_text(json.dumps(summary))
    (path / "tracking.json").write_text(json.dumps({"run_id": f"id-{path.name}"}))
    return path


@pytest.fixture
def root(tmp_path: Path) -> Path:
    runs = tmp_path / "runs"
    fake_run(runs / "b-run", lr=0.01, acc=0.9, created="2026-01-02T00:00:00+00:00")
    fake_run(runs / "a-run", lr=0.02, acc=0.8, created="2026-01-01T00:00:00+00:00")
    fake_run(runs / "sweeps/s/trials/0000", lr=0.03, acc=0.7, created="2026-01-03T00:00:00+00:00")
    (runs / "a-run" / "folds").mkdir()  # inside a run: never listed as a run of its own
    (runs / ".cache").mkdir()
    return runs


def test_find_runs_oldest_first_with_sweep_trials(root: Path) -> None:
    runs = find_runs(root)
    assert [r.name for r in runs] == ["a-run", "b-run", "sweeps/s/trials/0000"]
    assert runs[1].best == 0.9 and runs[1].epochs == 2 and runs[1].status == "finished"
    assert runs[2].sweep == "s"
    assert [r.name for r in find_runs(root, sweep="s")] == ["sweeps/s/trials/0000"]


def test_resolve_run_by_path_name_or_tracker_id(root: Path) -> None:
    assert resolve_run(root / "a-run", root) == root / "a-run"
    assert resolve_run("b-run", root) == root / "b-run"
    assert resolve_run("id-0000", root) == root / "sweeps/s/trials/0000"
    with pytest.raises(TrainspecError, match="did you mean 'b-run'"):
        resolve_run("b-rnu", root)
    with pytest.raises(TrainspecError, match="not a run directory"):
        resolve_run(root / "sweeps", root)


def test_compare_lists_only_differences(root: Path) -> None:
    result = compare_runs([root / "a-run", root / "b-run"])
    assert result["spec"] == {"train.optimizer.lr": [0.02, 0.01]}
    assert result["metrics"]["best val/accuracy"] == [0.8, 0.9]
    every = compare_runs([root / "a-run", root / "b-run"], all_keys=True)
    assert every["spec"]["train.epochs"] == [2, 2]
    with pytest.raises(TrainspecError, match="two runs or more"):
        compare_runs([root / "a-run"])


def test_flatten() -> None:
    assert flatten({"a": {"b": [1, {"c": 2}], "d": {}}}) == {"a.b[0]": 1, "a.b[1].c": 2, "a.d": {}}


def _app() -> typer.Typer:
    app = typer.Typer()
    register_sweep(app)
    register_runs(app)
    return app


def _invoke(*args: str) -> Any:
    return CliRunner().invoke(_app(), list(args), env={"NO_COLOR": "1", "COLUMNS": "200"})


def test_runs_commands(root: Path) -> None:
    listed = _invoke("runs", "ls", "--root", str(root), "--json")
    assert listed.exit_code == 0, listed.output
    assert [r["name"] for r in json.loads(listed.output)] == [
        "a-run",
        "b-run",
        "sweeps/s/trials/0000",
    ]
    table = _invoke("runs", "ls", "--root", str(root))
    assert "b-run" in table.output and "0.9" in table.output
    shown = _invoke("runs", "show", "b-run", "--root", str(root))
    assert shown.exit_code == 0 and "val/accuracy" in shown.output and "id-b-run" in shown.output
    compared = _invoke("runs", "compare", "a-run", "b-run", "--root", str(root), "--json")
    assert json.loads(compared.output)["spec"] == {"train.optimizer.lr": [0.02, 0.01]}
    text = _invoke("runs", "compare", "a-run", "b-run", "--root", str(root))
    assert "spec differences" in text.output and "train.optimizer.lr" in text.output


def test_commands_are_wired() -> None:
    for args in (
        ["sweep", "--help"],
        ["ui", "--help"],
        ["report", "--help"],
        ["runs", "promote", "--help"],
    ):
        res = _invoke(*args)
        assert res.exit_code == 0, res.output
    assert "sweep best" in _invoke("sweep", "--help").output
    assert "--alias" in _invoke("runs", "promote", "--help").output


def test_ui_binds_to_loopback_over_the_runs_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    with pytest.raises(TrainspecError, match="no tracking store"):
        ui_command(root=tmp_path)
    (tmp_path / "mlflow.db").touch()
    command = ui_command(root=tmp_path, port=5123)
    assert command[1:4] == ["-m", "mlflow", "ui"]
    assert command[command.index("--host") + 1] == "127.0.0.1"
    assert command[command.index("--backend-store-uri") + 1] == f"sqlite:///{tmp_path}/mlflow.db"
    assert command[-1] == "5123"


def test_sweep_options_belong_to_best() -> None:
    res = _invoke("sweep", "job.yaml", "--export", "x.yaml")
    assert res.exit_code != 0 and "sweep best" in res.output
