"""The Optuna side of a sweep: storage, sampler, pruner, the trial budget, dead workers.

Optuna is imported lazily, inside these functions; it is an optional extra
(``pip install 'trainspec[sweep]'``).
"""

from __future__ import annotations

import contextlib
import copy
import datetime as _dt
import hashlib
import importlib.util
import logging
import os
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from filelock import FileLock

from trainspec.errors import TrainspecError
from trainspec.spec import HeartbeatSpec, PrunerSpec, SamplerSpec, SweepSpec
from trainspec.tracking import host_name, process_alive, process_started

if TYPE_CHECKING:
    import optuna
    from optuna.storages import BaseStorage
    from optuna.trial import FrozenTrial

__all__ = [
    "BEAT_ATTR",
    "OWNER_ATTR",
    "RUN_DIR_ATTR",
    "THREADS_ATTR",
    "Clock",
    "SweepError",
    "claim_lock",
    "claim_trial",
    "fail_dead_trials",
    "heartbeat",
    "make_pruner",
    "make_sampler",
    "open_storage",
    "open_study",
    "require_optuna",
    "retry_callback",
    "storage_url",
    "study_clock",
    "trial_seed",
    "trials_used",
]

log = logging.getLogger(__name__)

# The worker running a trial: {"host", "pid", "started", "worker"}, one attribute (one write).
OWNER_ATTR = "trainspec.owner"
RUN_DIR_ATTR = "trainspec.run_dir"
# torch's intra-op thread count in the worker that ran the trial: CPU results repeat exactly
# only with the same count (``sweep best`` prints it).
THREADS_ATTR = "trainspec.torch_threads"
# A running trial's last heartbeat: seconds on its study's clock (a trial system attribute).
BEAT_ATTR = "trainspec.heartbeat"
# Seconds on a timeline every worker of a study shares; injected by tests.
Clock = Callable[[], float]


class SweepError(TrainspecError):
    """A sweep that cannot start or go on: bad storage, a changed spec, no study to resume."""


def require_optuna() -> None:
    try:
        import optuna  # noqa: F401
    except ImportError:
        raise SweepError("sweeps need Optuna: pip install 'trainspec[sweep]'") from None


@contextlib.contextmanager
def quiet_optuna() -> Iterator[None]:
    """Optuna's experimental-feature and ask-with-heartbeat warnings say nothing a user can act
    on here: heartbeats are sent by ``heartbeat`` below, not by ``Study.optimize``."""
    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        warnings.filterwarnings("ignore", message=".*Heartbeat of storage.*")
        warnings.filterwarnings("ignore", message=".*RetryFailedTrialCallback.*")
        yield


# -- storage ------------------------------------------------------------------------------


def storage_url(spec: SweepSpec, sweep_dir: Path) -> str:
    """The spec's storage, else a SQLite file in the sweep folder."""
    if spec.storage:
        return spec.storage
    return "sqlite:///" + (sweep_dir.resolve() / "study.db").as_posix()


def _engine_kwargs(url: str) -> dict[str, Any]:
    if url.startswith("sqlite"):
        # Several worker processes write the file; wait for the lock instead of failing.
        return {"connect_args": {"timeout": 60}}
    if url.startswith(("postgresql", "mysql")):
        return {"connect_args": {"connect_timeout": 10}, "pool_pre_ping": True}
    return {}


def _driver_hint(url: str, exc: BaseException) -> str:
    if not isinstance(exc, ImportError):
        return ""
    scheme = url.split("://", 1)[0]
    package = None
    if scheme in ("postgresql", "postgresql+psycopg"):
        # psycopg 3 is in trainspec[sweep]; SQLAlchemy before 2.1 reads a bare postgresql://
        # as psycopg2, hence the explicit driver in the URL.
        return (
            "; install the database driver (pip install 'trainspec[sweep]' has it) and name it "
            "in the URL: postgresql+psycopg://USER@HOST:PORT/DB"
        )
    if scheme.startswith("postgresql+psycopg2"):
        package = "psycopg2-binary"
    elif scheme.startswith("mysql"):
        package = "pymysql"
    if package is None:
        return "; install the database driver that the URL names"
    return f"; install the database driver: pip install {package}"


