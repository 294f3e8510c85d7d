"""The Optuna side: storage errors, the trial budget, dead workers, seeds, samplers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import optuna
import pytest
import torch
from optuna.trial import TrialState

from trainspec.experiments._sweep_study import (
    OWNER_ATTR,
    RUN_DIR_ATTR,
    THREADS_ATTR,
    SweepError,
    _new_trial,
    claim_trial,
    fail_dead_trials,
    make_pruner,
    make_sampler,
    open_storage,
    open_study,
    trial_seed,
    trials_used,
)
from trainspec.spec._schema_sweep import HeartbeatSpec, PrunerSpec, SamplerSpec

BEAT = HeartbeatSpec()


def _study(tmp: Path, url: str | None = None) -> optuna.Study:
    storage = open_storage(url or f"sqlite:///{tmp / 'study.db'}")
    return open_study(
        storage, "s", ["maximize"], make_sampler(SamplerSpec(type="random"), seed=0),
        make_pruner(PrunerSpec(type="none"), prunes=False, epochs=1), create=True,
    )  # fmt: skip


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_unreachable_storage_fails_before_any_trial(tmp_path: Path) -> None:
    with pytest.raises(SweepError) as err:
        open_storage(f"sqlite:///{tmp_path}/no/such/dir/study.db")
    assert "cannot open the sweep storage" in str(err.value)
    assert "sweep.storage" in str(err.value)


def test_missing_database_driver_names_the_package() -> None:
    with pytest.raises(SweepError, match="pip install psycopg2-binary"):
        open_storage("postgresql+psycopg2://user@127.0.0.1:1/db")


def test_journal_storage(tmp_path: Path) -> None:
    study = _study(tmp_path, f"journal:{tmp_path / 'study.journal'}")
    trial = study.ask()
    study.tell(trial, 1.0)
    assert (tmp_path / "study.journal").is_file()
    assert len(_study(tmp_path, f"journal:{tmp_path / 'study.journal'}").trials) == 1


def test_a_study_with_other_directions_is_refused(tmp_path: Path) -> None:
    _study(tmp_path)
    storage = open_storage(f"sqlite:///{tmp_path / 'study.db'}")
    with pytest.raises(SweepError, match="optimises"):
        open_study(storage, "s", ["minimize"], optuna.samplers.RandomSampler(),
                   optuna.pruners.NopPruner(), create=True)  # fmt: skip


def test_claims_stop_at_the_budget(tmp_path: Path) -> None:
    study = _study(tmp_path)
    lock = tmp_path / "lock"
    trials = [claim_trial(study, 3, lock, 0) for _ in range(4)]
    assert [t is not None for t in trials] == [True, True, True, False]
    first = trials[0]
    assert first is not None
    owner = first.user_attrs[OWNER_ATTR]
    assert owner["pid"] > 0 and owner["host"] and owner["worker"] == 0


def test_dead_workers_trials_are_failed_and_queued_again(tmp_path: Path) -> None:
    study = _study(tmp_path)
    lock = tmp_path / "lock"
    done = claim_trial(study, 3, lock, 0)
    assert done is not None
    done.suggest_float("x", 0, 1)
    study.tell(done, 0.5)
    lost = claim_trial(study, 3, lock, 0)
    assert lost is not None
    x = lost.suggest_float("x", 0, 1)
    owner = {**lost.user_attrs[OWNER_ATTR], "pid": _dead_pid(), "started": None}
    lost.set_user_attr(OWNER_ATTR, owner)  # as if its worker had been killed
    alive = claim_trial(study, 3, lock, 0)  # this process: alive, left alone
    assert alive is not None

    assert fail_dead_trials(study, BEAT) == [lost.number]
    states = [t.state for t in study.get_trials()]
    assert states == [TrialState.COMPLETE, TrialState.FAIL, TrialState.RUNNING, TrialState.WAITING]
    retry = study.get_trials()[3]
    assert retry.params == {"x": x} and retry.system_attrs["retry_history"] == [lost.number]
    # The retry stands in for the failed trial: the budget is spent, but the retry still runs.
    assert trials_used(study.get_trials()) == 3
    again = claim_trial(study, 3, lock, 0)
    assert again is not None and again.number == 3 and again.suggest_float("x", 0, 1) == x
    assert claim_trial(study, 3, lock, 0) is None


def test_a_failure_without_retry_counts_against_the_budget(tmp_path: Path) -> None:
    study = _study(tmp_path)
    trial = claim_trial(study, 2, tmp_path / "lock", 0)
    assert trial is not None
    study.tell(trial, state=TrialState.FAIL)
    assert trials_used(study.get_trials()) == 1


def test_trial_seeds() -> None:
    assert trial_seed(7, 0, 3) == trial_seed(7, 0, 3)  # a seeded sweep repeats its draws
    seeds = {trial_seed(7, w, n) for w in range(3) for n in (0, 5)}
    assert len(seeds) == 6
    assert trial_seed(8, 0, 3) != trial_seed(7, 0, 3)


@pytest.mark.parametrize("kind", ["grid", "random", "tpe", "cmaes", "qmc", "nsga2"])
def test_every_sampler_builds(kind: str) -> None:
    assert isinstance(make_sampler(SamplerSpec(type=kind), seed=1), optuna.samplers.BaseSampler)


def test_sampler_settings_are_checked() -> None:
    spec = SamplerSpec.model_validate({"type": "tpe", "n_startup_trail": 3})
    with pytest.raises(SweepError, match="does not take these settings"):
        make_sampler(spec, seed=0)


def test_pruners() -> None:
    hyper = make_pruner(PrunerSpec(type="hyperband"), prunes=True, epochs=9)
    assert isinstance(hyper, optuna.pruners.HyperbandPruner)
    median = make_pruner(PrunerSpec.model_validate({"type": "median", "n_warmup_steps": 2}),
                         prunes=True, epochs=9)  # fmt: skip
    assert isinstance(median, optuna.pruners.MedianPruner)
    off = make_pruner(PrunerSpec(type="median"), prunes=False, epochs=9)
    assert isinstance(off, optuna.pruners.NopPruner)


class _Clock:
    """A study clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_a_trial_whose_heartbeat_stops_is_failed_and_queued_again(tmp_path: Path) -> None:
    from trainspec.experiments._sweep_study import BEAT_ATTR, heartbeat

    beat = HeartbeatSpec(interval=1, grace_period=2, max_retry=1)
    clock = _Clock()
    storage = open_storage(f"sqlite:///{tmp_path / 'study.db'}")
    study = open_study(storage, "s", ["maximize"], optuna.samplers.RandomSampler(seed=0),
                       optuna.pruners.NopPruner(), create=True)  # fmt: skip
    trial = claim_trial(study, 5, tmp_path / "lock", 0)
    assert trial is not None
    trial.suggest_int("n", 1, 9)
    with heartbeat(storage, trial._trial_id, beat, clock=clock):
        pass  # one beat, at once
    assert study.get_trials()[0].system_attrs[BEAT_ATTR] == clock.now
    clock.now += beat.grace_period  # silent for the grace period: not yet dead
    assert fail_dead_trials(study, beat, clock=clock) == []  # and this process lives
    clock.now += 1  # past it: another host would see it dead
    assert fail_dead_trials(study, beat, clock=clock) == [0]
    states = [t.state for t in study.get_trials()]
    assert states == [TrialState.FAIL, TrialState.WAITING]
    assert study.get_trials()[1].params == trial.params


