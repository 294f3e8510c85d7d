"""Pipelines made of tiny command steps: a script that writes a file, fails or waits on demand."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

STEP_SCRIPT = """\
import pathlib, sys, time
out, text = pathlib.Path(sys.argv[1]), sys.argv[2]
for extra in sys.argv[3:]:
    if extra.startswith("--read="):
        text += "|" + pathlib.Path(extra[7:]).read_text()
    if extra.startswith("--fail-if=") and pathlib.Path(extra[10:]).exists():
        sys.exit(3)
    if extra.startswith("--wait="):
        pathlib.Path(extra[7:]).write_text("started")
        time.sleep(60)
out.parent.mkdir(parents=True, exist_ok=True)
out.write_text(text)
"""

# a -> b -> c, and d on its own; b reads a's file, c reads b's.
CHAIN = """\
name: chain
params: {word: hello}
steps:
  a:
    kind: command
    argv: [python, "${here}/step.py", "${outputs.file}", "${params.word}"]
    inputs: ["${here}/input.txt"]
    outputs: {file: "${here}/out/a.txt"}
  b:
    kind: command
    argv: [python, "${here}/step.py", "${outputs.file}", b, "--read=${steps.a.outputs.file}",
           "--fail-if=${here}/fail_b"]
    outputs: {file: "${here}/out/b.txt"}
  c:
    kind: command
    argv: [python, "${here}/step.py", "${outputs.file}", c, "--read=${steps.b.outputs.file}"]
    outputs: {file: "${here}/out/c.txt"}
  d:
    kind: command
    argv: [python, "${here}/step.py", "${outputs.file}", d]
    outputs: {file: "${here}/out/d.txt"}
"""

Write = Callable[[str, str], Path]


@pytest.fixture
def write(tmp_path: Path) -> Write:
    def put(name: str, text: str) -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text))
        return path

    return put


@pytest.fixture
def chain(tmp_path: Path, write: Write, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The CHAIN pipeline in tmp_path, which is also the working directory."""
    monkeypatch.chdir(tmp_path)
    write("step.py", STEP_SCRIPT)
    write("input.txt", "v1")
    return write("chain.yaml", CHAIN)
