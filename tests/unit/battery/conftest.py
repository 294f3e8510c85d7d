"""A small project folder for the malformed-input battery, and the CLI called in-process.

The CLI's ``main`` runs in this process (no interpreter start per case): every case of the
battery fails before torch would be imported, so a case takes milliseconds.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from trainspec.cli import main

JOB = """\
model:
  layers:
    - {type: Linear, out_features: 8}
    - ReLU
    - {type: Linear, out_features: 2}
data:
  source: {type: csv, path: data.csv}
  target: label
  features: [a, b, c]
train:
  epochs: 1
  batch_size: 4
  optimizer: {name: AdamW, lr: 0.01}
run: {root: runs}
"""

GRAPH = """\
model:
  inputs: {x: [3]}
  blocks:
    hidden: {type: Linear, out_features: 8}
    act: {type: ReLU, in: hidden}
    head: {type: Linear, out_features: 2, in: act}
  outputs: head
data:
  source: {type: csv, path: data.csv}
  target: label
  features: [a, b, c]
run: {root: runs}
"""

CSV = "a,b,c,label,subject,row_id,w,fold\n" + "".join(
    f"{i},{i + 1},{i + 2},{i % 2},s{i % 3},{i},1.0,{'train' if i < 6 else 'val'}\n"
    for i in range(8)
)


@dataclass
class Result:
    code: int
    out: str
    err: str


Run = Callable[..., Result]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory with data in several formats; the specs are written per case."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "250")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))  # error logs land here
    (tmp_path / "data.csv").write_text(CSV)
    (tmp_path / "records").mkdir()
    (tmp_path / "records" / "manifest.csv").write_text("file,subject\nr0.npz,s0\n")
    np.savez(tmp_path / "records" / "r0.npz", x=np.zeros((4, 3)), y=np.zeros(4))
    np.savez(tmp_path / "arrays.npz", x=np.zeros((8, 3)), y=np.zeros(8))
    _hdf5(tmp_path / "signals.h5")
    return tmp_path


def _hdf5(path: Path) -> None:
    """A tabular group of arrays beside a group of two records (one subgroup each)."""
    import h5py

    with h5py.File(path, "w") as f:
        f["x"] = np.zeros((8, 3))
        f["label"] = np.arange(8) % 2
        for name in ("n1", "n2"):
            night = f.create_group(f"nights/{name}")
            night["ecg"] = np.zeros((5, 16))
            night["stage"] = np.zeros(5, dtype=np.int64)
            night.attrs["age"] = 40


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Run:
    """``run("validate", "job.yaml")``: the exit status and what went to stdout and stderr."""

    def call(*argv: str) -> Result:
        code = 0
        try:
            main(list(argv))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return call
