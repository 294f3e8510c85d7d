"""``trainspec pipeline run | show | status | export``: workflows of trainspec commands."""

from __future__ import annotations

import json
import time
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
    started = time.perf_counter()
    folder, rows = run_pipeline(pipeline, options, echo=lambda line: err.print(line, markup=False))
    took = time.perf_counter() - started
    table = [[r.name, r.kind, r.state, r.seconds, r.folder] for r in rows]
    render_table("steps", ["step", "kind", "state", "seconds", "folder"], table)
    if dry_run:
        return
    reused = sum(r.reused for r in rows)
    out.print(f"pipeline run: {folder} ({took:.1f} s; {reused} of {len(rows)} steps reused)")
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
    rows = [[s["name"], s["kind"], ", ".join(s["needs"])] for s in steps]
    render_table(f"pipeline {pipeline.spec.name}", ["step", "kind", "needs"], rows)
    out.print("commands (RUN is the run folder):")
    for s in steps:
        out.print(f"  {s['name']}: {s['command']}", markup=False)
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
        [name, s.get("state"), s.get("seconds"), _shown(s.get("dir"))]
        for name, s in data["steps"].items()
    ]
    title = f"pipeline {data.get('name')}: {data.get('state')} (started {data.get('started')})"
    render_table(title, ["step", "state", "seconds", "folder"], rows)
    _render_evaluations(data)


def _shown(path: str | None) -> str:
    from trainspec.pipelines import shown

    return shown(path) if path else ""


def _render_evaluations(record: dict[str, Any]) -> None:
    from trainspec.pipelines import evaluations

    found = evaluations(record)
    if not found:
        return
    names = list(dict.fromkeys(m for e in found for m in e["metrics"]))
    rows = [
        [e["step"], Path(e["run"]).name, Path(e["data"]).name, e["split"], e["n"]]
        + [e["metrics"].get(m) for m in names]
        for e in found
    ]
    columns = ["step", "run", "data", "split", "n", *names]
    # the scores are what the table is for: where they came from goes first at a narrow width
    render_table("evaluations", columns, rows, drop=["data", "run", "n", "split"])
    out.print("each number again:")
    for e in found:
        out.print(f"  {e['step']}: {e['command']}", markup=False)


@pipeline_app.command("export")
def export(
    args: PipelineArgs,
    to: Annotated[str, typer.Option("--to", help="kubeflow or airflow.")],
    out_file: Annotated[
        Path | None,
        typer.Option("--out", help="The file to write (default NAME.yaml / NAME.py)."),
    ] = None,
    image: Annotated[
        str | None,
        typer.Option("--image", help="Container image with trainspec (kubeflow: required)."),
    ] = None,
    volume: Annotated[
        str, typer.Option("--volume", help="PersistentVolumeClaim holding the project.")
    ] = "trainspec-project",
    mount_path: Annotated[
        str, typer.Option("--mount-path", help="Where pods mount it (the image's WORKDIR).")
    ] = "/workspace",
    project_dir: Annotated[
        str | None,
        typer.Option("--project-dir", help="airflow without --image: the project on workers."),
    ] = None,
) -> None:
    """Write the pipeline for Kubeflow Pipelines (compiled YAML) or Airflow 3 (a DAG file)."""
    from trainspec.pipelines import (
        AirflowOptions,
        KubeflowOptions,
        airflow_dag,
        default_out,
        kubeflow_pipeline,
    )

    if to not in ("kubeflow", "airflow"):
        raise typer.BadParameter(f"expected kubeflow or airflow, got {to!r}", param_hint="--to")
    pipeline = _load(args)
    path = out_file or default_out(pipeline, to)
    if to == "kubeflow":
        if image is None:
            raise typer.BadParameter("a Kubeflow pipeline runs in an image", param_hint="--image")
        kubeflow_pipeline(pipeline, KubeflowOptions(image, volume, mount_path), path)
    else:
        options = AirflowOptions(
            image=image,
            project_dir=project_dir or str(Path.cwd()),
            volume=volume,
            mount_path=mount_path,
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(airflow_dag(pipeline, options), encoding="utf-8")
    out.print(f"wrote {path}")


def register(app: typer.Typer) -> None:
    """Add ``trainspec pipeline ...`` to the app."""
    app.add_typer(pipeline_app, name="pipeline")
