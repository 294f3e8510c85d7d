"""Throwaway virtual environments for the export tests, made once and kept between runs.

Kubeflow's SDK and Apache Airflow pin packages (protobuf, SQLAlchemy...) that must not enter the
project's environment, so each lives in its own venv under ``~/.cache`` (override the folder
with TRAINSPEC_EXPORT_VENVS). The first run installs them from PyPI (minutes, Airflow being
large); later runs find them ready. A lock file keeps parallel test workers from installing
the same venv twice.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from pathlib import Path

VENVS = {
    # name: (packages, a module whose import proves the venv is complete)
    "kfp": (
        # trainspec runs from its source there: its static spec checks import numpy and the
        # data layer (filelock). A cached venv that lacks one is completed by the probe's failure.
        [
            "kfp>=2.7,<3",
            "kfp-kubernetes>=1.2",
            "pydantic>=2",
            "typer",
            "pyyaml",
            "rich",
            "numpy",
            "filelock>=3.12",
        ],
        "kfp.kubernetes, numpy, filelock",
    ),
    "airflow": (
        [
            "apache-airflow>=3,<4",
            "apache-airflow-providers-standard",
            "apache-airflow-providers-cncf-kubernetes",
        ],
        "airflow.providers.cncf.kubernetes.operators.pod",
    ),
}


def _root() -> Path:
    default = Path.home() / ".cache"
    return Path(os.environ.get("TRAINSPEC_EXPORT_VENVS", default))


def venv_python(name: str) -> Path:
    """The python of the ``name`` venv, created and installed first if need be."""
    packages, probe = VENVS[name]
    folder = _root() / f"trainspec-{name}-venv"
    python = folder / "bin" / "python"
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f".trainspec-{name}-venv.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _ready(python, probe):
            return python
        subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
        pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        subprocess.run([*pip, *packages], check=True, timeout=1800)
    return python


def _ready(python: Path, probe: str) -> bool:
    if not python.exists():
        return False
    result = subprocess.run([str(python), "-c", f"import {probe}"], capture_output=True)
    return result.returncode == 0
