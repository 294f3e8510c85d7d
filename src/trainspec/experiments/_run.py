"""``run_experiment``: data, splits, model, training and the run's files, from one job spec."""

from __future__ import annotations

import logging
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trainspec.errors import TrainspecError
from trainspec.experiments._failure import record_failure, reserve_summary
from trainspec.experiments._fold import FoldRun, train_fold
from trainspec.experiments._preflight import check_spec, deep_check
from trainspec.experiments._ranks import joined_group
from trainspec.experiments._refit import refit_run, refit_summary
from trainspec.experiments._resume import check_resume_changes
from trainspec.experiments._rundir import (
    collect_environment,
    new_run_dir,
    require_fresh,
    summarize_history,
)
from trainspec.experiments._runlog import run_log
from trainspec.files import (
    RunDir,
    atomic_write_text,
    is_storage_error,
    storage_error,
    storage_errors,
    strict_json,
)
from trainspec.spec import JobSpec, LoadedSpec, dump_yaml, load_spec

if TYPE_CHECKING:
    from trainspec.data import PreparedData
    from trainspec.engine import Callback
    from trainspec.experiments._tracked import TrackedAs
    from trainspec.tracking import Tracker

__all__ = ["RunResult", "run_experiment"]

log = logging.getLogger(__name__)


@dataclass
class RunResult:
    """What a finished (or interrupted) run produced."""

    run_dir: Path
    spec_hash: str
    status: str  # finished | interrupted
    summary: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)
    folds: list[dict[str, Any]] = field(default_factory=list)


def _resolve_spec(spec: LoadedSpec | JobSpec | str | Path | Mapping[str, Any]) -> LoadedSpec:
    if isinstance(spec, LoadedSpec):
        loaded = spec
    elif isinstance(spec, JobSpec):
        loaded = load_spec(spec.model_dump(mode="json", exclude_unset=True))
    else:
        loaded = load_spec(spec)
    if loaded.job is None:
        raise TrainspecError(
            f"{', '.join(loaded.files) or 'the spec'} is an architecture spec, not a job spec: "
            "a job spec has 'model', 'data' and 'train' sections (its 'model' may name this file)"
        )
    return loaded


def _cache_dir(job: JobSpec, run_dir: str | Path | None) -> Path:
    """The data cache, shared by the runs in one folder: the runs root (``run.root``) for a
    run inside it (a sweep's trials too), else the folder that holds ``--run-dir``; resolved,
    so never wherever the process happens to run."""
    root = Path(job.run.root).resolve()
    if run_dir is None or Path(run_dir).resolve().is_relative_to(root):
        return RunDir.cache_under(root)
    return RunDir(Path(run_dir)).shared_cache


def _choose_run_dir(loaded: LoadedSpec, run_dir: Path | None, resume: bool) -> Path:
    job = loaded.job
    assert job is not None
    if run_dir is None:
        if resume:
            raise TrainspecError("--resume needs --run-dir naming the run to continue")
        fallback = Path(loaded.files[0]).stem if loaded.files else "run"
        name = job.run.name or job.name or fallback
        what = "run.name" if job.run.name else ("job name" if job.name else "spec file name")
        return new_run_dir(Path(job.run.root), name, loaded.hash, what=what)
    if resume:
        if not run_dir.is_dir():
            raise TrainspecError(f"cannot resume: run directory {run_dir} does not exist")
        RunDir(run_dir).format_version()
        return run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    require_fresh(run_dir)
    return run_dir


def _write_spec_files(
    loaded: LoadedSpec, run_dir: Path, distributed: dict[str, Any], *, keep_config: bool
) -> None:
    job = loaded.job
    assert job is not None
    if not keep_config:
        header = f"# trainspec resolved spec\n# spec hash: {loaded.hash}\n"
        atomic_write_text(RunDir(run_dir).config, header + dump_yaml(loaded.data))
    env = collect_environment(seed=job.seed, device=job.train.device, spec_files=loaded.files)
    RunDir(run_dir).write_environment({**env, **distributed})


