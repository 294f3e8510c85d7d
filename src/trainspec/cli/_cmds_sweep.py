"""``trainspec sweep``: run or resume a sweep, and ``trainspec sweep best``: its best trial."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from trainspec.cli._args import split_args
from trainspec.cli._console import err, out, render_table

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial

__all__ = ["register"]

_HELP = """Run the hyperparameter sweep in the spec's 'sweep:' block, or resume it.

Each trial is a normal run under <run.root>/sweeps/<name>/trials/. Running the same command
again resumes the sweep: finished trials are kept, interrupted ones run again.

  trainspec sweep SPEC... [key=value ...] [--workers N] [--resume]
  trainspec sweep SPEC... --worker [--workers N]
      join the study that `trainspec sweep SPEC` created (a shared sweep.storage such as
      PostgreSQL, from any machine) and pull trials until the budget is spent.

  trainspec sweep best SPEC...|SWEEP_DIR [--export best.yaml] [--trial N] [--json]
      the best trial (the Pareto front for several objectives); --export writes its complete
      job spec, which `trainspec train` repeats exactly.
"""


def _trial_line(trial: FrozenTrial, metrics: list[str]) -> str:
    state = trial.state.name
    parts = [f"trial {trial.number:>3} {state:<8}"]
    if trial.values:
        parts += [f"{m}={v:.5g}" for m, v in zip(metrics, trial.values, strict=False)]
    for key, value in trial.params.items():
        shown = f"{value:.4g}" if isinstance(value, float) else str(value)
        parts.append(f"{key}={shown}")
    error = trial.user_attrs.get("trainspec.error")
    if error and state != "COMPLETE":
        parts.append(f"({str(error).splitlines()[0][:160]})")
    return "  ".join(parts)


def _quiet_optuna() -> None:
    import logging

    import optuna

    optuna.logging.set_verbosity(logging.WARNING)


def _render_best(result: Any) -> None:
    metrics = [m for m, _ in result.goals]
    if not result.best:
        err.print("no trial has completed yet")
        return
    params = list(result.best[0]["params"])
    rows = [
        [b["number"], *(b["values"].get(m) for m in metrics), *(b["params"][p] for p in params)]
        for b in result.best
    ]
    title = "best trial" if len(result.best) == 1 else "Pareto front"
    render_table(title, ["trial", *metrics, *params], rows)
    if len(result.best) == 1:
        out.print(f"run directory: {result.best[0]['run_dir']}")


def _run(args: list[str], workers: int | None, resume: bool, join: bool) -> None:
    from trainspec.experiments import plan_sweep, run_sweep

    specs, overrides = split_args(args)
    if not specs:
        raise typer.BadParameter("name at least one spec file", param_hint="SPEC")
    _quiet_optuna()
    metrics = [g.metric for g in plan_sweep(*specs, overrides=overrides, check=False).goals]

    def on_trial(trial: FrozenTrial) -> None:
        out.print(_trial_line(trial, metrics), markup=False)

    result = run_sweep(
        *specs, overrides=overrides, workers=workers, resume=resume, on_trial=on_trial, join=join
    )
    counts = ", ".join(f"{n} {state}" for state, n in sorted(result.counts.items()))
    out.print(f"sweep {result.name}: {counts}")
    _render_best(result)
    out.print(f"sweep folder: {result.sweep_dir}")
    if result.status == "interrupted":
        err.print("interrupted: run the same command again to resume the sweep")
        raise typer.Exit(130)


def _best(args: list[str], export: Path | None, trial: int | None, as_json: bool) -> None:
    from trainspec.experiments import best_trial_spec, export_best, sweep_result

    specs, overrides = split_args(args)
    if not specs:
        raise typer.BadParameter("name the sweep's spec files or its folder", param_hint="SPEC")
    _quiet_optuna()
    if export is not None:
        best = export_best(*specs, overrides=overrides, out=export, trial=trial)
        out.print(f"wrote {export}: trial {best.record['number']} {best.record['values']}")
        return
    if trial is not None:
        record = best_trial_spec(*specs, overrides=overrides, trial=trial).record
        out.print(json.dumps(record, indent=2, default=str), markup=False)
        return
    result = sweep_result(*specs, overrides=overrides)
    if as_json:
        out.print(json.dumps(result.to_json(), indent=2, default=str), markup=False)
        return
    _render_best(result)


def register(app: typer.Typer) -> None:
    """Add ``sweep`` to ``app``."""

    @app.command("sweep", help=_HELP, no_args_is_help=True)
    def sweep(
        args: Annotated[
            list[str],
            typer.Argument(
                help="Spec files and overrides (key.path=value); or 'best' then the sweep's "
                "specs or folder.",
                show_default=False,
            ),
        ],
        workers: Annotated[
            int | None,
            typer.Option("--workers", "-w", min=1, help="Worker processes (sweep.workers)."),
        ] = None,
        resume: Annotated[
            bool, typer.Option("--resume", help="Only continue an existing sweep.")
        ] = False,
        worker: Annotated[
            bool,
            typer.Option(
                "--worker",
                help="Only join the sweep's existing study (sweep.storage, from any machine) "
                "and pull trials until the budget is spent.",
            ),
        ] = False,
        export: Annotated[
            Path | None, typer.Option("--export", help="best: write the trial's job spec here.")
        ] = None,
        trial: Annotated[
            int | None, typer.Option("--trial", help="best: this trial, not the best.")
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="best: print JSON.")] = False,
    ) -> None:
        if args and args[0] == "best":
            _best(args[1:], export, trial, as_json)
            return
        if export is not None or trial is not None or as_json:
            raise typer.BadParameter(
                "--export, --trial and --json go with `trainspec sweep best SPEC...`",
                param_hint="best",
            )
        if worker and resume:
            raise typer.BadParameter("--worker joins a running sweep; drop --resume")
        _run(args, workers, resume, worker)
