"""The ``trainspec`` command. Heavy modules are imported inside the commands that need them:
``--help``, ``validate``, ``show`` and ``schema`` never import torch."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from trainspec.cli._args import split_args
from trainspec.cli._console import err, out, render_table, stdout_to_stderr

__all__ = ["app"]

app = typer.Typer(
    name="trainspec",
    help="Model architectures and training pipelines as code.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
model_app = typer.Typer(help="Inspect architectures.", no_args_is_help=True)
data_app = typer.Typer(help="Inspect data as a job spec configures it.", no_args_is_help=True)
app.add_typer(model_app, name="model")
app.add_typer(data_app, name="data")

SpecArgs = Annotated[
    list[str],
    typer.Argument(
        help="Spec files (merged left to right) and overrides: key.path=value, ~key.path.",
        show_default=False,
    ),
]


def _load(args: list[str]) -> Any:
    from trainspec.spec import load_spec

    specs, overrides = split_args(args)
    if not specs:
        raise typer.BadParameter("name at least one spec file", param_hint="SPEC")
    _extend_import_path(specs)
    return load_spec(*specs, overrides=overrides)


def _extend_import_path(specs: list[str]) -> None:
    """Let specs name users' modules kept in the working directory or beside the spec, as
    ``python -m`` would; the allow-list still decides what may be imported."""
    for folder in [Path.cwd(), *(Path(s).resolve().parent for s in specs)]:
        if str(folder) not in sys.path:
            sys.path.append(str(folder))
    _use_run_code(specs)


def _use_run_code(specs: list[str]) -> None:
    """A run's own ``config.yaml`` imports the modules saved with the run, from its ``code/``."""
    from trainspec.registry import CODE_DIR, CODE_MANIFEST, use_run_code

    for spec in specs:
        folder = Path(spec).resolve().parent
        if (folder / CODE_DIR / CODE_MANIFEST).is_file():
            for note in use_run_code(folder):
                err.print(f"[yellow]note[/]: {note}")


def _is_pipeline(args: list[str]) -> bool:
    """Whether the first argument is a pipeline spec file (a mapping with ``steps``)."""
    import yaml

    path = Path(args[0]) if args else None
    if path is None or not path.is_file() or path.suffix.lower() not in (".yaml", ".yml", ".json"):
        return False
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError, OSError):
        return False  # the spec loader reports it properly
    return isinstance(data, dict) and "steps" in data


@app.command()
def validate(
    args: SpecArgs,
    deep: Annotated[
        bool,
        typer.Option(
            "--deep",
            help="Also build the model (on the meta device: no weights, no memory) on the "
            "data's shapes, read from its first rows or record, and check a fine-tuning init "
            "file from its header (imports torch and users' modules; writes nothing).",
        ),
    ] = False,
) -> None:
    """Check specs without running anything (no torch import); a pipeline spec too.

    Keys and values, component names and parameters, block references, import paths, the
    monitored metric, the split, the data's paths and the keys its roles name (header only).
    """
    from trainspec.experiments import check_spec

    if _is_pipeline(args):
        from trainspec.spec import load_pipeline

        pipeline = load_pipeline(args[0], args[1:])
        out.print(
            f"[green]ok[/]: {pipeline.file} is a valid pipeline spec "
            f"({len(pipeline.order)} steps, hash {pipeline.hash[:12]})"
        )
        return
    loaded = _load(args)
    check_spec(loaded)
    if deep:
        from trainspec.experiments import deep_check

        deep_check(loaded, full_data=False)
    what = "job spec" if loaded.kind == "job" else "architecture spec"
    out.print(
        f"[green]ok[/]: {', '.join(loaded.files) or 'spec'} is a valid {what} "
        f"(hash {loaded.hash[:12]})"
    )


@app.command()
def show(
    args: SpecArgs,
    fmt: Annotated[str, typer.Option("--format", "-f", help="yaml or json")] = "yaml",
) -> None:
    """Print the resolved spec, after extends, file references, overrides and interpolation."""
    from trainspec.spec import dump_json, dump_yaml

    loaded = _load(args)
    if fmt not in ("yaml", "json"):
        raise typer.BadParameter(f"expected yaml or json, got {fmt!r}", param_hint="--format")
    text = dump_yaml(loaded.data) if fmt == "yaml" else dump_json(loaded.data)
    out.print(text, end="" if text.endswith("\n") else "\n", markup=False)


