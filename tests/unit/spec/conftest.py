from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

Write = Callable[[str, str], Path]


@pytest.fixture
def write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Write:
    """Write a file under a fresh working directory and return its (relative) path."""
    monkeypatch.chdir(tmp_path)

    def _write(name: str, text: str) -> Path:
        path = Path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    return _write


ARCH = """\
inputs: [4]
layers:
  - {type: Linear, out_features: 8}
  - ReLU
  - {type: Linear, out_features: 2}
"""

JOB = """\
model:
  inputs: [4]
  layers: [{type: Linear, out_features: 2}]
data:
  source: {type: sklearn, name: iris}
train:
  epochs: 2
"""
