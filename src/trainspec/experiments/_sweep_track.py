"""A sweep as its tracker shows it.

The parent run holds the search space under readable names (``space.train.optimizer.lr`` =
``loguniform(0.0001, 0.1)``), the base spec without the searched values, the sweep's settings,
and the best trial once one is known (tags ``trainspec.best_trial`` and ``best.<key>``, metrics
``best/<metric>``). Each trial is a child run named ``<sweep>-trial-NNNN`` with the values it
drew (``space.<key>``) and a ``trainspec.trial_state`` tag: RUNNING while it runs, then
COMPLETE, PRUNED or FAIL. The best trial's MLflow model is logged when the sweep ends.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from trainspec.files import RunDir
from trainspec.tracking import TRIAL_STATE_TAG

if TYPE_CHECKING:
    from trainspec.experiments._sweep_plan import SweepPlan
    from trainspec.tracking import Tracker

__all__ = [
    "TRIAL_STATE_TAG",
    "log_best",
    "log_best_models",
    "mark_trial",
    "parent_params",
    "trial_pruned",
    "trial_run_name",
    "trial_tags",
]

log = logging.getLogger(__name__)

TrialState = Literal["COMPLETE", "PRUNED", "FAIL"]


def parent_params(plan: SweepPlan) -> dict[str, str]:
    """The parent run's parameters: the base spec less the searched keys (a value no trial
    used is not logged), the sweep's settings, and each searched key's range."""
    from trainspec.tracking import spec_params

    # Validated, so that shorthands read in full (sampler: tpe -> sweep.sampler.type).
    settings = plan.sweep.model_dump(mode="json", exclude={"params"}, exclude_none=True)
    return {
        **spec_params(plan.space.without(plan.base.data)),
        **spec_params({"sweep": settings}),
        **plan.space.described(),
    }


def trial_run_name(plan: SweepPlan, number: int) -> str:
    return f"{plan.name}-trial-{number:04d}"


def trial_tags(plan: SweepPlan, number: int) -> dict[str, str]:
    return {
        "trainspec.sweep": plan.name,
        "trainspec.trial": str(number),
        TRIAL_STATE_TAG: "RUNNING",
    }


def tracker_run_id(run_dir: str | Path | None) -> str | None:
    """The tracker run id a run directory recorded, or None."""
    if run_dir is None:
        return None
    record = RunDir(Path(run_dir)).read_or(RunDir.TRACKING)
    run_id = record.get("run_id") if isinstance(record, dict) else None
    return str(run_id) if run_id else None


# -- trials ---------------------------------------------------------------------------------


@functools.cache
def _pruned_class() -> type[Exception]:
    import optuna

    from trainspec.tracking import StopRun

    class TrialPrunedRun(optuna.TrialPruned, StopRun):
        """optuna's ``TrialPruned`` that ends the trial's tracker run on purpose."""

    return TrialPrunedRun


def trial_pruned(message: str) -> Exception:
    """The exception a pruner raises to stop a trial: optuna's ``TrialPruned``, and a
    ``StopRun`` that ends the trial's tracker run FINISHED with the state PRUNED set before it
    ends (wandb cannot change an offline run afterwards)."""
    return _pruned_class()(message, tags={TRIAL_STATE_TAG: "PRUNED"})  # type: ignore[call-arg]


def mark_trial(
    plan: SweepPlan,
    run_dir: Path,
    *,
    number: int,
    state: TrialState,
    drawn: Mapping[str, str],
    parent_run_id: str | None,
    error: str | None = None,
) -> None:
    """Set the trial's final state on its tracker run. A pruned run ends FINISHED (it was
    stopped on purpose). Backends whose ended runs cannot change (wandb) set the state as the
    run ends instead (``StopRun``, ``WandbTracker``). A trial that failed before its run
    started (a spec its values made invalid) gets a FAILED run of its own, so that every trial
    shows under the sweep."""
    try:
        run_id = tracker_run_id(run_dir)
        if run_id is not None:
            _retag(plan, run_id, state)
        elif state == "FAIL":
            _failed_run(plan, run_dir, number, drawn, parent_run_id, error)
    except Exception as exc:  # the trial's state is in the study either way
        log.warning("could not record trial %d as %s in the tracker: %s", number, state, exc)


def _retag(plan: SweepPlan, run_id: str, state: TrialState) -> None:
    from trainspec.tracking import MlflowTracker

    tracker = _tracker(plan)
    if not isinstance(tracker, MlflowTracker):
        return  # other backends keep the state the run started with
    client = tracker.connect()
    client.set_tag(run_id, TRIAL_STATE_TAG, state)
    if state == "PRUNED":
        client.set_terminated(run_id, "FINISHED")


def _failed_run(
    plan: SweepPlan,
    run_dir: Path,
    number: int,
    drawn: Mapping[str, str],
    parent_run_id: str | None,
    error: str | None,
) -> None:
    tracker = _tracker(plan)
    tags = {**trial_tags(plan, number), TRIAL_STATE_TAG: "FAIL"}
    if error:
        tags["trainspec.error"] = error[:1000]
    tracker.start(
        run_name=trial_run_name(plan, number),
        run_dir=run_dir,
        tags=tags,
        params=dict(drawn),
        parent_run_id=parent_run_id,
    )
    tracker.finish("FAILED")


def _tracker(plan: SweepPlan) -> Tracker:
    from trainspec.tracking import create_tracker

    job = plan.base.job
    assert job is not None
    return create_tracker(job.tracking, runs_root=Path(job.run.root), job_name=job.name)


# -- the parent -----------------------------------------------------------------------------


def log_best(
    tracker: Tracker, plan: SweepPlan, best: Sequence[Mapping[str, Any]], *, step: int
) -> None:
    """The best trial (``best``: ``trial_record``s) on the parent run: its number, run id and
    values, and the values it drew as ``best.<key>`` tags (tags, as the best trial changes
    while the sweep runs). With several objectives, the Pareto front's trial numbers."""
    if len(best) > 1:
        tracker.set_tags({"trainspec.best_trials": ", ".join(str(r["number"]) for r in best)})
        return
    if not best:
        return
    record = best[0]
    tags = {"trainspec.best_trial": str(record["number"])}
    run_id = tracker_run_id(record.get("run_dir"))
    if run_id is not None:
        tags["trainspec.best_run_id"] = run_id
    for key, value in plan.space.drawn(record["params"]).items():
        tags["best." + key.removeprefix("space.")] = value
    tracker.set_tags(tags)
    metrics = {f"best/{m}": float(v) for m, v in record["values"].items()}
    tracker.log_metrics(metrics, step=step)


def log_best_models(tracker: Tracker, plan: SweepPlan, best: Sequence[Mapping[str, Any]]) -> None:
    """Log the best trial's model as an MLflow model of its run (``sweep.log_models: best``),
    unless it has one already (a resumed sweep's best of before, or ``log_models: all``)."""
    from trainspec.experiments._runlog import run_log
    from trainspec.experiments._runs import has_mlflow_model
    from trainspec.experiments._tracked import log_mlflow_model
    from trainspec.tracking import MlflowTracker

    job = plan.base.job
    assert job is not None
    if plan.sweep.log_models != "best" or not job.tracking.log_artifacts:
        return
    if not isinstance(tracker, MlflowTracker):
        return
    for record in best:
        run_dir = Path(str(record.get("run_dir")))
        run_id = tracker_run_id(run_dir)
        if run_id is None:
            continue
        try:
            with run_log(run_dir, mlflow=True):  # MLflow's notes go to the trial's log
                if not has_mlflow_model(tracker.connect(), run_id):
                    log_mlflow_model(tracker, run_dir, run_id=run_id)
        except Exception as exc:  # the sweep's results stand without it; promote logs it later
            log.warning("could not log the model of trial %s: %s", record["number"], exc)