@app.command()
def schema(
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Write the schemas as files into this folder.")
    ] = None,
) -> None:
    """JSON Schema of the job and architecture specs, for editor completion."""
    from trainspec.spec import json_schemas, write_schemas

    if out_dir is None:
        out.print(json.dumps(json_schemas(), indent=2), markup=False)
        return
    for path in write_schemas(out_dir):
        out.print(f"wrote {path}")


@app.command()
def train(
    args: SpecArgs,
    run_dir: Annotated[
        Path | None, typer.Option("--run-dir", help="Run directory (default: a new one).")
    ] = None,
    resume: Annotated[
        bool,
        typer.Option("--resume", help="Continue the run in --run-dir from its last checkpoint."),
    ] = False,
    allow_changes: Annotated[
        bool,
        typer.Option(
            "--allow-changes",
            help="--resume although keys that affect training changed (recorded in the run).",
        ),
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Build data and model, show them, train nothing.")
    ] = False,
    nproc: Annotated[
        int,
        typer.Option(
            "--nproc",
            min=1,
            help="Train data-parallel in N processes on this machine (torch.distributed).",
        ),
    ] = 1,
    verbose: Annotated[
        bool, typer.Option("--verbose", help="Log lines from every process, not only rank 0.")
    ] = False,
) -> None:
    """Train the model a job spec describes and write its run directory."""
    from trainspec.cli._launch import launch_local, quiet_other_ranks, this_rank
    from trainspec.experiments import check_spec

    loaded = _load(args)
    check_spec(loaded)
    if dry_run:
        _dry_run(loaded)
        return
    if nproc > 1:
        if os.environ.get("WORLD_SIZE"):
            raise typer.BadParameter(
                "this process already runs under a launcher (torchrun); drop --nproc",
                param_hint="--nproc",
            )
        flags = [*(["--run-dir", str(run_dir)] if run_dir else []), *(["--resume"] * resume)]
        flags += ["--quiet"] * quiet + ["--verbose"] * verbose + ["--allow-changes"] * allow_changes
        launch_local(nproc, ["train", *args, *flags])
        return
    quiet_other_ranks(verbose)
    from trainspec.experiments import run_experiment

    result = run_experiment(
        loaded,
        run_dir=run_dir,
        resume=resume or None,
        progress="none" if quiet else None,
        allow_changes=allow_changes,
    )
    if this_rank() != 0:
        if result.status == "interrupted":
            raise typer.Exit(130)
        return
    _print_result(result)
    if result.status == "interrupted":
        err.print(
            f"interrupted: the last checkpoint is in {result.run_dir}; "
            f"continue with --run-dir {result.run_dir} --resume"
        )
        raise typer.Exit(130)


def _print_result(result: Any) -> None:
    summary = result.summary
    if "cv" in summary:
        rows = [[k, v["mean"], v["std"]] for k, v in summary["cv"].items() if k != "lr"]
        render_table("cross-validation (best epoch of each fold)", ["metric", "mean", "std"], rows)
        _print_refit(summary.get("refit"))
    else:
        final, best = summary.get("final", {}), summary.get("best", {})
        rows = [[k, final.get(k), best.get(k)] for k in final if k != "lr"]
        render_table("result", ["metric", "final", "best"], rows)
        if summary.get("test"):
            render_table("test", ["metric", "value"], [[k, v] for k, v in summary["test"].items()])
    out.print(f"run directory: {result.run_dir}")


def _print_refit(refit: dict[str, Any] | None) -> None:
    if not refit:
        return
    chosen = refit["chosen_by"]["fold_best_epochs"]
    out.print(
        f"refit: {refit['epochs']} epochs on all {refit['n_train']} non-test samples (the folds' "
        f"best epochs {chosen}, mean rounded) is the run's model"
    )
    if refit.get("test"):
        rows = [[k, v] for k, v in refit["test"].items()]
        render_table("test (refit model)", ["metric", "value"], rows)


def _dry_run(loaded: Any) -> None:
    from trainspec.api import job_model

    job = loaded.job
    if job is None:
        raise typer.BadParameter("--dry-run needs a job spec", param_hint="SPEC")
    # The whole finetune section, initial weights included: a dry run fails where the run would.
    built = job_model(job)
    prepared = built.prepared
    sizes = {name: len(idx) for name, idx in prepared.splits.folds[0].items()}
    out.print(f"data: {prepared.n_samples} samples, task {prepared.task}, splits {sizes}")
    data = _summary_of(built.model, built.finetune)
    if isinstance(data, str):
        out.print(f"model: {type(built.model).__name__}")
        return
    _render_summary(data)


