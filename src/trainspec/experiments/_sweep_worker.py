"""A sweep's worker: claims trials from the study and runs them until the budget is spent.

A many-worker sweep starts ``python -m trainspec.experiments._sweep_main SWEEP_DIR WORKER
[DEADLINE]`` per worker; a one-worker sweep calls ``work`` in-process.
"""

from __future__ import annotations

import gc
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trainspec.experiments._preflight import reusing_data
from trainspec.experiments._rundir import git_state_once
from trainspec.experiments._sweep_plan import SweepPlan
from trainspec.experiments._sweep_study import (
    SweepError,
    claim_trial,
    heartbeat,
    make_pruner,
    make_sampler,
    open_storage,
    open_study,
    quiet_optuna,
    retry_callback,
    study_clock,
    trial_seed,
)

if TYPE_CHECKING:
    import optuna
    from optuna.storages import BaseStorage
    from optuna.trial import FrozenTrial

    from trainspec.experiments._sweep_trial import TrialOutcome

__all__ = ["MANIFEST", "connect_study", "read_manifest", "work"]

log = logging.getLogger(__name__)

MANIFEST = "sweep.json"
ERROR_ATTR = "trainspec.error"


def read_manifest(sweep_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((sweep_dir / MANIFEST).read_text(encoding="utf-8"))
    return data


def _base_seed(plan: SweepPlan) -> int:
    job = plan.base.job
    assert job is not None
    return plan.sweep.sampler.seed if plan.sweep.sampler.seed is not None else job.seed


def connect_study(
    plan: SweepPlan, *, worker: int, create: bool
) -> tuple[optuna.Study, BaseStorage]:
    """The plan's study and its storage. ``create``: make the study unless it exists;
    otherwise join it (a ``SweepError`` when there is none)."""
    storage = open_storage(plan.storage)
    job = plan.base.job
    assert job is not None
    pruner = make_pruner(plan.sweep.pruner, prunes=plan.prunes, epochs=job.train.epochs)
    sampler = make_sampler(plan.sweep.sampler, seed=_base_seed(plan))
    try:
        study = open_study(storage, plan.name, plan.directions, sampler, pruner, create=create)
    except KeyError:
        raise SweepError(
            f"there is no study {plan.name!r} in the sweep storage {plan.storage!r} to join: "
            "start the sweep with `trainspec sweep SPEC` (without --worker) first, and give "
            "every worker the same sweep.name and sweep.storage"
        ) from None
    return study, storage


def sampler_streams(plan: SweepPlan, study: optuna.Study, worker: int) -> Callable[[int], None]:
    """``reseed(number)``: the study's sampler seeded for trial ``number`` of this worker
    (from ``sweep.seed``, the worker and the trial number), so that processes sharing the
    study draw distinct parameters."""
    base = _base_seed(plan)

    def reseed(number: int) -> None:
        # QMC draws one shared low-discrepancy sequence, indexed by trial number.
        if plan.sweep.sampler.type != "qmc":
            study.sampler = make_sampler(plan.sweep.sampler, seed=trial_seed(base, worker, number))

    return reseed


def tell(study: optuna.Study, trial: optuna.Trial, outcome: TrialOutcome, max_retry: int) -> None:
    """Record the outcome. An interrupted trial is failed and queued again, like a dead one."""
    from optuna.trial import TrialState

    with quiet_optuna():
        if outcome.state == "complete":
            study.tell(trial, outcome.values)
            return
        if outcome.error:
            trial.set_user_attr(ERROR_ATTR, outcome.error[:2000])
        if outcome.state == "pruned":
            study.tell(trial, state=TrialState.PRUNED)
            return
        study.tell(trial, state=TrialState.FAIL)
        if outcome.state == "interrupted":
            frozen = study.get_trials(deepcopy=True)[trial.number]
            retry_callback(max_retry)(study, frozen)


def work(
    plan: SweepPlan,
    *,
    worker: int,
    parent_run_id: str | None,
    deadline: float | None,
    on_trial: Callable[[FrozenTrial], None] | None = None,
    study: tuple[optuna.Study, BaseStorage] | None = None,
) -> bool:
    """Claim and run trials until the budget or the deadline is reached.

    Returns False when a trial was interrupted (Ctrl-C, SIGTERM): the worker stops and the
    trial is queued again for the next run of the sweep. ``study`` (and its storage) is the
    one already open in this process, if any.
    """
    # Trials import torch; the coordinator of a many-worker sweep never needs it.
    from trainspec.experiments._sweep_trial import TrialOutcome, run_trial

    opened, storage = study or connect_study(plan, worker=worker, create=False)
    lock = plan.sweep_dir / ".claim.lock"
    budget = plan.budget
    max_retry = plan.sweep.heartbeat.max_retry
    reseed = sampler_streams(plan, opened, worker)
    clock = study_clock(storage)  # a claimed trial has its first heartbeat from the claim
    # What the process holds now (modules, classes, the study) lives as long as it does. Out
    # of the collector's sight, a full collection scans only what the trials make: with
    # torch, Optuna and MLflow loaded, 20 ms instead of 220 ms, which a trial paid whenever
    # the objects it left behind set one off.
    gc.freeze()
    # Every trial's environment.json records the git state the worker started in; trials
    # that leave the data as it was train on the data the trial before them prepared.
    with git_state_once(), reusing_data():
        while deadline is None or time.time() < deadline:
            trial = claim_trial(opened, budget, lock, worker, reseed, plan.trial_dir, clock)
            if trial is None:
                break
            try:
                # Trial ids (not numbers) key heartbeats; Optuna keeps them on the Trial only.
                with heartbeat(
                    storage, trial._trial_id, plan.sweep.heartbeat, clock=clock, first=False
                ):
                    outcome = run_trial(plan, trial, parent_run_id=parent_run_id)
            except KeyboardInterrupt:
                outcome = TrialOutcome("interrupted")
            tell(opened, trial, outcome, max_retry)
            if on_trial is not None:
                on_trial(opened.get_trials(deepcopy=False)[trial.number])
            if outcome.state == "interrupted":
                return False
        return True