def retry_callback(max_retry: int) -> Callable[[optuna.Study, FrozenTrial], None]:
    """Queues a failed trial again with its parameters (up to ``max_retry`` times), without
    its old owner: the worker that takes it signs it."""
    import optuna

    with quiet_optuna():
        queue = optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=max_retry)

    def retry(study: optuna.Study, trial: FrozenTrial) -> None:
        unsigned = copy.deepcopy(trial)
        unsigned.user_attrs.pop(OWNER_ATTR, None)
        with quiet_optuna():
            queue(study, unsigned)

    return retry


def open_storage(url: str) -> BaseStorage:
    """An Optuna storage for ``url`` (a SQL URL, or ``journal:PATH``); raises SweepError at
    once if it cannot be opened. Heartbeats (``heartbeat``) work on either kind."""
    require_optuna()
    try:
        with quiet_optuna():
            if url.startswith("journal:"):
                from optuna.storages.journal import JournalFileBackend, JournalStorage

                path = Path(url.removeprefix("journal:"))
                path.parent.mkdir(parents=True, exist_ok=True)
                return JournalStorage(JournalFileBackend(str(path)))
            return _rdb_storage(url)
    except Exception as exc:
        first_line = str(exc).splitlines()[0] if str(exc) else ""
        raise SweepError(
            f"cannot open the sweep storage {url!r} (sweep.storage): {type(exc).__name__}: "
            f"{first_line}{_driver_hint(url, exc)}. Check the URL, that the database server "
            "runs and accepts this user, or remove sweep.storage to use a SQLite file in the "
            "sweep folder"
        ) from None


def _rdb_storage(url: str) -> BaseStorage:
    import optuna

    # Processes that open a new database at the same moment race to create its tables and
    # stamp its schema version. On a SQLite file they take turns under a lock beside it; on a
    # server the loser finds the tables made and tries again.
    path = Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite:///") else None
    # (a missing folder is left for SQLite to report, not made by the lock)
    lock = (
        FileLock(path.with_name(path.name + ".lock"))
        if path is not None and path.parent.is_dir() and path.name != ":memory:"
        else contextlib.nullcontext()
    )
    with lock:
        for attempt in range(5):
            try:
                storage = optuna.storages.RDBStorage(url, engine_kwargs=_engine_kwargs(url))
                if path is not None:
                    _write_ahead_log(storage)
                return storage
            except Exception as exc:
                if not any(m in str(exc) for m in _RACES) or attempt == 4:
                    raise
                time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


_RACES = ("already exists", "duplicate key", "UNIQUE constraint")