def run_experiment(
    spec: LoadedSpec | JobSpec | str | Path | Mapping[str, Any],
    *,
    run_dir: str | Path | None = None,
    resume: bool | None = None,
    progress: str | None = None,
    callbacks: Sequence[Callback] = (),
    parent_run_id: str | None = None,
    tags: Mapping[str, str] | None = None,
    allow_changes: bool = False,
    run_name: str | None = None,
    params: Mapping[str, str] | None = None,
    log_model: bool | None = None,
    check_model: bool = True,
) -> RunResult:
    """Run one job spec: prepare the data, build the model, train every fold, write the run.

    Returns the run directory and its summary. ``resume`` continues the run in ``run_dir``
    from its last checkpoint (it defaults to the spec's ``train.resume``). ``callbacks`` see
    every epoch of every fold (a sweep's pruner, say); ``parent_run_id`` makes the tracker run
    a child (a sweep's trial), named ``run_name`` (default: the run directory's name), with
    ``params`` logged beside the spec's. A finished MLflow run logs its model
    (``runs:/<id>/model``) unless it is a child or ``log_model`` is False. A resume whose spec
    changed a key that affects training is refused, naming each key with its old and new
    value, unless ``allow_changes`` (the change is then recorded in ``resume_changes.json``;
    ``config.yaml`` is kept). A run that fails
    writes ``summary.json`` with ``status: failed`` and the reason; a full disk or a refused
    write is a ``StorageError`` naming the path and the free space. ``check_model=False``
    skips the pre-flight build of the model on the meta device (a sweep's trial whose
    parameters leave the model as the sweep's pre-flight built it).
    """
    loaded = _resolve_spec(spec)
    job = loaded.job
    assert job is not None
    # Every check before anything is written: no run directory, tracking run or cache entry
    # for a spec that cannot run.
    check_spec(loaded)
    resume = job.train.resume if resume is None else resume
    prepared = deep_check(loaded, cache_dir=_cache_dir(job, run_dir), build=check_model)
    assert prepared is not None
    with joined_group(job.train) as group:
        # Rank 0 names the run directory and writes the run; the other ranks train beside it.
        target_dir = None
        if group.writer:
            target_dir = _open_run_dir(loaded, run_dir, resume, allow_changes, group.describe())
            prepared.commit_cache()
        target_dir = group.share(target_dir)
        if not group.writer:
            from trainspec.tracking import NullTracker

            return _run_tracked(
                loaded,
                prepared,
                target_dir,
                resume,
                progress,
                (),
                NullTracker(),
                writer=False,
                allow_changes=allow_changes,
            )

        from trainspec.experiments._tracked import TrackedAs

        tracked = TrackedAs(
            parent_run_id, run_name, dict(tags or {}), dict(params or {}), log_model
        )
        with run_log(target_dir, mlflow=job.tracking.backend == "mlflow"):
            return _run_writer(
                loaded, prepared, target_dir, resume, progress, callbacks, tracked, allow_changes
            )


def _run_writer(
    loaded: LoadedSpec,
    prepared: PreparedData,
    target_dir: Path,
    resume: bool,
    progress: str | None,
    callbacks: Sequence[Callback],
    tracked: TrackedAs,
    allow_changes: bool,
) -> RunResult:
    """Rank 0's run: tracked, its failure recorded in the run directory."""
    from trainspec.experiments._tracked import start_tracking

    tracker = start_tracking(loaded, target_dir, resume=resume, tracked=tracked)
    with tracker:
        try:
            result = _run_tracked(
                loaded,
                prepared,
                target_dir,
                resume,
                progress,
                callbacks,
                tracker,
                # A sweep's trials log no model unless asked (a trial's cost stays low): the
                # sweep logs its best trial's, and promote logs one.
                log_model=tracked.logs_model,
                allow_changes=allow_changes,
            )
        except Exception as exc:
            record_failure(target_dir, {"spec_hash": loaded.hash}, exc)
            if is_storage_error(exc):
                raise storage_error(exc, target_dir) from exc  # type: ignore[arg-type]
            raise
        if result.status == "interrupted":
            tracker.finish("KILLED")
    return result


