"""One trial of a sweep: its spec, a normal run, the pruning callback, its objective values."""

from __future__ import annotations

import logging
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from trainspec.engine import Callback
from trainspec.errors import TrainspecError
from trainspec.experiments._run import RunResult, run_experiment
from trainspec.experiments._rundir import summarize_history
from trainspec.experiments._sweep_plan import PARAMS_METRIC, Goal, SweepPlan, direction_of
from trainspec.experiments._sweep_study import RUN_DIR_ATTR, THREADS_ATTR
from trainspec.experiments._sweep_track import (
    TrialState,
    mark_trial,
    trial_pruned,
    trial_run_name,
    trial_tags,
)
from trainspec.files import RunDir, skip_fsync
from trainspec.spec import LoadedSpec, load_spec

if TYPE_CHECKING:
    import optuna

__all__ = ["PruneCallback", "TrialOutcome", "objective_values", "run_trial"]


log = logging.getLogger(__name__)

State = Literal["complete", "pruned", "failed", "interrupted"]


@dataclass
class TrialOutcome:
    state: State
    values: list[float] = field(default_factory=list)
    run_dir: Path | None = None
    error: str | None = None


class PruneCallback(Callback):
    """Reports the metric after every epoch and stops a trial the pruner gives up on.

    Folds of a cross-validation continue the step count (fold 1's first epoch is step
    ``epochs + 1``), so trials are compared at the same point of their training.
    """

    def __init__(self, trial: optuna.Trial, metric: str) -> None:
        self.trial = trial
        self.metric = metric
        self.step = 0

    def on_epoch_end(self, row: Mapping[str, float]) -> None:
        self.step += 1
        value = row.get(self.metric)
        if value is None or not math.isfinite(value):
            return
        self.trial.report(float(value), self.step)
        if self.trial.should_prune():
            raise trial_pruned(f"pruned at step {self.step}: {self.metric}={value:.6g}")


def _histories(result: RunResult) -> list[list[dict[str, Any]]]:
    if result.folds:
        return [list(f["history"]) for f in result.folds]
    return [list(result.history)]


def _pick(history: Sequence[Mapping[str, Any]], goal: Goal, mode: str) -> float:
    values = [float(r[goal.metric]) for r in history if goal.metric in r]
    values = [v for v in values if math.isfinite(v)]
    if not values:
        raise TrainspecError(
            f"the trial's history has no finite value of {goal.metric!r} (keys: "
            f"{sorted(set().union(*(r.keys() for r in history))) if history else 'none'})"
        )
    if mode == "final":
        return values[-1]
    return max(values) if goal.direction == "maximize" else min(values)


def _test_value(result: RunResult, name: str) -> float:
    parts = result.folds if result.folds else [result.summary]
    tests = [p.get("test", {}) for p in parts]
    values = [float(t[name]) for t in tests if name in t]
    if not values:
        raise TrainspecError(f"the trial has no test value of {name!r}")
    return statistics.fmean(values)


def count_parameters(run_dir: Path) -> int:
    """Parameters of the trained model saved in the run (fold 0's for a cross-validation)."""
    from trainspec.models import load_model

    model_dir = RunDir(run_dir).model
    if not model_dir.is_dir():
        model_dir = RunDir(run_dir).fold(0).model
    model = load_model(model_dir)
    count = model.n_parameters
    if count is None:
        raise TrainspecError(
            f"objective 'params' counts a torch model's parameters; this job trains a "
            f"{model.kind_label}"
        )
    return count


def objective_values(result: RunResult, goals: Sequence[Goal], mode: str) -> list[float]:
    """Each goal's value: the best (or final) epoch's; the mean over folds for k-fold."""
    out = []
    for goal in goals:
        if goal.metric == PARAMS_METRIC:
            out.append(float(count_parameters(result.run_dir)))
        elif goal.metric.startswith("test/"):
            out.append(_test_value(result, goal.metric.removeprefix("test/")))
        else:
            out.append(statistics.fmean(_pick(h, goal, mode) for h in _histories(result)))
    return out


