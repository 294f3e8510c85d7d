"""``run_sweep``: a hyperparameter search where every trial is a normal run.

The sweep folder ``<run.root>/sweeps/<name>/`` holds ``sweep.json`` (the plan workers read),
``study.db`` (the Optuna study, unless ``sweep.storage`` names another), ``trials/NNNN/`` (one
run directory per trial) and ``summary.json``. The sweep is a parent tracker run; each trial's
run is its child. Running the same sweep again resumes it: finished trials are kept, trials
whose worker died are failed and queued again, and new trials are drawn until ``n_trials``
count.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trainspec.experiments._preflight import check_spec, deep_check
from trainspec.experiments._sweep_parent import claim_parent, record_parent, wait_for_parent
from trainspec.experiments._sweep_plan import SweepPlan, plan_sweep
from trainspec.experiments._sweep_study import (
    RUN_DIR_ATTR,
    THREADS_ATTR,
    SweepError,
    fail_dead_trials,
    quiet_optuna,
    trials_used,
)
from trainspec.experiments._sweep_track import log_best, log_best_models, parent_params
from trainspec.experiments._sweep_worker import MANIFEST, connect_study, read_manifest, work
from trainspec.files import RunDir, write_json
from trainspec.spec import LoadedSpec

if TYPE_CHECKING:
    import optuna
    from optuna.storages import BaseStorage
    from optuna.trial import FrozenTrial

    from trainspec.tracking import Tracker

__all__ = ["SweepResult", "run_sweep", "summarize_study"]

log = logging.getLogger(__name__)

TrialHook = Callable[["FrozenTrial"], None]
_POLL_SECONDS = 0.5
_STOP_GRACE_SECONDS = 60.0


@dataclass
class SweepResult:
    """What a sweep (or this part of it) left: counts by state and the best trial(s)."""

    sweep_dir: Path
    name: str
    storage: str
    status: str  # finished | interrupted
    goals: list[tuple[str, str]]
    counts: dict[str, int] = field(default_factory=dict)
    best: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "storage": self.storage,
            "goals": [{"metric": m, "direction": d} for m, d in self.goals],
            "counts": self.counts,
            "best": self.best,
        }


def _prepare_dir(plan: SweepPlan, resume: bool) -> dict[str, Any] | None:
    """The manifest of the sweep being resumed, or None for a new sweep folder."""
    if (plan.sweep_dir / MANIFEST).is_file():
        manifest = read_manifest(plan.sweep_dir)
        if manifest.get("fingerprint") != plan.fingerprint:
            raise SweepError(
                f"sweep {plan.name!r} in {plan.sweep_dir} was started from another spec (its job "
                "spec, search space or objectives differ): rerun it unchanged to resume, set "
                f"sweep.name to start a new sweep, or delete {plan.sweep_dir}"
            )
        return manifest
    if resume:
        raise SweepError(
            f"--resume: there is no sweep {plan.name!r} to resume in {plan.sweep_dir}; run "
            "without --resume to start it"
        )
    plan.sweep_dir.mkdir(parents=True, exist_ok=True)
    return None


def _write_manifest(plan: SweepPlan, parent_run_id: str | None) -> None:
    write_json(
        plan.sweep_dir / MANIFEST,
        {
            "name": plan.name,
            "fingerprint": plan.fingerprint,
            "storage": plan.storage,
            "parent_run_id": parent_run_id,
            "files": list(plan.files),
            "written": _dt.datetime.now(_dt.timezone.utc).isoformat(),
            "spec": plan.data,
        },
    )


def _start_parent(plan: SweepPlan, resume_run_id: str | None) -> Tracker:
    from trainspec.tracking import create_tracker

    job = plan.base.job
    assert job is not None
    tracker = create_tracker(job.tracking, runs_root=Path(job.run.root), job_name=job.name)
    tracker.start(
        run_name=f"sweep-{plan.name}",
        run_dir=plan.sweep_dir,
        tags={
            "trainspec.sweep": plan.name,
            "trainspec.kind": "sweep",
            "trainspec.sweep_fingerprint": plan.fingerprint,
        },
        params=parent_params(plan),
        resume_run_id=resume_run_id,
    )
    return tracker


def _parent(
    plan: SweepPlan, study: optuna.Study, manifest: Mapping[str, Any] | None
) -> tuple[Tracker, str | None]:
    """The sweep's parent run and its id: started by the first process; reopened by a later
    one (a resumed sweep), or only joined while another process of this machine holds it."""
    from trainspec.tracking import NullTracker, TrackingError

    first, run_id = claim_parent(study, plan.sweep_dir / ".claim.lock")
    if first:
        # A sweep begun before the parent was kept in the study has its id in sweep.json.
        tracker = _start_parent(plan, (manifest or {}).get("parent_run_id"))
        record_parent(study, tracker.run_id)
        return tracker, tracker.run_id
    try:
        tracker = _start_parent(plan, run_id)
    except TrackingError as exc:
        if "still writing" not in str(exc):
            raise
        log.info("the sweep's parent run %s is open in another process: joining it", run_id)
        joined = NullTracker()  # the process holding the parent reports to it
        joined.start(run_name=plan.name, run_dir=plan.sweep_dir, tags={}, params={})
        return joined, run_id
    return tracker, tracker.run_id


def _queue_grid(plan: SweepPlan, study: optuna.Study) -> None:
    """Grid search: every grid point (or the first ``n_trials`` of them, in a seeded order)
    is queued once; repeated runs skip points already in the study."""
    if plan.sweep.sampler.type != "grid":
        return
    import random

    points = plan.space.grid()
    if plan.sweep.n_trials is not None and plan.sweep.n_trials < len(points):
        seed = plan.sweep.sampler.seed
        random.Random(seed if seed is not None else 0).shuffle(points)
        points = points[: plan.sweep.n_trials]
    with quiet_optuna():
        for point in points:
            study.enqueue_trial(point, skip_if_exists=True)


# -- workers ------------------------------------------------------------------------------


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM stops the sweep like Ctrl-C: running trials are checkpointed and queued again."""

    def raise_interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, raise_interrupt)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def worker_env(workers: int) -> dict[str, str]:
    """The environment of a worker process: the cores shared out between the workers.

    Two workers with two torch threads each on two cores spin against each other and run many
    times slower than with one thread each. A user's OMP_NUM_THREADS is kept. A trial's numbers
    repeat exactly only with the same thread count (``trainspec.torch_threads`` of the trial).
    """
    env = dict(os.environ)
    if "OMP_NUM_THREADS" not in env:
        threads = str(max(1, (os.cpu_count() or 1) // max(workers, 1)))
        env["OMP_NUM_THREADS"] = threads
        env.setdefault("MKL_NUM_THREADS", threads)
    return env


class _Pool:
    """Worker processes of one sweep, watched by the coordinator."""

    def __init__(
        self, plan: SweepPlan, study: optuna.Study, deadline: float | None, workers: int
    ) -> None:
        self.plan, self.study, self.deadline, self.workers = plan, study, deadline, workers
        self.procs: dict[int, subprocess.Popen[bytes]] = {}
        self.restarts = 0
        self.interrupted = False

    def spawn(self, worker: int) -> None:
        cmd = [
            sys.executable,
            "-m",
            "trainspec.experiments._sweep_main",
            str(self.plan.sweep_dir),
            str(worker),
            "" if self.deadline is None else repr(self.deadline),
        ]
        self.procs[worker] = subprocess.Popen(cmd, env=worker_env(self.workers))

    def _work_left(self) -> bool:
        from optuna.trial import TrialState

        if self.deadline is not None and time.time() >= self.deadline:
            return False
        trials = self.study.get_trials(deepcopy=False)
        if any(t.state == TrialState.WAITING for t in trials):
            return True
        n = self.plan.budget
        return n is None or trials_used(trials) < n

    def check(self) -> bool:
        """Reap exited workers; replace one that died while work is left. True while any runs."""
        for worker, proc in list(self.procs.items()):
            rc = proc.poll()
            if rc is None:
                continue
            del self.procs[worker]
            if rc == 130:
                self.interrupted = True
            elif rc != 0:
                log.warning("sweep worker %d exited with status %d", worker, rc)
                fail_dead_trials(self.study, self.plan.sweep.heartbeat)
                if self._work_left() and self.restarts < 3 * self.workers + 3:
                    self.restarts += 1
                    self.spawn(worker)
        return bool(self.procs)

    def stop(self) -> None:
        """After Ctrl-C or SIGTERM: let workers checkpoint their trial, then end them."""
        self.interrupted = True
        until = time.time() + 2.0
        while self.procs and time.time() < until and self.check():
            time.sleep(0.1)
        for proc in self.procs.values():
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGINT)
        until = time.time() + _STOP_GRACE_SECONDS
        for proc in self.procs.values():
            try:
                proc.wait(max(0.1, until - time.time()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs.clear()
        fail_dead_trials(self.study, self.plan.sweep.heartbeat)


def _report_new(study: optuna.Study, seen: set[int], on_trial: TrialHook | None) -> None:
    for t in study.get_trials(deepcopy=False):
        if t.state.is_finished() and t.number not in seen:
            seen.add(t.number)
            if on_trial is not None:
                on_trial(t)


def _run_pool(
    plan: SweepPlan,
    study: optuna.Study,
    workers: int,
    deadline: float | None,
    on_trial: TrialHook | None,
) -> bool:
    seen = {t.number for t in study.get_trials(deepcopy=False) if t.state.is_finished()}
    pool = _Pool(plan, study, deadline, workers)
    for worker in range(workers):
        pool.spawn(worker)
    try:
        with _sigterm_as_interrupt():
            while pool.check():
                _report_new(study, seen, on_trial)
                time.sleep(_POLL_SECONDS)
    except KeyboardInterrupt:
        pool.stop()
    _report_new(study, seen, on_trial)
    return not pool.interrupted


def _run_trials(
    plan: SweepPlan,
    study: optuna.Study,
    storage: BaseStorage,
    workers: int,
    deadline: float | None,
    parent_run_id: str | None,
    on_trial: TrialHook | None,
) -> bool:
    if workers == 1:
        try:
            with _sigterm_as_interrupt():
                return work(
                    plan,
                    worker=0,
                    parent_run_id=parent_run_id,
                    deadline=deadline,
                    on_trial=on_trial,
                    study=(study, storage),
                )
        except KeyboardInterrupt:
            fail_dead_trials(study, plan.sweep.heartbeat)
            return False
    return _run_pool(plan, study, workers, deadline, on_trial)


# -- results ------------------------------------------------------------------------------


def trial_record(plan: SweepPlan, t: FrozenTrial) -> dict[str, Any]:
    values = dict(zip([g.metric for g in plan.goals], t.values or [], strict=False))
    return {
        "number": t.number,
        "values": values,
        "params": plan.space.decode(t.params),
        "run_dir": t.user_attrs.get(RUN_DIR_ATTR),
        "torch_threads": t.user_attrs.get(THREADS_ATTR),
    }


def best_trials(plan: SweepPlan, study: optuna.Study) -> list[FrozenTrial]:
    """The best trial, or the Pareto front for several objectives; [] before any completes."""
    from optuna.trial import TrialState

    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        return []
    if len(plan.goals) == 1:
        return [study.best_trial]
    return sorted(study.best_trials, key=lambda t: t.number)


def summarize_study(plan: SweepPlan, study: optuna.Study, status: str) -> SweepResult:
    trials = study.get_trials(deepcopy=False)
    counts: dict[str, int] = {}
    for t in trials:
        counts[t.state.name.lower()] = counts.get(t.state.name.lower(), 0) + 1
    return SweepResult(
        sweep_dir=plan.sweep_dir,
        name=plan.name,
        storage=plan.storage,
        status=status,
        goals=[(g.metric, g.direction) for g in plan.goals],
        counts=counts,
        best=[trial_record(plan, t) for t in best_trials(plan, study)],
    )


def _finished(study: optuna.Study) -> int:
    return sum(t.state.is_finished() for t in study.get_trials(deepcopy=False))


def _log_parent(tracker: Tracker, plan: SweepPlan, result: SweepResult, *, step: int) -> None:
    """The parent run's last word: trials by state, the best trial and its model."""
    metrics = {f"trials/{state}": float(n) for state, n in result.counts.items()}
    tracker.log_metrics(metrics, step=step)
    log_best(tracker, plan, result.best, step=step)
    log_best_models(tracker, plan, result.best)


def _tracking_best(
    plan: SweepPlan, study: optuna.Study, tracker: Tracker, on_trial: TrialHook | None
) -> TrialHook | None:
    """``on_trial``, and the parent run's best trial kept current as trials finish (not
    looked up without a tracking store to show it: it takes reads of the study)."""
    from trainspec.tracking import NullTracker

    if isinstance(tracker, NullTracker):
        return on_trial

    def hook(t: FrozenTrial) -> None:
        if on_trial is not None:
            on_trial(t)
        best = [trial_record(plan, b) for b in best_trials(plan, study)]
        log_best(tracker, plan, best, step=_finished(study))

    return hook


def _join(plan: SweepPlan, workers: int | None, on_trial: TrialHook | None) -> SweepResult:
    study, storage = connect_study(plan, worker=0, create=False)
    _prepare_dir(plan, resume=False)
    parent_run_id = wait_for_parent(study)
    _write_manifest(plan, parent_run_id)  # what this machine's worker processes read
    fail_dead_trials(study, plan.sweep.heartbeat)
    n_workers = workers or plan.sweep.workers
    deadline = time.time() + plan.sweep.timeout if plan.sweep.timeout else None
    finished = _run_trials(plan, study, storage, n_workers, deadline, parent_run_id, on_trial)
    result = summarize_study(plan, study, "finished" if finished else "interrupted")
    write_json(plan.sweep_dir / RunDir.SUMMARY, result.to_json())
    return result


def run_sweep(
    *sources: str | Path | Mapping[str, Any] | LoadedSpec,
    overrides: Sequence[str] = (),
    workers: int | None = None,
    resume: bool = False,
    on_trial: TrialHook | None = None,
    join: bool = False,
) -> SweepResult:
    """Run (or resume) the sweep that the spec's ``sweep:`` block describes.

    Everything that can be checked is checked before the first trial: the search space
    against the spec, the metrics against what training logs, the storage and the tracking
    store. ``workers`` overrides ``sweep.workers``; more than one runs trials in separate
    processes. ``resume`` insists on an existing sweep (without it, an existing sweep is
    resumed and a missing one started). ``on_trial`` sees every trial that finishes.

    ``join`` (``trainspec sweep --worker``): only work on a study that exists already, from
    this machine or another; trials are children of the sweep's parent run, which this
    process neither starts nor ends.
    """
    items = [s.data if isinstance(s, LoadedSpec) else s for s in sources]
    plan = plan_sweep(*items, overrides=overrides)
    if join:
        return _join(plan, workers, on_trial)
    # Before the sweep folder, the study or a tracking run exist.
    check_spec(plan.base)
    deep_check(plan.base, full_data=False)  # each trial's run prepares the data in full
    manifest = _prepare_dir(plan, resume)
    study, storage = connect_study(plan, worker=0, create=True)
    fail_dead_trials(study, plan.sweep.heartbeat)
    _queue_grid(plan, study)
    n_workers = workers or plan.sweep.workers
    deadline = time.time() + plan.sweep.timeout if plan.sweep.timeout else None
    tracker, parent_run_id = _parent(plan, study, manifest)
    _write_manifest(plan, parent_run_id)
    with tracker:
        hook = _tracking_best(plan, study, tracker, on_trial)
        finished = _run_trials(plan, study, storage, n_workers, deadline, parent_run_id, hook)
        result = summarize_study(plan, study, "finished" if finished else "interrupted")
        write_json(plan.sweep_dir / RunDir.SUMMARY, result.to_json())
        _log_parent(tracker, plan, result, step=_finished(study))
        if not finished:
            tracker.finish("KILLED")
    log.debug("sweep %s: %s", plan.name, json.dumps(result.counts))
    return result