def _open_run_dir(
    loaded: LoadedSpec,
    run_dir: str | Path | None,
    resume: bool,
    allow_changes: bool,
    distributed: dict[str, Any],
) -> Path:
    """The run directory, checked (a resume against the run's spec) and prepared: spec
    files written, the summary's space reserved. Nothing is written before the checks."""
    target = Path(run_dir) if run_dir else None
    with storage_errors(target):
        target_dir = _choose_run_dir(loaded, target, resume)
        changes = {}
        if resume:
            changes = check_resume_changes(
                target_dir, loaded.data, allow_changes=allow_changes, spec_hash=loaded.hash
            )
            if changes:
                log.warning(
                    "resuming with changed training keys (recorded in %s): %s",
                    RunDir(target_dir).resume_changes,
                    ", ".join(changes),
                )
        # After an allowed change config.yaml keeps the spec the run started with.
        run = RunDir(target_dir)
        keep = run.config.is_file() and (bool(changes) or (resume and run.resume_changes.is_file()))
        _write_spec_files(loaded, target_dir, distributed, keep_config=keep)
        reserve_summary(target_dir, {"spec_hash": loaded.hash})
    return target_dir


def _run_tracked(
    loaded: LoadedSpec,
    prepared: PreparedData,
    target_dir: Path,
    resume: bool,
    progress: str | None,
    callbacks: Sequence[Callback],
    tracker: Tracker,
    writer: bool = True,
    log_model: bool = False,
    allow_changes: bool = False,
) -> RunResult:
    from trainspec.experiments._tracked import TrackerCallback, log_mlflow_model, log_run_files

    job = loaded.job
    assert job is not None

    if writer:
        _write_data_files(prepared, target_dir)

    n_folds = len(prepared.splits.folds)
    folds = [job.data.split.fold] if job.data.split.fold is not None else list(range(n_folds))
    run = FoldRun(loaded, prepared, resume, progress, writer, allow_changes)
    results = []
    for k in folds:
        fold_dir = target_dir if len(folds) == 1 else RunDir(target_dir).fold(k).path
        prefix = "" if len(folds) == 1 else f"fold{k}/"
        # The tracker first: a callback that stops the run (a pruner) must not hide the epoch.
        fold_callbacks = [TrackerCallback(tracker, prefix=prefix), *callbacks]
        result = train_fold(run, prepared.fold(k), fold_dir, fold_callbacks)
        results.append(result)
        if result["status"] == "interrupted":
            break

    refit = _maybe_refit(run, results, target_dir, tracker, callbacks)
    everything = [*results, *([refit] if refit is not None else [])]
    status = "interrupted" if any(r["status"] == "interrupted" for r in everything) else "finished"
    summary = _summary(loaded, results, status)
    if refit is not None:
        summary["refit"] = refit_summary(refit)
    if not writer:
        return RunResult(target_dir, loaded.hash, status, summary)
    found: list[str] = []
    summary = strict_json(summary, found)
    if found:
        summary["non_finite"] = found  # the keys whose NaN or infinity is written as null
    RunDir(target_dir).write(RunDir.SUMMARY, summary)
    final = {f"test/{k}": v for k, v in summary.get("test", {}).items()}
    final.update(
        {f"refit/test/{k}": v for k, v in summary.get("refit", {}).get("test", {}).items()}
    )
    for key, stats in summary.get("cv", {}).items():
        final[f"cv/{key}/mean"] = stats["mean"]
        final[f"cv/{key}/std"] = stats["std"]
    if final:
        tracker.log_metrics(final, step=0)
    _record_code(target_dir, job.allow_imports)
    log_run_files(tracker, target_dir, enabled=job.tracking.log_artifacts)
    if log_model and status == "finished" and job.tracking.log_artifacts:
        log_mlflow_model(tracker, target_dir)
    first = results[0]
    return RunResult(
        run_dir=target_dir,
        spec_hash=loaded.hash,
        status=status,
        summary=summary,
        history=first["history"] if len(results) == 1 else [],
        folds=results if len(results) > 1 else [],
    )


