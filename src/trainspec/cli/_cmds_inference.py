"""``trainspec predict | evaluate | export | serve | monitor``: a trained run put to use.

Heavy modules (torch, pandas, FastAPI) are imported inside the commands, so ``--help`` stays
fast. Errors are ``TrainspecError``s: the CLI prints them and exits 2.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from trainspec.cli._console import err, out, render_table

__all__ = ["register"]

RunArg = Annotated[
    Path,
    typer.Argument(
        help="Run directory (what 'trainspec train --run-dir' wrote), a fold directory "
        "(RUN/folds/K) or a checkpoint directory (RUN/checkpoints/best).",
        show_default=False,
    ),
]
Checkpoint = Annotated[
    str,
    typer.Option(
        "--checkpoint", help="Weights: best (best monitored value), last, or final (model/)."
    ),
]
Fold = Annotated[int | None, typer.Option("--fold", help="Fold of a k-fold run.")]
Ensemble = Annotated[
    bool,
    typer.Option(
        "--ensemble",
        help="Average every fold model of a cross-validated run (class probabilities, or "
        "predicted values) instead of using one.",
    ),
]
Allow = Annotated[
    list[str] | None,
    typer.Option("--allow-import", help="Extra module prefix for users' modules (repeatable)."),
]


def predict(
    run: RunArg,
    data: Annotated[Path, typer.Option("--data", help="CSV, Parquet, NPY, NPZ or HDF5 file.")],
    out_path: Annotated[
        Path,
        typer.Option("--out", help="Predictions file: .csv or .parquet; - writes CSV to stdout."),
    ],
    batch_size: Annotated[int, typer.Option("--batch-size", min=1)] = 256,
    chunk_size: Annotated[
        int, typer.Option("--chunk-size", min=1, help="Rows read and predicted at a time.")
    ] = 10_000,
    checkpoint: Checkpoint = "best",
    fold: Fold = None,
    backend: Annotated[str, typer.Option("--backend", help="torch or onnx.")] = "torch",
    ensemble: Ensemble = False,
    allow_import: Allow = None,
) -> None:
    """Predict a file with a trained run: its transforms, then its model, chunk by chunk."""
    from trainspec.inference import predict_run

    to_stdout = str(out_path) == "-"
    path = predict_run(
        run,
        data,
        out=sys.stdout if to_stdout else out_path,
        batch_size=batch_size,
        chunk_size=chunk_size,
        checkpoint=checkpoint,
        fold=fold,
        backend=backend,
        allow_imports=allow_import or (),
        ensemble=ensemble,
    )
    if not to_stdout:  # the file's path is this command's result
        out.print(f"wrote predictions to {path}")


def evaluate(
    run: RunArg,
    data: Annotated[
        Path, typer.Option("--data", help="Labelled data: CSV, Parquet, NPY, NPZ or HDF5.")
    ],
    split: Annotated[
        str,
        typer.Option(
            "--split",
            help="train, val, test (samples of the run's split, from splits.json) or all.",
        ),
    ] = "all",
    fold: Fold = None,
    by: Annotated[
        str | None, typer.Option("--by", help="Also score per value of this key (a subject).")
    ] = None,
    splits_from: Annotated[
        Path | None,
        typer.Option("--splits-from", help="Take the split from this run's splits.json."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Also write the JSON object to this file.")
    ] = None,
    checkpoint: Checkpoint = "best",
    batch_size: Annotated[int, typer.Option("--batch-size", min=1)] = 256,
    ensemble: Ensemble = False,
    allow_import: Allow = None,
) -> None:
    """Score a run on labelled data with its own metrics (plus a confusion matrix)."""
    from trainspec.inference import evaluate_run

    result = evaluate_run(
        run,
        data,
        split=split,
        fold=fold,
        by=by,
        splits_from=splits_from,
        checkpoint=checkpoint,
        batch_size=batch_size,
        allow_imports=allow_import or (),
        ensemble=ensemble,
    )
    report = result.to_dict()
    if out_file is not None:
        from trainspec.files import write_json

        write_json(out_file, report)
    if as_json:
        out.print(json.dumps(report), markup=False)
        return
    _render_evaluation(report)
    if out_file is not None:
        out.print(f"wrote {out_file}")


def _render_evaluation(report: dict[str, Any]) -> None:
    split = report["split"] if report["split"] == "all" else f"{report['split']} split"
    title = f"{report['run']} on {report['data']} ({split}, {report['n']} samples)"
    if report.get("ensemble"):
        title += f", mean of folds {', '.join(map(str, report['ensemble']))}"
    render_table(title, ["metric", "value"], [[k, v] for k, v in report["metrics"].items()])
    if report["confusion"] is not None:
        names = report["classes"] or [str(i) for i in range(len(report["confusion"]))]
        rows = [[f"true {n}", *row] for n, row in zip(names, report["confusion"], strict=True)]
        render_table("confusion (rows: true, columns: predicted)", ["", *names], rows)
    if report["by"]:
        names = list(next(iter(report["by"].values()))["metrics"])
        rows = [[g, v["n"], *v["metrics"].values()] for g, v in report["by"].items()]
        render_table(f"by {report['by_key']}", [report["by_key"], "n", *names], rows)


def export(
    run: RunArg,
    fmt: Annotated[str, typer.Option("--format", "-f", help="onnx or torchscript.")] = "onnx",
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Output folder (default RUN/export/FORMAT).")
    ] = None,
    tolerance: Annotated[
        float, typer.Option("--tolerance", help="Largest allowed difference from PyTorch.")
    ] = 1e-4,
    checkpoint: Checkpoint = "best",
    fold: Fold = None,
    allow_import: Allow = None,
) -> None:
    """Export the network to ONNX or TorchScript and check it against PyTorch."""
    from trainspec.inference import export_run

    result = export_run(
        run,
        format=fmt,
        out=out_dir,
        tolerance=tolerance,
        checkpoint=checkpoint,
        fold=fold,
        allow_imports=allow_import or (),
    )
    shapes = ", ".join(f"{k} {v}" for k, v in result.inputs.items())
    out.print(f"wrote {result.path} ({result.exporter}); inputs: {shapes}")
    if result.extra_files:
        out.print(
            f"the weights are over 2 GiB and stay beside it in {', '.join(result.extra_files)}: "
            "copy those files together with the model"
        )
    out.print(
        f"parity with PyTorch: largest absolute difference {result.max_abs_diff:.3g} "
        f"(tolerance {result.tolerance:g})"
    )


def serve(
    run: RunArg,
    host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535)] = 8000,
    backend: Annotated[str, typer.Option("--backend", help="torch or onnx.")] = "torch",
    checkpoint: Checkpoint = "best",
    fold: Fold = None,
    max_batch: Annotated[
        int, typer.Option("--max-batch", min=1, help="Instances per request.")
    ] = 10_000,
    max_body_mb: Annotated[float, typer.Option("--max-body-mb", help="Request body limit.")] = 10.0,
    coerce: Annotated[
        bool,
        typer.Option(
            "--coerce", help="Read booleans and numeric strings as numbers (default: refuse)."
        ),
    ] = False,
    workers: Annotated[
        int,
        typer.Option(
            "--workers", min=1, help="Server processes, each with the model loaded; one port."
        ),
    ] = 1,
    threads: Annotated[
        int | None,
        typer.Option(
            "--threads",
            min=1,
            help="Intra-op threads of the model per process (default: the cores / --workers).",
        ),
    ] = None,
    max_batch_rows: Annotated[
        int,
        typer.Option(
            "--max-batch-rows",
            min=0,
            help="Micro-batching: concurrent requests run in one forward pass of up to this "
            "many instances (0: off).",
        ),
    ] = 256,
    max_wait_ms: Annotated[
        float,
        typer.Option(
            "--max-wait-ms",
            min=0.0,
            help="Micro-batching: how long a batch short of --max-batch-rows waits for more "
            "requests (0: none; it runs as soon as the model is free).",
        ),
    ] = 0.0,
    allow_import: Allow = None,
) -> None:
    """Serve the run over HTTP: POST /predict, /health, /ready, /metrics, /drift, /docs."""
    from trainspec.inference import BACKENDS, ServeOptions
    from trainspec.inference import serve as run_server

    if backend not in BACKENDS:
        raise typer.BadParameter(f"expected one of {', '.join(BACKENDS)}", param_hint="--backend")
    if host not in ("127.0.0.1", "localhost", "::1"):
        err.print(f"[yellow]warning[/]: listening on {host}: the server has no authentication")
    options = ServeOptions(
        backend=backend,
        checkpoint=checkpoint,
        fold=fold,
        allow_imports=tuple(allow_import or ()),
        max_batch=max_batch,
        max_body_bytes=int(max_body_mb * 1024 * 1024),
        coerce=coerce,
        threads=threads,
        max_batch_rows=max_batch_rows,
        max_wait_ms=max_wait_ms,
    )
    run_server(run, host=host, port=port, options=options, workers=workers)


def monitor(
    run: RunArg,
    data: Annotated[Path, typer.Option("--data", help="New data: CSV, Parquet, NPY, NPZ, HDF5.")],
    psi_threshold: Annotated[float, typer.Option("--psi-threshold")] = 0.2,
    ks_threshold: Annotated[float, typer.Option("--ks-threshold")] = 0.2,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    show_all: Annotated[bool, typer.Option("--all", help="List every feature.")] = False,
    fail_on_drift: Annotated[
        bool, typer.Option("--fail-on-drift", help="Exit 1 when a feature drifted.")
    ] = False,
    fold: Fold = None,
    allow_import: Allow = None,
) -> None:
    """Per-feature drift (PSI, KS) of new data against the run's training inputs."""
    from trainspec.inference import monitor_run

    report = monitor_run(
        run,
        data,
        psi_threshold=psi_threshold,
        ks_threshold=ks_threshold,
        fold=fold,
        allow_imports=allow_import or (),
    )
    if as_json:
        out.print(json.dumps(report.to_dict(), indent=2), markup=False)
    else:
        shown = [f for f in report.features if show_all or f.drifted]
        rows = [[f.feature, f.psi, f.ks, "yes" if f.drifted else ""] for f in shown]
        render_table(f"drift over {report.n_rows} rows", ["feature", "psi", "ks", "drifted"], rows)
        out.print(
            f"{len(report.drifted)} of {len(report.features)} features drifted "
            f"(psi > {psi_threshold:g} or ks > {ks_threshold:g})"
        )
    if fail_on_drift and report.drifted:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add the inference commands to the ``trainspec`` app."""
    app.command()(predict)
    app.command()(evaluate)
    app.command()(export)
    app.command()(serve)
    app.command()(monitor)
