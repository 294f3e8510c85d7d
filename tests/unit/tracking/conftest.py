"""Fixtures for the tracking tests: one embedded MLflow store for the whole directory.

Creating a SQLite store runs MLflow's migrations (seconds), so every test shares one store and
keeps apart by using its own experiment.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from trainspec.tracking import Tracker, TrackingSpec, create_tracker

HAS_WANDB = importlib.util.find_spec("wandb") is not None


@pytest.fixture(autouse=True)
def _no_ambient_tracking_uri(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")


@pytest.fixture(scope="session")
def runs_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("runs").resolve()


@pytest.fixture(scope="session")
def client(runs_root: Path) -> Any:
    """MLflow's own client on the shared store (creating the store, once)."""
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri="sqlite:///" + (runs_root / "mlflow.db").as_posix())


@pytest.fixture
def experiment(request: pytest.FixtureRequest) -> str:
    """An experiment name of this test's own."""
    return re.sub(r"[^\w.-]+", "-", request.node.nodeid)[-200:]


MakeTracker = Callable[..., Tracker]


@pytest.fixture
def make_mlflow(runs_root: Path, client: Any, experiment: str) -> MakeTracker:
    def make(**fields: Any) -> Tracker:
        spec = TrackingSpec(backend="mlflow", **{"experiment": experiment, **fields})
        return create_tracker(spec, runs_root=runs_root)

    return make
