"""``trainspec pipeline run | show | status | export``: workflows of trainspec commands."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from trainspec.cli._console import err, out, render_table

__all__ = ["register"]

pipeline_app = typer.Typer(
    help="Pipelines: chains of trainspec commands as a spec, run here or exported.",
    no_args_is_help=True,
)

PipelineArgs = Annotated[
    list[str],
    typer.Argument(help="The pipeline file, then params to set: NAME=value.", show_default=False),
]


def _load(args: list[str]) -> Any:
    from trainspec.spec import load_pipeline

    if not args:
        raise typer.BadParameter("name the pipeline file", param_hint="PIPELINE")
    return load_pipeline(args[0], args[1:])


@pipeline_app.command("run")
def run(
    args: PipelineArgs,
    run_dir: Annotated[
        Path | None,
        typer.Option("--run-dir", help="Run folder (default runs/pipelines/NAME/TIME/)."),
    ] = None,
    cache: Annotated[
        Path | None, typer.Option("--cache", help="Step cache (default runs/pipelines/.cache).")
    ] = None,
    only: Annotated[str | None, typer.Option("--only", help="Run this step alone.")] = None,
    from_step: Annotated[
        str | None, typer.Option("--from", help="Rerun this step and all after it.")
    ] = None,
    force: Annotated[
        list[str] | None, typer.Option("--force", help="Rerun this step (repeatable).")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would run or be reused; run nothing.")
    ] = False,
) -> None:
    """Run the steps in dependency order, each as its trainspec command, reusing cached ones."""
    from trainspec.pipelines import RunOptions, run_pipeline

    pipeline = _load(args)
    options = RunOptions(
        run_dir=run_dir,
        cache=cache,
        only=only,
        from_step=from_step,
        force=tuple(force or ()),
        dry_run=dry_run,
    )
    folder, rows = run_pipeline(pipeline, options, echo=lambda line: err.print(line, markup=False))
    table = [[r.name, r.kind, r.state, r.seconds, r.folder] for r in rows]
    render_table("steps", ["step", "kind", "state", "seconds", "folder"], table)
    if dry_run:
        return
    out.print(f"pipeline run: {folder}")
    if any(r.state in ("failed", "blocked") for r in rows):
        raise typer.Exit(1)


@pipeline_app.command("show")
def show(
    args: PipelineArgs,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The resolved steps, their commands and edges, as a table and as Mermaid text."""
    from trainspec.pipelines import describe, mermaid

    pipeline = _load(args)
    steps = describe(pipeline)
    if as_json:
        data = {"name": pipeline.spec.name, "steps": steps, "edges": pipeline.edges()}
        out.print(json.dumps(data, indent=2), markup=False)
        return
    rows = [[s["name"], s["kind"], ", ".join(s["needs"]), s["command"]] for s in steps]
    render_table(f"pipeline {pipeline.spec.name}", ["step", "kind", "needs", "command"], rows)
    out.print(mermaid(pipeline), markup=False)


@pipeline_app.command("status")
def status(
    run_dir: Annotated[Path, typer.Argument(help="A pipeline run folder.", show_default=False)],
    as_json: Annotated[bool, typer.Option("--json", help="Print pipeline.json.")] = False,
) -> None:
    """Each step's state, duration and folder, from the run's pipeline.json."""
    from trainspec.errors import TrainspecError
    from trainspec.pipelines import PIPELINE_FILE, RunRecord

    record = RunRecord.open(run_dir)
    if not record.data:
        raise TrainspecError(
            f"{run_dir / PIPELINE_FILE} does not exist: pass the folder 'trainspec pipeline run' "
            "printed"
        )
    if as_json:
        out.print(json.dumps(record.data, indent=2), markup=False)
        return
    data = record.data
    rows = [
        [name, s.get("state"), s.get("seconds"), s.get("dir") or "", s.get("command") or ""]
        for name, s in data["steps"].items()
    ]
    title = f"pipeline {data.get('name')}: {data.get('state')} (started {data.get('started')})"
    render_table(title, ["step", "state", "seconds", "folder", "command"], rows)


def register(app: typer.Typer) -> None:
    """Add ``trainspec pipeline ...`` to the app."""
    app.add_typer(pipeline_app, name="pipeline")
