"""The spec layer never imports torch, and loading a small spec is quick."""

from __future__ import annotations

import subprocess
import sys
import time

from trainspec.spec import load_spec

from .conftest import ARCH, JOB, Write

_CHECK = """
import sys, time
start = time.perf_counter()
from trainspec.spec import load_spec
imported = time.perf_counter() - start
loaded = load_spec(sys.argv[1], overrides=["train.epochs=3"])
assert loaded.job is not None
heavy = sorted(m for m in ("torch", "numpy", "pandas", "sklearn") if m in sys.modules)
print(",".join(heavy) or "none", f"{imported:.3f}")
"""


def test_spec_layer_does_not_import_torch(write: Write) -> None:
    write("net.yaml", ARCH)
    path = write(
        "job.yaml",
        JOB.replace(
            "model:\n  inputs: [4]\n  layers: [{type: Linear, out_features: 2}]\n",
            "model: net.yaml\n",
        ),
    )
    result = subprocess.run(
        [sys.executable, "-c", _CHECK, str(path)], capture_output=True, text=True, check=True
    )
    heavy, _ = result.stdout.split()
    assert heavy == "none"


def test_loading_a_small_spec_is_fast(write: Write) -> None:
    write("net.yaml", ARCH)
    write("job.yaml", "model: net.yaml\ndata: {source: {type: sklearn, name: iris}}\n")
    load_spec("job.yaml")  # warm: pydantic builds its validators on first use
    start = time.perf_counter()
    for _ in range(10):
        load_spec("job.yaml", overrides=["train.epochs=3", "seed=1"])
    per_load = (time.perf_counter() - start) / 10
    assert per_load < 0.1, f"{per_load * 1000:.1f} ms per load"