@model_app.command("summary")
def model_summary(
    args: SpecArgs,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Blocks with type, output shape, parameters and trainable / frozen state; with a job
    spec's finetune section, what each pattern matched and the optimiser's groups. Whatever
    users' code prints while the model is built and probed goes to stderr."""
    from trainspec.experiments import check_spec

    loaded = _load(args)
    check_spec(loaded)
    with stdout_to_stderr():
        data = _summary_data(loaded)
    if isinstance(data, str):
        out.print(data)
    elif as_json:
        out.print(json.dumps(data, indent=2), markup=False)
    else:
        _render_summary(data)


def _summary_data(loaded: Any) -> dict[str, Any] | str:
    """The summary as JSON-ready data, or what to say instead (a scikit-learn estimator)."""
    job = loaded.job
    if job is not None:
        from trainspec.api import job_model

        # Patterns and groups only: the initial weights are read by train (and --dry-run).
        built = job_model(job, load_weights=False)
        return _summary_of(built.model, built.finetune)
    from trainspec.models import build_model

    return _summary_of(build_model(loaded.arch), None)


def _summary_of(model: Any, plan: Any) -> dict[str, Any] | str:
    """The model's layer summary (after freezing: the rows say what is frozen) with the
    finetune plan, or what to say of a model that has no layers."""
    from trainspec.models import summarize

    if not model.supports_summary:
        return f"{type(model).__name__}: a {model.kind_label} has no layer summary"
    data = summarize(model).to_dict()
    if plan is not None:
        data["finetune"] = plan.to_dict()
    return data


def _render_summary(data: dict[str, Any]) -> None:
    from trainspec.models import fmt_shape

    rows = [
        [
            r["name"],
            r["type"],
            "?" if r["output_shape"] is None else fmt_shape(r["output_shape"]),
            f"{r['params']:,}",
            f"{r['trainable']:,}",
            r["state"],
        ]
        for r in data["rows"]
    ]
    columns = ["block", "type", "output shape", "params", "trainable", "state"]
    render_table("model", columns, rows, drop=["trainable", "state", "params"])
    out.print(
        f"total parameters: {data['total_params']:,}  trainable: {data['trainable_params']:,}  "
        f"frozen: {data['frozen_params']:,}"
    )
    finetune = data.get("finetune")
    if not finetune:
        return
    load = finetune.get("load")
    if load is not None:
        out.print(
            f"initial weights: {load['source']}: {len(load['loaded'])} loaded, "
            f"{len(load['missing'])} missing, {len(load['unexpected'])} unexpected, "
            f"{len(load['mismatched'])} shape-mismatched (kept as initialised)",
            markup=False,
        )
    matched = [
        [pattern, len(names), ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")]
        for pattern, names in finetune["freeze"]["matched"].items()
    ]
    matched += [[f"reinit: {p}", len(v), ", ".join(v)] for p, v in finetune["reinit"].items()]
    if matched:
        render_table("finetune patterns", ["pattern", "tensors", "matched"], matched)
    groups = [
        [g["group"], g["tensors"], g["values"], g["lr"], g["weight_decay"]]
        for g in finetune["groups"]
    ]
    columns = ["group", "tensors", "values", "lr", "weight decay"]
    render_table("optimiser groups", columns, groups, drop=["values", "tensors"])
    if finetune["bn_stats_fixed"]:
        out.print(f"batch-norm statistics fixed: {', '.join(finetune['bn_stats_fixed'])}")


@data_app.command("inspect")
def data_inspect(
    args: SpecArgs,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Sizes per split and fold, class balance, groups, feature statistics, warnings."""
    from trainspec.data import inspect_data
    from trainspec.experiments import check_spec

    loaded = _load(args)
    check_spec(loaded)
    job = loaded.job
    if job is None:
        raise typer.BadParameter("data inspect needs a job spec", param_hint="SPEC")
    report = inspect_data(job.data, seed=job.seed, task=job.task, allow_imports=job.allow_imports)
    if as_json:
        out.print(json.dumps(report, indent=2, default=str), markup=False)
        return
    from trainspec.cli._inspect import render_inspection

    render_inspection(report)


def _register_command_groups() -> None:
    # Each command group lives in its own module, importing only typer at module level.
    from trainspec.cli._cmds_inference import register as register_inference
    from trainspec.cli._cmds_pipeline import register as register_pipeline
    from trainspec.cli._cmds_runs import register as register_runs
    from trainspec.cli._cmds_sweep import register as register_sweep

    register_inference(app)
    register_sweep(app)
    register_runs(app)
    register_pipeline(app)


_register_command_groups()