def test_the_study_clock_of_a_database_is_the_databases(tmp_path: Path) -> None:
    import time

    from trainspec.experiments._sweep_study import study_clock

    storage = open_storage(f"sqlite:///{tmp_path / 'study.db'}")
    # SQLite's clock is UTC with whole seconds: within a few seconds of this host's
    assert abs(study_clock(storage)() - time.time()) < 5
    assert study_clock(open_storage(f"journal:{tmp_path / 'j.log'}")) is time.time


def test_an_unsigned_running_trial_is_dead_after_the_grace_period() -> None:
    import datetime as dt

    from trainspec.experiments._sweep_study import _is_dead

    def running(age: float, owner: dict[str, object] | None) -> optuna.trial.FrozenTrial:
        trial = optuna.trial.create_trial(state=TrialState.RUNNING)
        trial.datetime_start = dt.datetime.now() - dt.timedelta(seconds=age)
        if owner is not None:
            trial.set_user_attr(OWNER_ATTR, owner)
        return trial

    assert not _is_dead(running(5, None), "h", grace=60)  # may be signing itself right now
    assert _is_dead(running(61, None), "h", grace=60)
    assert not _is_dead(running(600, {"host": "other", "pid": 1}), "h", grace=60)
    assert _is_dead(running(0, {"host": "h", "pid": _dead_pid()}), "h", grace=60)


def test_workers_of_one_host_claim_under_a_file_lock(tmp_path: Path) -> None:
    from filelock import FileLock, Timeout

    from trainspec.experiments._sweep_study import claim_lock

    lock = tmp_path / "sweep" / "claim.lock"
    # A storage without a PostgreSQL engine; another worker process meets the Timeout.
    with claim_lock(object(), "s", lock), pytest.raises(Timeout):
        FileLock(lock).acquire(timeout=0)
    with FileLock(lock, timeout=0):  # released once the claim is made
        pass


