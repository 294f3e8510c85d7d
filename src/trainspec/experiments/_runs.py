"""The run store: list, find, show and compare run directories; promote a run's model.

A run directory is found by its ``config.yaml`` beside ``summary.json``, ``metrics.jsonl`` or
``environment.json``; sweep trials (``sweeps/<name>/trials/NNNN``) and plain runs are listed
alike. Nothing here imports torch.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from trainspec.errors import TrainspecError, closest
from trainspec.files import RunDir, verify_manifest

__all__ = [
    "RunInfo",
    "compare_runs",
    "find_runs",
    "flatten",
    "promote_run",
    "resolve_run",
    "run_details",
    "ui_command",
]

_SKIP = {*RunDir.FOLDERS, "mlartifacts", RunDir.CACHE, "__pycache__"}


@dataclass
class RunInfo:
    """One run as ``runs ls`` shows it."""

    path: str
    name: str
    status: str
    created: str | None
    spec_hash: str | None
    monitor: str | None
    best: float | None
    best_epoch: int | None
    epochs: int
    sweep: str | None
    tracker_run_id: str | None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _walk(root: Path) -> Iterator[Path]:
    for here, dirs, _ in os.walk(root):
        path = Path(here)
        if RunDir(path).is_run():
            dirs.clear()  # a run's folds and checkpoints are part of it
            yield path
            continue
        dirs[:] = sorted(d for d in dirs if d not in _SKIP and not d.startswith("."))


def _epochs(run: Path) -> int:
    """Epochs trained: a k-fold run's are its folds' (the most any fold trained)."""
    metrics = RunDir(run).metrics
    if not metrics.is_file():
        return max((_epochs(f.path) for f in RunDir(run).folds()), default=0)
    with metrics.open(encoding="utf-8") as fh:
        return sum(1 for line in fh if line.strip())


def _status(run: Path, summary: Mapping[str, Any] | None) -> str:
    status = str(summary.get("status") or "") if summary else ""
    # "running" is the summary a run reserves at its start: still running, or killed outright.
    if status and status != "running":
        return status
    return "incomplete"  # started, never summarised: running, killed, or failed


def run_info(run: Path, root: Path | None = None) -> RunInfo:
    rd = RunDir(run)
    summary = rd.read_or(rd.SUMMARY) or {}
    env = rd.read_or(rd.ENVIRONMENT) or {}
    tracking = rd.read_or(rd.TRACKING) or {}
    monitor = (summary.get("monitor") or {}).get("metric")
    best: float | None = None
    if monitor and "cv" in summary and monitor in summary["cv"]:
        best = summary["cv"][monitor]["mean"]
    elif monitor:
        best = (summary.get("best") or {}).get(monitor)
    parts = run.resolve().parts
    sweep = parts[-3] if len(parts) >= 4 and parts[-2] == "trials" else None
    name = str(run.relative_to(root)) if root is not None else run.name
    return RunInfo(
        path=str(run),
        name=name,
        status=_status(run, summary),
        created=env.get("created"),
        spec_hash=summary.get("spec_hash"),
        monitor=monitor,
        best=best,
        best_epoch=summary.get("best_epoch"),
        epochs=_epochs(run),
        sweep=sweep,
        tracker_run_id=tracking.get("run_id"),
    )


def find_runs(root: str | Path = "runs", *, sweep: str | None = None) -> list[RunInfo]:
    """Every run under ``root``, oldest first; ``sweep`` keeps one sweep's trials."""
    base = Path(root)
    if not base.is_dir():
        raise TrainspecError(
            f"runs root {base} does not exist: pass --root, or train something first"
        )
    runs = [run_info(p, base) for p in _walk(base)]
    if sweep is not None:
        runs = [r for r in runs if r.sweep == sweep]
    return sorted(runs, key=lambda r: (r.created or "", r.path))


def resolve_run(ref: str | Path, root: str | Path = "runs") -> Path:
    """A run directory from a path, a name under ``root``, or a tracker run id."""
    path = Path(ref)
    if path.is_dir():
        if not RunDir(path).is_run():
            raise TrainspecError(
                f"{path} is not a run directory: it has no config.yaml with summary.json, "
                "metrics.jsonl or environment.json"
            )
        return path
    base = Path(root)
    runs = find_runs(base) if base.is_dir() else []
    for r in runs:
        if str(ref) in (r.name, Path(r.path).name, r.tracker_run_id):
            return Path(r.path)
    near = closest(str(ref), [r.name for r in runs])
    hint = f" (did you mean {near!r}?)" if near else ""
    raise TrainspecError(
        f"no run {str(ref)!r}: not a directory, nor a run name or tracker run id under "
        f"{base}{hint}. List runs with `trainspec runs ls`"
    )


def run_details(run: str | Path) -> dict[str, Any]:
    """Everything ``runs show`` prints: the summary, resolved spec, environment, data, files."""
    path = Path(run)
    rd = RunDir(path)
    return {
        "path": str(path),
        "info": run_info(path).to_json(),
        "summary": rd.read_or(rd.SUMMARY),
        "config": rd.read_config(),
        "environment": rd.read_or(rd.ENVIRONMENT),
        "data": rd.read_or(rd.DATA),
        "tracking": rd.read_or(rd.TRACKING),
        "files": sorted(p.name for p in path.iterdir()),
    }


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": [1, 2]}}`` -> ``{"a.b[0]": 1, "a.b[1]": 2}``; empty containers kept."""
    out: dict[str, Any] = {}
    if isinstance(data, Mapping) and data:
        for key, value in data.items():
            out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(data, list) and data:
        for i, value in enumerate(data):
            out.update(flatten(value, f"{prefix}[{i}]"))
    else:
        out[prefix] = data
    return out


