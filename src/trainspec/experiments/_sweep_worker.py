"""A sweep's worker: claims trials from the study and runs them until the budget is spent.

The sweep command starts ``python -m trainspec.experiments._sweep_worker SWEEP_DIR WORKER
[DEADLINE]`` once per extra worker process; a one-worker sweep calls ``work`` in-process.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trainspec.experiments._sweep_plan import SweepPlan, plan_from_data
from trainspec.experiments._sweep_study import (
    claim_trial,
    heartbeat,
    make_pruner,
    make_sampler,
    open_storage,
    open_study,
    quiet_optuna,
    worker_seed,
)
from trainspec.experiments._sweep_trial import TrialOutcome, run_trial

if TYPE_CHECKING:
    import optuna
    from optuna.storages import BaseStorage
    from optuna.trial import FrozenTrial

__all__ = ["MANIFEST", "connect_study", "read_manifest", "work"]

log = logging.getLogger(__name__)

MANIFEST = "sweep.json"
ERROR_ATTR = "trainspec.error"


def read_manifest(sweep_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((sweep_dir / MANIFEST).read_text(encoding="utf-8"))
    return data


def connect_study(
    plan: SweepPlan, *, worker: int, create: bool
) -> tuple[optuna.Study, BaseStorage]:
    """The plan's study with this worker's sampler (seeded per worker and per resumption),
    and its storage."""
    storage = open_storage(plan.storage, plan.sweep.heartbeat)
    job = plan.base.job
    assert job is not None
    base_seed = plan.sweep.sampler.seed if plan.sweep.sampler.seed is not None else job.seed
    pruner = make_pruner(plan.sweep.pruner, prunes=plan.prunes, epochs=job.train.epochs)
    probe = open_study(
        storage,
        plan.name,
        plan.directions,
        make_sampler(plan.sweep.sampler, seed=base_seed),
        pruner,
        create=create,
    )
    # QMC draws one shared sequence, indexed by trial number: every worker keeps the seed.
    if plan.sweep.sampler.type == "qmc":
        return probe, storage
    seed = worker_seed(base_seed, worker, len(probe.get_trials(deepcopy=False)))
    if seed == base_seed:
        return probe, storage
    sampler = make_sampler(plan.sweep.sampler, seed=seed)
    study = open_study(storage, plan.name, plan.directions, sampler, pruner, create=False)
    return study, storage


def tell(study: optuna.Study, trial: optuna.Trial, outcome: TrialOutcome, max_retry: int) -> None:
    """Record the outcome. An interrupted trial is failed and queued again, like a dead one."""
    import optuna
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
            optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=max_retry)(study, frozen)


def work(
    plan: SweepPlan,
    *,
    worker: int,
    parent_run_id: str | None,
    deadline: float | None,
    on_trial: Callable[[FrozenTrial], None] | None = None,
) -> bool:
    """Claim and run trials until the budget or the deadline is reached.

    Returns False when a trial was interrupted (Ctrl-C, SIGTERM): the worker stops and the
    trial is queued again for the next run of the sweep.
    """
    study, storage = connect_study(plan, worker=worker, create=False)
    lock = plan.sweep_dir / ".claim.lock"
    max_retry = plan.sweep.heartbeat.max_retry
    while deadline is None or time.time() < deadline:
        trial = claim_trial(study, plan.sweep.n_trials, lock, worker)
        if trial is None:
            break
        try:
            # Trial ids (not numbers) key heartbeats; Optuna keeps them on the Trial only.
            with heartbeat(storage, trial._trial_id):
                outcome = run_trial(plan, trial, parent_run_id=parent_run_id)
        except KeyboardInterrupt:
            outcome = TrialOutcome("interrupted")
        tell(study, trial, outcome, max_retry)
        if on_trial is not None:
            on_trial(study.get_trials(deepcopy=True)[trial.number])
        if outcome.state == "interrupted":
            return False
    return True


def main(argv: list[str]) -> int:
    sweep_dir, worker = Path(argv[0]), int(argv[1])
    deadline = float(argv[2]) if len(argv) > 2 and argv[2] else None
    logging.basicConfig(
        level=logging.WARNING, format=f"[sweep worker {worker}] %(levelname)s %(message)s"
    )
    manifest = read_manifest(sweep_dir)
    plan = plan_from_data(manifest["spec"], files=manifest.get("files", ()), check=False)
    finished = work(
        plan, worker=worker, parent_run_id=manifest.get("parent_run_id"), deadline=deadline
    )
    return 0 if finished else 130


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
