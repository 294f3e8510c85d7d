"""Finding and opening an MLflow store: the embedded SQLite file, or a tracking server.

``mlflow`` is imported here, lazily: it costs about 2 s, and the none backend never pays it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from filelock import FileLock

from trainspec.files import path_under, safe_name
from trainspec.tracking._base import TrackingError

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

__all__ = [
    "EMBEDDED_DB",
    "connect",
    "default_artifact_location",
    "ensure_experiment",
    "mlflow_errors",
    "resolve_uri",
]

log = logging.getLogger(__name__)

EMBEDDED_DB = "mlflow.db"
ARTIFACTS_DIR = "mlartifacts"


def resolve_uri(uri: str | None, runs_root: Path) -> str:
    """The spec's URI, else ``$MLFLOW_TRACKING_URI``, else ``sqlite:///<runs_root>/mlflow.db``."""
    chosen = uri or os.environ.get("MLFLOW_TRACKING_URI", "").strip()
    if chosen:
        return chosen
    return "sqlite:///" + (runs_root.resolve() / EMBEDDED_DB).as_posix()


def _sqlite_file(uri: str) -> Path | None:
    if not uri.startswith("sqlite:///"):
        return None
    path = uri.removeprefix("sqlite:///")
    return None if path in ("", ":memory:") else Path(path)


def default_artifact_location(uri: str, experiment: str) -> str | None:
    """Artifacts of a new experiment in a SQLite store go beside the database file.

    (MLflow's own default, ``./mlruns``, depends on the working directory.) A server or another
    database decides for itself: None.
    """
    db = _sqlite_file(uri)
    if db is None:
        return None
    folder = safe_name(experiment, what="tracking.experiment", fallback="experiment")
    return path_under(db.resolve().parent / ARTIFACTS_DIR, folder).as_uri()


def _probe(uri: str, timeout: float) -> None:
    """Fail in ``timeout`` seconds, not after MLflow's minutes of retries, on a dead server."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=timeout):
            pass
    except urllib.error.HTTPError:
        return  # an answer, even 401 or 404, means something listens there
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise TrackingError(
            f"cannot reach the MLflow tracking server at {uri} (tracking.uri or "
            f"$MLFLOW_TRACKING_URI): {reason}. Check the address and that `mlflow server` runs "
            "there, or remove tracking.uri and unset MLFLOW_TRACKING_URI to use the embedded "
            "store under the runs root"
        ) from None


@contextmanager
def mlflow_errors(uri: str, what: str) -> Iterator[None]:
    """Re-raise what MLflow, SQLAlchemy or the network raise as a TrackingError naming ``uri``."""
    try:
        yield
    except TrackingError:
        raise
    except Exception as exc:
        raise TrackingError(f"MLflow could not {what} (tracking URI {uri}): {exc}") from exc


def connect(uri: str, *, timeout: float) -> MlflowClient:
    """An ``MlflowClient`` on ``uri``; creates the embedded SQLite store on first use."""
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise TrackingError(
            "the mlflow tracking backend needs MLflow: pip install 'trainspec[tracking]' "
            "(or set tracking.backend: none)"
        ) from None
    if uri.startswith(("http://", "https://")):
        _probe(uri, timeout)
    db = _sqlite_file(uri)
    with mlflow_errors(uri, "open the tracking store"):
        if db is None:
            return MlflowClient(tracking_uri=uri)
        db.parent.mkdir(parents=True, exist_ok=True)
        # Sweep workers may open a fresh store at once; one runs MLflow's migrations.
        with FileLock(db.with_name(db.name + ".lock")):
            client = MlflowClient(tracking_uri=uri)
            if db.name == EMBEDDED_DB:
                _write_ahead_log(db)
            return client


def _write_ahead_log(db: Path) -> None:
    """Put the embedded store in SQLite's write-ahead-log mode (it stays with the file): a
    commit appends to ``mlflow.db-wal`` instead of rewriting pages through a journal, which
    on a busy disk took tens of milliseconds each, and a sweep's trial makes a dozen. A crash
    loses nothing committed; readers and writers no longer block each other. A store named
    otherwise is the user's and keeps its mode."""
    import sqlite3

    conn = sqlite3.connect(db, timeout=60)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
    finally:
        conn.close()


def ensure_experiment(client: MlflowClient, name: str, artifact_location: str | None) -> str:
    """The id of experiment ``name``, created (or restored from deleted) when needed."""
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        try:
            return str(client.create_experiment(name, artifact_location=artifact_location))
        except Exception:
            # Another process may have created it between our lookup and our create.
            experiment = client.get_experiment_by_name(name)
            if experiment is None:
                raise
    if experiment.lifecycle_stage == "deleted":
        log.warning("MLflow experiment %r was deleted; restoring it for this run", name)
        client.restore_experiment(experiment.experiment_id)
    return str(experiment.experiment_id)


def search_all(fetch: Callable[[str | None], Any]) -> Iterator[Any]:
    """Every item of a paged MLflow search; ``fetch(page_token)`` returns one page."""
    token: str | None = None
    while True:
        page = fetch(token)
        yield from page
        token = page.token
        if not token:
            return