def _maybe_refit(
    run: FoldRun,
    results: Sequence[Mapping[str, Any]],
    target_dir: Path,
    tracker: Tracker,
    callbacks: Sequence[Callback],
) -> dict[str, Any] | None:
    """``train.refit`` after every fold finished: the run's own model (see ``_refit``)."""
    from trainspec.experiments._tracked import TrackerCallback

    if not run.job.train.refit or len(results) < 2:
        return None
    if any(r["status"] != "finished" for r in results):
        return None  # an interrupted fold: the refit runs when the run is resumed
    refit_callbacks = [TrackerCallback(tracker, prefix="refit/"), *callbacks]
    return refit_run(run, results, target_dir, refit_callbacks)


def _write_data_files(prepared: PreparedData, target_dir: Path) -> None:
    run = RunDir(target_dir)
    run.write(run.SPLITS, prepared.splits.to_json())
    run.write(
        run.DATA,
        {
            "fingerprint": prepared.fingerprint,
            "task": prepared.task,
            "num_classes": prepared.num_classes,
            "class_names": prepared.class_names,
            "input_shapes": {k: list(v) for k, v in prepared.input_shapes.items()},
            "n_samples": prepared.n_samples,
        },
    )
    if prepared.example is not None:  # stored with the run's MLflow model
        run.write(run.INPUT_EXAMPLE, prepared.example)
    if prepared.bad_files:  # files left out under data.on_bad: skip
        run.write(run.BAD_FILES, prepared.bad_files)


def _record_code(run_dir: Path, allow_imports: Sequence[str]) -> None:
    """The user's modules the run imported, copied into ``code/`` and listed (with their
    hashes) in ``environment.json``: the run can be read back from any folder."""
    from trainspec.registry import save_run_code

    entries = save_run_code(run_dir, allow_imports)
    run = RunDir(run_dir)
    run.write(run.ENVIRONMENT, {**run.read_or(run.ENVIRONMENT, {}), "code": entries})


def _monitor_mode(job: JobSpec) -> str:
    from trainspec.metrics import get_metric, metric_mode

    if job.train.monitor.mode != "auto":
        return job.train.monitor.mode
    key = job.train.monitor.metric
    name = key.rsplit("/", 1)[-1]
    try:
        metrics = {name: get_metric(name, allow=job.allow_imports)}
    except TrainspecError:
        metrics = {}  # a loss or an unknown name: metric_mode decides by the name alone
    return metric_mode(key, metrics)


def _summary(
    loaded: LoadedSpec, results: Sequence[Mapping[str, Any]], status: str
) -> dict[str, Any]:
    job = loaded.job
    assert job is not None
    monitor = job.train.monitor.metric
    mode = _monitor_mode(job)
    per_fold = []
    for r in results:
        s = summarize_history(r["history"], monitor=monitor, mode=mode)
        if "test" in r:
            s["test"] = r["test"]
        s["status"] = r["status"]
        s["run_dir"] = r["run_dir"]
        per_fold.append(s)
    summary: dict[str, Any] = {
        "status": status,
        "spec_hash": loaded.hash,
        "monitor": {"metric": monitor, "mode": mode},
    }
    if len(per_fold) == 1:
        summary.update(per_fold[0])
        summary.pop("run_dir", None)
        return summary
    summary["folds"] = per_fold
    summary["cv"] = _cross_validated(per_fold)
    return summary


def _cross_validated(per_fold: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, float]]:
    """Mean and standard deviation over folds of each metric's best value (not the learning
    rate: a schedule's setting, not a result)."""
    keys = set.intersection(*(set(f["best"]) for f in per_fold)) if per_fold else set()
    keys.discard("lr")
    out: dict[str, dict[str, float]] = {}
    for key in sorted(keys):
        values = [float(f["best"][key]) for f in per_fold]
        if not all(math.isfinite(v) for v in values):
            continue
        std = statistics.stdev(values) if len(values) > 1 else 0.0
        out[key] = {"mean": statistics.fmean(values), "std": std}
    return out