def test_a_sqlite_study_is_in_write_ahead_log_mode_and_read_by_plain_clients(
    tmp_path: Path,
) -> None:
    import sqlite3

    study = _study(tmp_path)
    study.tell(study.ask(), 1.0)
    with sqlite3.connect(tmp_path / "study.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    # a second process's plain Optuna client sees the committed trial
    code = (
        "import optuna, sys; s = optuna.load_study(study_name='s', storage=sys.argv[1]); "
        "print(len(s.trials), s.trials[0].value)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, f"sqlite:///{tmp_path / 'study.db'}"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert out.stdout.split() == ["1", "1.0"]


def test_a_new_trial_is_created_signed_and_its_sampler_seeded_for_its_number(
    tmp_path: Path,
) -> None:
    """A new trial carries its owner from the write that creates it (a worker killed at any
    moment leaves no running trial without one), and the sampler is reseeded for its number
    before anything is drawn."""
    study = _study(tmp_path)
    seeded: list[int] = []
    first = claim_trial(study, 5, tmp_path / "lock", 0, seeded.append)
    second = claim_trial(study, 5, tmp_path / "lock", 0, seeded.append)
    assert first is not None and second is not None
    assert seeded == [0, 1] and [first.number, second.number] == [0, 1]
    for frozen in study.get_trials():
        assert frozen.state == TrialState.RUNNING and frozen.datetime_start is not None
        assert frozen.user_attrs[OWNER_ATTR]["worker"] == 0
        assert frozen.user_attrs[THREADS_ATTR] == torch.get_num_threads()


@pytest.mark.parametrize("kind", ["sqlite", "journal"])
def test_a_new_trial_records_its_run_folder_in_the_write_that_creates_it(
    tmp_path: Path, kind: str
) -> None:
    url = f"journal:{tmp_path / 'study.log'}" if kind == "journal" else None
    study = _study(tmp_path, url)
    folder = lambda number: tmp_path / "trials" / f"{number:04d}"  # noqa: E731
    seeded: list[int] = []
    for _ in range(2):
        claim_trial(study, 5, tmp_path / "lock", 0, seeded.append, folder)
    assert seeded == [0, 1]
    for frozen in study.get_trials():
        assert frozen.user_attrs[RUN_DIR_ATTR] == str(folder(frozen.number))


def test_a_trial_numbered_otherwise_than_counted_gets_its_own_folder(tmp_path: Path) -> None:
    """Another process may add a trial between the count under the claim lock and the
    creation (a sweep starting, queueing grid points): the folder follows the real number."""
    study = _study(tmp_path)
    folder = lambda number: tmp_path / f"t{number}"  # noqa: E731
    trial = _new_trial(study, {"worker": 0}, None, folder, expected=3)
    assert trial.number == 0
    assert study.get_trials()[0].user_attrs[RUN_DIR_ATTR] == str(folder(0))


def test_a_claimed_trial_has_its_first_heartbeat_and_the_worker_sends_the_next(
    tmp_path: Path,
) -> None:
    """With the study's clock a claim records the trial's first heartbeat (a new trial in the
    write that creates it, a queued one beside its owner), so the worker's heartbeat starts
    an interval later; without a claim's beat it beats at once."""
    from trainspec.experiments._sweep_study import BEAT_ATTR, heartbeat

    beat = HeartbeatSpec(interval=30, grace_period=60, max_retry=1)
    clock = _Clock()
    study = _study(tmp_path)
    new = claim_trial(study, 5, tmp_path / "lock", 0, clock=clock)
    assert new is not None
    assert study.get_trials()[0].system_attrs[BEAT_ATTR] == clock.now
    study.enqueue_trial({"n": 3})
    clock.now += 5
    queued = claim_trial(study, 5, tmp_path / "lock", 0, clock=clock)
    assert queued is not None and queued.number == 1
    assert study.get_trials()[1].system_attrs[BEAT_ATTR] == clock.now
    storage = study._storage
    clock.now += 5
    with heartbeat(storage, new._trial_id, beat, clock=clock, first=False):
        pass  # ends before the interval: the claim's beat stands
    assert study.get_trials()[0].system_attrs[BEAT_ATTR] == clock.now - 10
    with heartbeat(storage, new._trial_id, beat, clock=clock):
        pass  # a first beat at once
    assert study.get_trials()[0].system_attrs[BEAT_ATTR] == clock.now