def _finish_pruned(loaded: LoadedSpec, run_dir: Path, reason: str) -> None:
    """A pruned trial keeps a summary (status pruned); its tracker run ends FINISHED with
    ``trainspec.trial_state`` PRUNED (``mark_trial``), not FAILED."""
    rows = RunDir(run_dir).read_metrics()
    job = loaded.job
    assert job is not None
    monitor = job.train.monitor.metric
    mode = job.train.monitor.mode
    if mode == "auto":
        mode = "min" if direction_of(monitor, None, loaded) == "minimize" else "max"
    summary = summarize_history(rows, monitor=monitor, mode=mode)
    summary.update({"status": "pruned", "spec_hash": loaded.hash, "reason": reason})
    RunDir(run_dir).write(RunDir.SUMMARY, summary)


_TRACKED_STATES: dict[State, TrialState] = {
    "complete": "COMPLETE",
    "pruned": "PRUNED",
    "failed": "FAIL",
    "interrupted": "FAIL",  # Optuna fails it, and queues it again
}


def run_trial(plan: SweepPlan, trial: optuna.Trial, *, parent_run_id: str | None) -> TrialOutcome:
    """Run ``trial`` as a normal run in ``plan.trial_dir(trial.number)``: a child of the
    sweep's tracker run, named after the sweep and the trial, with its final state tagged.

    The run's files are written atomically but not fsynced: the study's record of the trial
    (parameters, values, state) is the durable one; a process that dies loses nothing it
    wrote, and only a power cut can take a trial's files (run it again to have them)."""
    values = plan.space.decode(plan.space.suggest(trial))
    run_dir = plan.trial_dir(trial.number)
    # A new trial has it from its creation; a queued one (a grid point, or a retry that
    # copied the failed trial's attributes) gets its own here.
    if trial.user_attrs.get(RUN_DIR_ATTR) != str(run_dir):
        trial.set_user_attr(RUN_DIR_ATTR, str(run_dir))
    drawn = plan.space.drawn(values)
    try:
        with skip_fsync():
            outcome = _run(plan, trial, values, run_dir, parent_run_id)
    except KeyboardInterrupt:
        mark_trial(
            plan,
            run_dir,
            number=trial.number,
            state="FAIL",
            drawn=drawn,
            parent_run_id=parent_run_id,
            error="interrupted",
        )
        raise
    state = _TRACKED_STATES[outcome.state]
    mark_trial(
        plan,
        run_dir,
        number=trial.number,
        state=state,
        drawn=drawn,
        parent_run_id=parent_run_id,
        error=outcome.error,
    )
    return outcome


def _run(
    plan: SweepPlan,
    trial: optuna.Trial,
    values: dict[str, Any],
    run_dir: Path,
    parent_run_id: str | None,
) -> TrialOutcome:
    import optuna

    try:
        loaded = load_spec(plan.trial_run_data(values))
    except TrainspecError as exc:
        return TrialOutcome("failed", run_dir=run_dir, error=str(exc))
    callbacks = [PruneCallback(trial, plan.goals[0].metric)] if plan.prunes else []
    try:
        result = run_experiment(
            loaded,
            run_dir=run_dir,
            progress="none",
            callbacks=callbacks,
            parent_run_id=parent_run_id,
            tags=trial_tags(plan, trial.number),
            run_name=trial_run_name(plan, trial.number),
            params=plan.space.drawn(values),
            log_model=plan.sweep.log_models == "all",
            # The sweep's pre-flight built the base spec's model; train.* keys cannot change it.
            check_model=not plan.space.keeps_model,
        )
    except optuna.TrialPruned as exc:
        _finish_pruned(loaded, run_dir, str(exc))
        return TrialOutcome("pruned", run_dir=run_dir, error=str(exc))
    except Exception as exc:
        log.warning("trial %d failed: %s: %s", trial.number, type(exc).__name__, exc)
        log.debug("trial %d traceback", trial.number, exc_info=True)
        return TrialOutcome("failed", run_dir=run_dir, error=f"{type(exc).__name__}: {exc}")
    import torch

    # CPU numbers repeat exactly only with the same number of threads. A new trial has the
    # count from its creation; a queued one (a grid point, or a retry that copied the failed
    # trial's attributes) gets this worker's here.
    threads = torch.get_num_threads()
    if trial.user_attrs.get(THREADS_ATTR) != threads:
        trial.set_user_attr(THREADS_ATTR, threads)
    if result.status == "interrupted":
        return TrialOutcome("interrupted", run_dir=run_dir)
    try:
        scores = objective_values(result, plan.goals, plan.sweep.value)
    except TrainspecError as exc:
        return TrialOutcome("failed", run_dir=run_dir, error=str(exc))
    return TrialOutcome("complete", scores, run_dir=run_dir)
