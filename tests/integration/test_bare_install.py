"""The default install (``pip install trainspec``, no extras) validates, trains, reports and
predicts.

The rest of the suite runs with every extra installed, so nothing else would notice a core
module that imports an optional package at module level, or a default that needs one.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import venv
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, ROOT

pytestmark = pytest.mark.integration

# Installed first so that pip never resolves an open-ended torch to a CUDA build (as the Makefile).
TORCH_SPEC = os.environ.get("TORCH_SPEC", "torch==2.13.0")
OPTIONAL = ("mlflow", "optuna", "fastapi", "onnx", "skops", "h5py", "pyarrow", "transformers")


def _run(args: list[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["NO_COLOR"] = "1"
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, (
        f"{shlex.join(args)} exited {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    )
    return done


def test_bare_install_validates_trains_and_predicts(tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = str(env_dir / "bin" / "python")
    pip = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    _run([*pip, *shlex.split(TORCH_SPEC)], tmp_path)
    _run([*pip, str(ROOT)], tmp_path)

    # The extras really are absent, so the checks below test the default install.
    probe = f"import importlib.util as u; print([m for m in {OPTIONAL!r} if u.find_spec(m)])"
    assert _run([python, "-c", probe], tmp_path).stdout.strip() == "[]"

    work = tmp_path / "work"
    work.mkdir()
    trainspec = str(env_dir / "bin" / "trainspec")
    spec = str(EXAMPLES / "digits" / "train.yaml")
    assert "valid job spec" in _run([trainspec, "validate", spec], work).stdout
    trained = _run([trainspec, "train", spec, "train.epochs=2", "--run-dir", "run"], work)
    assert "MLflow is not installed" in trained.stderr
    summary = (work / "run" / "summary.json").read_text()
    assert '"status": "finished"' in summary
    # Reports are part of the default install: matplotlib, jinja2 and the packaged templates.
    _run([trainspec, "report", "run", "--out", "report.html"], work)
    page = (work / "report.html").read_text()
    assert "confusion matrix (val" in page and page.count('<svg class="plot"') >= 3

    _run(
        [
            python,
            "-c",
            "from sklearn.datasets import load_digits; "
            "X = load_digits(as_frame=True).data; X.head(25).to_csv('new.csv', index=False)",
        ],
        work,
    )
    _run([trainspec, "predict", "run", "--data", "new.csv", "--out", "pred.csv"], work)
    lines = (work / "pred.csv").read_text().splitlines()
    assert lines[0].startswith("row,prediction,proba_0")
    assert len(lines) == 26
    # MLflow named in the spec still asks for its package, with the whole install command.
    named = subprocess.run(
        [trainspec, "train", spec, "tracking.backend=mlflow", "--run-dir", "run2"],
        cwd=work,
        capture_output=True,
        text=True,
    )
    assert named.returncode == 2, named.stderr
    assert "pip install 'trainspec[tracking]'" in named.stderr
    assert "Traceback" not in named.stderr
