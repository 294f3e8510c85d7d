"""Helpers for the sweep, runs and report tests.

``ensure_sweep_field`` gives ``JobSpec`` its ``sweep`` field where the schema does not have it
yet (a no-op once it does). ``main`` runs a Typer app with the sweep and runs commands, for
tests that need a separate process (``python -c "...; main()" ARGS``).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[3]
DIGITS = ROOT / "examples" / "digits"


def ensure_sweep_field() -> None:
    from pydantic.fields import FieldInfo

    from trainspec.spec import JobSpec
    from trainspec.spec._schema_sweep import SweepSpec

    if "sweep" not in JobSpec.model_fields:
        JobSpec.__pydantic_fields__["sweep"] = FieldInfo(
            annotation=SweepSpec | None,  # type: ignore[arg-type]
            default=None,
        )
        JobSpec.model_rebuild(force=True)


def digits_job(
    tmp: Path,
    *,
    tracking: str = "none",
    epochs: int = 1,
    split: dict[str, Any] | None = None,
    name: str = "job.yaml",
    **sweep: Any,
) -> Path:
    """A tiny digits job (a 16-unit MLP) with a sweep block, written under ``tmp``."""
    net = {
        "inputs": [64],
        "layers": [
            {"type": "Linear", "out_features": 16},
            "ReLU",
            {"type": "Linear", "out_features": 10},
        ],
    }
    job = {
        "name": "digits-tiny",
        "seed": 0,
        "task": "classification",
        "model": net,
        "data": {
            "source": {"type": "sklearn", "name": "digits"},
            "transforms": [{"type": "standardize"}],
            "split": split or {"method": "stratified", "ratios": {"train": 0.8, "val": 0.2}},
        },
        "train": {
            "epochs": epochs,
            "batch_size": 64,
            "optimizer": {"name": "AdamW", "lr": 0.002},
            "metrics": ["accuracy"],
            "monitor": {"metric": "val/accuracy", "mode": "max"},
            "progress": "none",
        },
        "tracking": {"backend": tracking},
        "run": {"root": str(tmp / "runs")},
    }
    if sweep:
        job["sweep"] = sweep
    path = tmp / name
    path.write_text(yaml.safe_dump(job, sort_keys=False), encoding="utf-8")
    return path


def build_app() -> Any:
    import typer

    from trainspec.cli._cmds_runs import register as register_runs
    from trainspec.cli._cmds_sweep import register as register_sweep

    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, no_args_is_help=True)
    register_sweep(app)
    register_runs(app)

    return app


def main() -> None:
    from trainspec.cli._console import err
    from trainspec.errors import TrainspecError

    ensure_sweep_field()
    try:
        build_app()(args=sys.argv[1:], prog_name="trainspec")
    except TrainspecError as exc:
        err.print(f"error: {exc}", markup=False)
        sys.exit(exc.exit_code)
