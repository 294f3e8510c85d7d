"""The inference commands, registered on a fresh Typer app."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from tests.unit.inference.conftest import make_table
from trainspec.cli._cmds_inference import register
from trainspec.inference import InferenceError


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


def test_commands_are_registered(app: typer.Typer) -> None:
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    for name in ("predict", "export", "serve", "monitor"):
        assert name in result.output
    serve_help = CliRunner().invoke(app, ["serve", "--help"]).output
    assert "127.0.0.1" in serve_help and "--backend" in serve_help


def test_predict_writes_the_file(app: typer.Typer, sklearn_run: Path, tmp_path: Path) -> None:
    make_table(20, seed=2).to_csv(tmp_path / "new.csv", index=False)
    out = tmp_path / "pred.parquet"
    args = ["predict", str(sklearn_run), "--data", str(tmp_path / "new.csv"), "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "wrote predictions" in result.output
    assert len(pd.read_parquet(out)) == 20


def test_monitor_reports_and_can_fail_on_drift(
    app: typer.Typer, table_torch_run: Path, tmp_path: Path
) -> None:
    frame = make_table(200, seed=8)
    frame.assign(a=frame["a"] + 3).to_csv(tmp_path / "new.csv", index=False)
    base = ["monitor", str(table_torch_run), "--data", str(tmp_path / "new.csv")]
    result = CliRunner().invoke(app, base)
    assert result.exit_code == 0, result.output
    assert "1 of" in result.output and " a " in result.output
    assert CliRunner().invoke(app, [*base, "--fail-on-drift"]).exit_code == 1


def test_export_and_its_errors(app: typer.Typer, digits_run: Path, tmp_path: Path) -> None:
    args = ["export", str(digits_run), "--format", "torchscript", "--out", str(tmp_path)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "largest absolute difference" in result.output
    bad = CliRunner().invoke(app, ["export", str(tmp_path), "--format", "onnx"])
    assert isinstance(bad.exception, InferenceError)  # main() prints it and exits 2
    assert "not a trainspec run" in str(bad.exception)