def _write_ahead_log(storage: Any) -> None:
    """Put a SQLite study in write-ahead-log mode, synced at checkpoints (``PRAGMA
    synchronous=NORMAL``): a commit no longer waits for the disk (a trial makes several), a
    crashed or killed process loses nothing, and a power cut can only undo the last commits,
    never damage the file. Readers and writers of one machine no longer block each other.
    The mode stays with the file (``study.db-wal`` and ``-shm`` appear beside it while it is
    open); plain Optuna and SQLite clients read it as before."""
    from sqlalchemy import event

    def configure(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        finally:
            cursor.close()

    event.listen(storage.engine, "connect", configure)
    storage.engine.dispose()  # the connections made before the listener: opened again


# -- sampler and pruner -------------------------------------------------------------------


def _extra(spec: SamplerSpec | PrunerSpec) -> dict[str, Any]:
    return dict(spec.model_extra or {})


def _build(kind: str, name: str, factory: Any, kwargs: dict[str, Any]) -> Any:
    try:
        return factory(**kwargs)
    except (TypeError, ValueError) as exc:
        raise SweepError(
            f"sweep.{kind} {name!r} does not take these settings {sorted(kwargs)}: {exc}. "
            f"See the parameters of optuna's {getattr(factory, '__name__', name)}"
        ) from None


def make_sampler(spec: SamplerSpec, *, seed: int) -> optuna.samplers.BaseSampler:
    """The Optuna sampler ``spec`` names, seeded. ``grid`` is served by queueing every grid
    point (see ``_sweep``); its trials then need no sampler of their own."""
    import optuna.samplers as s

    kwargs = {"seed": seed, **_extra(spec)}
    if spec.type == "cmaes" and importlib.util.find_spec("cmaes") is None:
        raise SweepError("sweep.sampler cmaes needs the cmaes package: pip install cmaes")
    factories = {
        "grid": s.RandomSampler,
        "random": s.RandomSampler,
        "tpe": s.TPESampler,
        "cmaes": s.CmaEsSampler,
        "qmc": s.QMCSampler,
        "nsga2": s.NSGAIISampler,
    }
    with quiet_optuna():
        sampler: optuna.samplers.BaseSampler = _build(
            "sampler", spec.type, factories[spec.type], kwargs
        )
    return sampler


def make_pruner(spec: PrunerSpec, *, prunes: bool, epochs: int) -> optuna.pruners.BasePruner:
    import optuna.pruners as p

    if not prunes or spec.type == "none":
        return p.NopPruner()
    kwargs = _extra(spec)
    if spec.type == "hyperband":
        kwargs.setdefault("min_resource", 1)
        kwargs.setdefault("max_resource", epochs)
        return _build("pruner", "hyperband", p.HyperbandPruner, kwargs)  # type: ignore[no-any-return]
    return _build("pruner", "median", p.MedianPruner, kwargs)  # type: ignore[no-any-return]


def trial_seed(base: int, worker: int, number: int) -> int:
    """The sampler seed of trial ``number`` drawn by ``worker``.

    Trial numbers are unique within a study, so processes that share a study, on one machine
    or many, never draw the same stream; a seeded sweep repeats its draws trial by trial.
    """
    text = f"{base}:{worker}:{number}".encode()
    return int.from_bytes(hashlib.sha256(text).digest()[:4], "little")


def open_study(
    storage: BaseStorage,
    name: str,
    directions: Sequence[str],
    sampler: optuna.samplers.BaseSampler,
    pruner: optuna.pruners.BasePruner,
    *,
    create: bool,
) -> optuna.Study:
    import optuna

    with quiet_optuna():
        if create:
            study = optuna.create_study(
                storage=storage,
                study_name=name,
                directions=[str(d) for d in directions],  # type: ignore[misc]
                sampler=sampler,
                pruner=pruner,
                load_if_exists=True,
            )
        else:
            study = optuna.load_study(
                study_name=name, storage=storage, sampler=sampler, pruner=pruner
            )
    found = [d.name.lower() for d in study.directions]
    if found != list(directions):
        raise SweepError(
            f"study {name!r} in the sweep storage optimises {found}, but the spec asks for "
            f"{list(directions)}: give sweep.name a new name to start another study"
        )
    return study


# -- the budget ---------------------------------------------------------------------------


def _retried(trials: Sequence[FrozenTrial]) -> set[int]:
    out: set[int] = set()
    for t in trials:
        out.update(t.system_attrs.get("retry_history", []))
    return out


def trials_used(trials: Sequence[FrozenTrial]) -> int:
    """Trials that count against ``n_trials``: all but failed ones that were queued again
    (their retry counts instead)."""
    from optuna.trial import TrialState

    retried = _retried(trials)
    return sum(1 for t in trials if not (t.state == TrialState.FAIL and t.number in retried))


@contextlib.contextmanager
def claim_lock(storage: Any, study_name: str, path: Path) -> Iterator[None]:
    """The lock under which trials are counted and claimed.

    On PostgreSQL it is an advisory lock in the database, so workers on every machine take
    turns; on other storages a file lock, which holds for the workers of one machine.
    """
    engine = getattr(storage, "engine", None)
    if engine is None or engine.dialect.name != "postgresql":
        with FileLock(path):
            yield
        return
    from sqlalchemy import text

    digest = hashlib.sha256(f"trainspec.claim:{study_name}".encode()).digest()
    key = int.from_bytes(digest[:8], "little", signed=True)
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
            conn.commit()


def _owner(worker: int) -> dict[str, Any]:
    pid = os.getpid()
    return {"host": host_name(), "pid": pid, "started": process_started(pid), "worker": worker}


def claim_trial(
    study: optuna.Study,
    n_trials: int | None,
    lock: Path,
    worker: int,
    reseed: Callable[[int], None] | None = None,
    run_dir: Callable[[int], Path] | None = None,
    clock: Clock | None = None,
) -> optuna.Trial | None:
    """The next trial for this worker, or None when the budget is spent.

    Queued trials (retries, grid points) run first. A new trial is created only while fewer
    than ``n_trials`` count; the count and the creation happen under the claim lock, so
    parallel workers never overshoot. A new trial is created running with its owner, so a
    worker killed at any moment leaves no running trial without one. ``reseed(number)``
    gives the sampler the stream of the trial about to be taken; ``run_dir(number)`` is the
    folder a new trial will run in (``RUN_DIR_ATTR``), recorded in the same write. With
    ``clock`` (``study_clock``) the claimed trial also has its first heartbeat, a new one in
    that write: ``heartbeat(..., first=False)`` sends the next ones.
    """
    import optuna
    from optuna.trial import TrialState

    owner = _owner(worker)
    with claim_lock(getattr(study, "_storage", None), study.study_name, lock), quiet_optuna():
        # A trial silent past the heartbeat grace period is failed and queued again here.
        optuna.storages.fail_stale_trials(study)
        trials = study.get_trials(deepcopy=False)
        waiting = [t.number for t in trials if t.state == TrialState.WAITING]
        if not waiting:
            if n_trials is not None and trials_used(trials) >= n_trials:
                return None
            return _new_trial(study, owner, reseed, run_dir, clock, expected=len(trials))
        if reseed is not None:
            reseed(min(waiting))  # ask() takes the oldest waiting trial
        trial = study.ask()
        trial.set_user_attr(OWNER_ATTR, owner)  # a queued retry or grid point: now ours
        if clock is not None:
            study._storage.set_trial_system_attr(trial._trial_id, BEAT_ATTR, clock())
    return trial


def _new_trial(
    study: optuna.Study,
    owner: dict[str, Any],
    reseed: Callable[[int], None] | None,
    run_dir: Callable[[int], Path] | None,
    clock: Clock | None = None,
    *,
    expected: int,
) -> optuna.Trial:
    """A new running trial, created with its owner in one write (what ``Study.ask`` does
    without a queued trial, owner included): no moment exists in which it runs unsigned.

    The same write records the thread count its numbers repeat with (CPU), its first
    heartbeat (with ``clock``) and the folder it runs in, for the number it gets when no other
    process adds a trial to the study in the meantime (``expected``: the trials counted under
    the claim lock; only a sweep's start, queueing grid points or failing dead trials, adds
    one outside it); otherwise that folder is recorded again at once."""
    import optuna
    import torch
    from optuna.trial import TrialState

    attrs: dict[str, Any] = {OWNER_ATTR: owner, THREADS_ATTR: torch.get_num_threads()}
    if run_dir is not None:
        attrs[RUN_DIR_ATTR] = str(run_dir(expected))
    beat = {} if clock is None else {BEAT_ATTR: clock()}
    template = optuna.trial.create_trial(
        state=TrialState.RUNNING, user_attrs=attrs, system_attrs=beat
    )
    storage = study._storage
    trial_id = storage.create_new_trial(study._study_id, template_trial=template)
    number = _number_of(storage, trial_id)
    if run_dir is not None and number != expected:
        storage.set_trial_user_attr(trial_id, RUN_DIR_ATTR, str(run_dir(number)))
    if reseed is not None:
        reseed(number)
    study._thread_local.cached_all_trials = None
    return optuna.Trial(study, trial_id)


def _number_of(storage: BaseStorage, trial_id: int) -> int:
    """The number of a trial this process just created: from the cache Optuna keeps in front
    of every SQL storage (which holds the trial it created), else asked of the storage (for a
    running trial, a read of the whole trial)."""
    known = getattr(storage, "_trial_id_to_study_id_and_number", None)
    if isinstance(known, dict) and trial_id in known:
        return int(known[trial_id][1])
    return storage.get_trial_number_from_id(trial_id)


def _is_dead(trial: FrozenTrial, host: str, grace: float) -> bool:
    owner = trial.user_attrs.get(OWNER_ATTR)
    if not isinstance(owner, dict):
        # Taken from the queue by a worker killed before it could sign it (a moment's window).
        start = trial.datetime_start
        return start is not None and (_dt.datetime.now() - start).total_seconds() > grace
    if owner.get("host") != host:
        return False  # another machine's: its heartbeats tell
    return not process_alive(int(owner.get("pid", 0)), owner.get("started"))


def _is_stale(trial: FrozenTrial, now: float, grace: float) -> bool:
    last = trial.system_attrs.get(BEAT_ATTR)
    return isinstance(last, (int, float)) and now - last > grace


def fail_dead_trials(
    study: optuna.Study, beat: HeartbeatSpec, *, clock: Clock | None = None
) -> list[int]:
    """Running trials whose worker is gone: its process on this host has ended, or its
    heartbeat (any host's) is older than ``beat.grace_period`` on the study's clock. They are
    failed and queued again (up to ``beat.max_retry`` times); returns their numbers."""
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    host, dead = host_name(), []
    now = (clock or study_clock(study._storage))()
    with quiet_optuna():
        retry = retry_callback(beat.max_retry)
        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            stale = _is_stale(t, now, beat.grace_period)
            if not stale and not _is_dead(t, host, beat.grace_period):
                continue
            try:
                study.tell(t.number, state=TrialState.FAIL)
            except (UpdateFinishedTrialError, ValueError, RuntimeError):
                continue  # another process got there first
            retry(study, study.get_trials(deepcopy=True)[t.number])
            dead.append(t.number)
    if dead:
        log.warning("trials %s lost their worker process: failed and queued again", dead)
    return dead


def study_clock(storage: BaseStorage) -> Clock:
    """The clock heartbeats are read on: the database's for a SQL storage, so that workers on
    machines whose clocks differ agree on a beat's age (Optuna's own heartbeats use it too);
    this host's for a journal file."""
    engine = getattr(storage, "engine", None)
    if engine is None:
        return time.time

    def database_now() -> float:
        from sqlalchemy import func, select

        with engine.connect() as conn:
            value = conn.execute(select(func.now())).scalar()
        if value.tzinfo is None:  # SQLite's CURRENT_TIMESTAMP is UTC without a zone
            value = value.replace(tzinfo=_dt.timezone.utc)
        return float(value.timestamp())

    return database_now


@contextlib.contextmanager
def heartbeat(
    storage: BaseStorage,
    trial_id: int,
    beat: HeartbeatSpec,
    *,
    clock: Clock | None = None,
    first: bool = True,
) -> Iterator[None]:
    """Records the trial's heartbeat (``BEAT_ATTR``) every ``beat.interval`` seconds while the
    block runs, the first at once (or, without ``first``: the trial has one, recorded when it
    was claimed, and the next comes an interval later); ``clock`` defaults to
    ``study_clock(storage)``."""
    now = clock or study_clock(storage)
    stop = threading.Event()

    def send() -> None:
        if not first and stop.wait(beat.interval):
            return
        while True:
            try:
                storage.set_trial_system_attr(trial_id, BEAT_ATTR, now())
            except Exception as exc:  # a missed beat is retried; the trial goes on
                log.warning("could not record the heartbeat of trial id %s: %s", trial_id, exc)
            if stop.wait(beat.interval):
                return

    thread = threading.Thread(target=send, name="trainspec-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
