"""TrackingSpec and create_tracker: defaults, bad input, where the store goes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from tests.unit.tracking.conftest import HAS_WANDB
from trainspec.errors import TrainspecError
from trainspec.tracking import (
    MlflowTracker,
    NullTracker,
    TrackingSpec,
    create_tracker,
    reconcile_stale_runs,
)


def test_defaults_are_an_embedded_mlflow_store() -> None:
    spec = TrackingSpec()
    assert (spec.backend, spec.uri, spec.experiment) == ("mlflow", None, None)
    assert spec.log_artifacts and spec.log_params and spec.flush_every == 100


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"backend": "neptune"}, "Input should be 'mlflow', 'none' or 'wandb'"),
        ({"flush_evry": 10}, "Extra inputs are not permitted"),
        ({"flush_every": 0}, "greater than or equal to 1"),
        ({"backend": "none", "uri": "http://x:5000"}, "'uri' is an MLflow setting"),
        ({"experiment": "  "}, "must not be blank"),
        ({"mode": "offline"}, "'mode' is a wandb setting but backend is 'mlflow'"),
        ({"backend": "wandb", "mode": "cloud"}, "Input should be 'offline' or 'online'"),
        ({"tags": {"team": 3}}, "Input should be a valid string"),
    ],
)
def test_bad_tracking_sections_are_refused(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        TrackingSpec.model_validate(fields)


def test_the_embedded_store_lies_under_the_runs_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tracker = create_tracker(TrackingSpec(), runs_root=tmp_path, job_name="ecg net")
    assert isinstance(tracker, MlflowTracker)
    assert tracker.uri == f"sqlite:///{tmp_path.resolve()}/mlflow.db"
    assert tracker.experiment == "ecg net"
    assert tracker.artifact_location == (tmp_path.resolve() / "mlartifacts" / "ecg-net").as_uri()
    assert create_tracker(runs_root=tmp_path).experiment == "trainspec"  # type: ignore[attr-defined]


def test_a_tracking_uri_comes_from_the_spec_then_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://team-server:5000")
    from_env = create_tracker(TrackingSpec(experiment="e"), runs_root=tmp_path)
    assert from_env.uri == "http://team-server:5000"  # type: ignore[attr-defined]
    assert from_env.artifact_location is None  # type: ignore[attr-defined]  # server decides
    spec = TrackingSpec(uri="http://other:5000")
    assert create_tracker(spec, runs_root=tmp_path).uri == "http://other:5000"  # type: ignore[attr-defined]


def test_the_none_backend_never_imports_mlflow(tmp_path: Path) -> None:
    code = (
        "import sys; from pathlib import Path\n"
        "from trainspec.tracking import TrackingSpec, create_tracker, reconcile_stale_runs\n"
        "t = create_tracker(TrackingSpec(backend='none'), runs_root=Path('.'))\n"
        "with t:\n"
        "    t.start(run_name='r', run_dir=Path('r'), tags={}, params={'a': 1})\n"
        "    t.log_metrics({'loss': 1.0}, step=0)\n"
        "assert reconcile_stale_runs(TrackingSpec(backend='none'), Path('.')) == []\n"
        "assert 'mlflow' not in sys.modules, 'mlflow was imported'\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert list(tmp_path.iterdir()) == []  # and wrote nothing
    assert isinstance(create_tracker(TrackingSpec(backend="none")), NullTracker)
    assert reconcile_stale_runs(TrackingSpec(backend="none"), tmp_path) == []


@pytest.mark.skipif(HAS_WANDB, reason="wandb is installed")
def test_wandb_without_the_package_names_the_install_command(tmp_path: Path) -> None:
    with pytest.raises(TrainspecError, match=r"pip install 'wandb>=0.19'"):
        create_tracker(TrackingSpec(backend="wandb"), runs_root=tmp_path)