_MISSING = "—"


def _metric_table(summaries: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]]:
    rows: dict[str, list[Any]] = {}
    for i, s in enumerate(summaries):
        values: dict[str, Any] = {}
        for key, value in (s.get("best") or {}).items():
            values[f"best {key}"] = value
        for key, value in (s.get("final") or {}).items():
            values[f"final {key}"] = value
        for key, stats in (s.get("cv") or {}).items():
            values[f"cv {key} mean"] = stats.get("mean")
            values[f"cv {key} std"] = stats.get("std")
        for key, value in (s.get("test") or {}).items():
            values[f"test {key}"] = value
        for key, value in values.items():
            rows.setdefault(key, [None] * len(summaries))[i] = value
    return dict(sorted(rows.items()))


def compare_runs(runs: Sequence[str | Path], *, all_keys: bool = False) -> dict[str, Any]:
    """Specs and metrics of ``runs`` side by side. ``spec`` holds the keys whose values
    differ (every key with ``all_keys``); ``metrics`` every summary value."""
    if len(runs) < 2:
        raise TrainspecError(f"compare needs two runs or more; got {len(runs)}")
    paths = [Path(r) for r in runs]
    flat = [flatten(RunDir(p).read_config()) for p in paths]
    keys = sorted(set().union(*flat))
    spec: dict[str, list[Any]] = {}
    for key in keys:
        values = [f.get(key, _MISSING) for f in flat]
        if all_keys or any(v != values[0] for v in values[1:]):
            spec[key] = values
    summaries = [RunDir(p).read_or(RunDir.SUMMARY) or {} for p in paths]
    return {
        "runs": [str(p) for p in paths],
        "status": [_status(p, s) for p, s in zip(paths, summaries, strict=True)],
        "spec": spec,
        "metrics": _metric_table(summaries),
    }


def _model_dir(run: Path) -> Path:
    for candidate in (RunDir(run).model, RunDir(run).fold(0).model):
        if candidate.is_dir():
            return candidate
    raise TrainspecError(f"run {run} has no saved model (model/): did it finish?")


def has_mlflow_model(client: Any, run_id: str) -> bool:
    return any(f.path == "model/MLmodel" for f in client.list_artifacts(run_id, "model"))


def promote_run(run: str | Path, *, alias: str, name: str | None = None) -> dict[str, Any]:
    """Register the run's model in the MLflow model registry and point ``alias`` at it.

    The run's MLflow model (``runs:/<id>/model``, the pyfunc flavour that training logs; logged
    now if the run has none, e.g. a sweep trial) becomes a new version of the registered model
    ``name`` (default: the job's name), and ``alias`` (``staging``, ``production``...) is set to
    that version: ``mlflow.pyfunc.load_model("models:/<name>@<alias>")`` predicts with it.
    """
    from trainspec.inference import log_mlflow_model
    from trainspec.spec import TrackingSpec
    from trainspec.tracking import MlflowTracker, create_tracker

    path = Path(run)
    # The folder registered is the one verified: a damaged model is never promoted.
    verify_manifest(_model_dir(path), what="saved model")
    config = RunDir(path).read_config()
    tracking = RunDir(path).read_or(RunDir.TRACKING) or {}
    spec = TrackingSpec.model_validate(config.get("tracking") or {})
    if spec.backend != "mlflow" or not tracking.get("run_id"):
        raise TrainspecError(
            f"run {path} was not tracked with MLflow (tracking.backend is {spec.backend!r}): "
            "promote needs the MLflow run its model is registered from"
        )
    root = Path((config.get("run") or {}).get("root", "runs"))
    tracker = create_tracker(spec, runs_root=root, job_name=config.get("name"))
    assert isinstance(tracker, MlflowTracker)
    client = tracker.connect()
    run_id = str(tracking["run_id"])
    model_name = name or str(config.get("name") or path.name)
    try:
        artifact_uri = client.get_run(run_id).info.artifact_uri.rstrip("/") + "/model"
        if client.search_registered_models(filter_string=f"name = '{model_name}'") == []:
            client.create_registered_model(model_name)
        # A run promoted before keeps its version; the alias moves to it.
        found = client.search_model_versions(f"name = '{model_name}' and run_id = '{run_id}'")
        version = next((v for v in found if v.source == artifact_uri), None)
        if version is None:
            if not has_mlflow_model(client, run_id):
                _model_dir(path)
                log_mlflow_model(path, client, run_id)
            version = client.create_model_version(model_name, artifact_uri, run_id=run_id)
        client.set_registered_model_alias(model_name, alias, version.version)
    except TrainspecError:
        raise
    except Exception as exc:
        raise TrainspecError(
            f"MLflow could not register the model of run {path} as {model_name!r} "
            f"(tracking URI {tracker.uri}): {exc}"
        ) from exc
    return {
        "model": model_name,
        "version": str(version.version),
        "alias": alias,
        "run_id": run_id,
        "source": artifact_uri,
        "uri": f"models:/{model_name}@{alias}",
    }


def ui_command(*, root: str | Path = "runs", uri: str | None = None, port: int = 5000) -> list[str]:
    """The ``mlflow ui`` command line over the runs' store, bound to 127.0.0.1 only."""
    from trainspec.tracking import resolve_uri

    store = resolve_uri(uri, Path(root))
    if store.startswith("sqlite:///") and not Path(store.removeprefix("sqlite:///")).is_file():
        raise TrainspecError(
            f"there is no tracking store at {store}: train with tracking.backend mlflow first, "
            "or pass --root (the runs root) or --uri"
        )
    return [
        sys.executable, "-m", "mlflow", "ui",
        "--backend-store-uri", store,
        "--host", "127.0.0.1",
        "--port", str(port),
    ]  # fmt: skip
