"""``trainspec runs ls|show|compare|promote``, ``trainspec ui`` and ``trainspec report``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from trainspec.cli._console import fits, out, render_table

__all__ = ["register"]

Root = Annotated[Path, typer.Option("--root", help="The runs root (run.root of the job specs).")]
Json = Annotated[bool, typer.Option("--json", help="Print JSON.")]
Wide = Annotated[
    bool, typer.Option("--wide", "-w", help="Every column at full width, however wide.")
]


def _print_json(data: Any) -> None:
    out.print(json.dumps(data, indent=2, default=str), markup=False)


def _ls(root: Path, sweep: str | None, as_json: bool, wide: bool) -> None:
    from trainspec.experiments import find_runs

    runs = find_runs(root, sweep=sweep)
    if as_json:
        _print_json([r.to_json() for r in runs])
        return
    rows = [
        [
            r.name,
            r.status,
            (r.created or "")[:19],
            r.epochs,
            r.monitor,
            r.best,
            (r.spec_hash or "")[:8],
        ]
        for r in runs
    ]
    render_table(
        f"runs under {root}",
        ["run", "status", "created", "epochs", "monitor", "best", "spec"],
        rows,
        drop=["spec", "created", "monitor", "status"],
        wide=wide,
    )


def _show(run: str, root: Path, as_json: bool) -> None:
    from trainspec.experiments import resolve_run, run_details

    details = run_details(resolve_run(run, root))
    if as_json:
        _print_json(details)
        return
    info = details["info"]
    out.print(f"[bold]{info['path']}[/]  status {info['status']}  epochs {info['epochs']}")
    summary = details["summary"] or {}
    if summary.get("cv"):
        rows = [[k, v["mean"], v["std"]] for k, v in summary["cv"].items() if k != "lr"]
        render_table("cross-validation", ["metric", "mean", "std"], rows)
        refit = summary.get("refit")
        if refit:
            out.print(
                f"refit: {refit.get('epochs')} epochs on all non-test data "
                f"(folds' best epochs {refit.get('chosen_by', {}).get('fold_best_epochs')}), "
                "the run's model"
            )
            if refit.get("test"):
                render_table(
                    "test (refit)", ["metric", "value"], list(map(list, refit["test"].items()))
                )
    else:
        final, best = summary.get("final", {}), summary.get("best", {})
        render_table(
            "metrics", ["metric", "final", "best"], [[k, final[k], best.get(k)] for k in final]
        )
    if summary.get("test"):
        render_table("test", ["metric", "value"], list(map(list, summary["test"].items())))
    env = details["environment"] or {}
    git = env.get("git") or {}
    out.print(
        f"spec hash {summary.get('spec_hash', '')[:12]}  seed {env.get('seed')}  "
        f"git {str(git.get('commit') or '-')[:10]}{' (dirty)' if git.get('dirty') else ''}  "
        f"tracker run {(details['tracking'] or {}).get('run_id', '-')}"
    )
    out.print(f"files: {', '.join(details['files'])}")


def _compare(runs: list[str], root: Path, all_keys: bool, as_json: bool) -> None:
    from trainspec.experiments import compare_runs, resolve_run

    paths = [resolve_run(r, root) for r in runs]
    result = compare_runs(paths, all_keys=all_keys)
    if as_json:
        _print_json(result)
        return
    names = [p.name for p in paths]
    spec_rows = [[k, *map(_cell, v)] for k, v in result["spec"].items()]
    metric_rows = [[k, *v] for k, v in result["metrics"].items()]
    if not all(fits(["key", *names], rows) for rows in (spec_rows, metric_rows)):
        # Too wide for the terminal with the runs' names as headers: number the runs, so
        # that every run stays in the comparison, and list the numbers' names first.
        render_table("runs", ["#", "run"], [[f"#{i}", n] for i, n in enumerate(names, 1)])
        names = [f"#{i}" for i in range(1, len(names) + 1)]
    render_table("status", ["", *names], [["status", *result["status"]]])
    if result["spec"]:
        render_table("spec differences", ["key", *names], spec_rows)
    else:
        out.print("the specs are the same")
    render_table("metrics", ["metric", *names], metric_rows)


def _cell(value: Any) -> Any:
    return json.dumps(value) if isinstance(value, list | dict) else value


def register(app: typer.Typer) -> None:
    """Add ``runs`` (ls, show, compare, promote), ``ui`` and ``report`` to ``app``."""
    runs_app = typer.Typer(help="List, inspect, compare and promote runs.", no_args_is_help=True)
    app.add_typer(runs_app, name="runs")

    @runs_app.command("ls")
    def runs_ls(
        root: Root = Path("runs"),
        sweep: Annotated[
            str | None, typer.Option("--sweep", help="Only this sweep's trials.")
        ] = None,
        as_json: Json = False,
        wide: Wide = False,
    ) -> None:
        """Every run under the runs root, oldest first."""
        _ls(root, sweep, as_json, wide)

    @runs_app.command("show")
    def runs_show(
        run: Annotated[str, typer.Argument(help="Run directory, run name or tracker run id.")],
        root: Root = Path("runs"),
        as_json: Json = False,
    ) -> None:
        """A run's metrics, spec hash, environment and files."""
        _show(run, root, as_json)

    @runs_app.command("compare")
    def runs_compare(
        runs: Annotated[list[str], typer.Argument(help="Two runs or more.")],
        root: Root = Path("runs"),
        all_keys: Annotated[
            bool, typer.Option("--all", help="Every spec key, not only differences.")
        ] = False,
        as_json: Json = False,
    ) -> None:
        """Spec differences and metrics of runs, side by side."""
        _compare(runs, root, all_keys, as_json)

    @runs_app.command("promote")
    def runs_promote(
        run: Annotated[str, typer.Argument(help="Run directory, run name or tracker run id.")],
        alias: Annotated[str, typer.Option("--alias", help="Registry alias, e.g. staging.")],
        name: Annotated[
            str | None, typer.Option("--name", help="Registered model name (default: job name).")
        ] = None,
        root: Root = Path("runs"),
    ) -> None:
        """Register the run's model in the MLflow model registry under an alias."""
        from trainspec.experiments import promote_run, resolve_run

        result = promote_run(resolve_run(run, root), alias=alias, name=name)
        out.print(
            f"registered {result['model']} version {result['version']} as @{result['alias']}: "
            f"{result['uri']}",
            markup=False,
        )

    @app.command("ui")
    def ui(
        root: Root = Path("runs"),
        uri: Annotated[
            str | None, typer.Option("--uri", help="Tracking URI (default: the runs root's store).")
        ] = None,
        port: Annotated[int, typer.Option("--port", help="Port on 127.0.0.1.")] = 5000,
    ) -> None:
        """MLflow's UI over the runs' tracking store, on 127.0.0.1."""
        from trainspec.experiments import run_ui

        run_ui(root=root, uri=uri, port=port, announce=lambda line: out.print(line, markup=False))

    @app.command("report")
    def report(
        target: Annotated[
            str, typer.Argument(help="A run directory (or name), a sweep or a pipeline run folder.")
        ],
        out_file: Annotated[
            Path, typer.Option("--out", "-o", help="The HTML file to write.")
        ] = Path("report.html"),
        root: Root = Path("runs"),
    ) -> None:
        """A self-contained HTML report of a run, a sweep or a pipeline run (opens offline)."""
        from trainspec.experiments import resolve_run, write_report

        folder = Path(target)
        if (folder / "pipeline.json").is_file():
            from trainspec.pipelines import write_pipeline_report

            out.print(f"wrote {write_pipeline_report(folder, out_file)}")
            return
        if not (folder / "sweep.json").is_file():
            folder = resolve_run(target, root)
        out.print(f"wrote {write_report(folder, out_file)}")
