"""The registry's describe table: in step with the real components, torch-free, and what
validation answers with."""

from __future__ import annotations

import json
import subprocess
import sys

from trainspec.errors import closest
from trainspec.registry import builtin_table, describe, names

_BUILD = (
    "import json, sys\n"
    "from trainspec.engine._table import build_table\n"
    "sys.stdout.write(json.dumps(build_table(), sort_keys=True))\n"
)


def test_table_matches_the_registered_components() -> None:
    # A fresh process: tests that register their own components must not leak into it.
    built = subprocess.run(
        [sys.executable, "-c", _BUILD], capture_output=True, text=True, check=True, timeout=120
    )
    fresh = json.loads(built.stdout)
    stored = json.loads(json.dumps(builtin_table(), sort_keys=True))
    assert fresh == stored, (
        "src/trainspec/registry/builtins.json is out of date: run "
        "`python -m trainspec.engine._table` and commit the result"
    )


def test_describing_needs_no_torch() -> None:
    code = (
        "import sys\nfrom trainspec.registry import describe\n"
        "assert describe('optimizer', 'AdamW') is not None\n"
        "assert describe('block', 'Conv1d') is not None\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_every_kind_validation_names_is_described() -> None:
    for kind in ("optimizer", "scheduler", "loss", "metric", "block", "transform", "source"):
        assert names(kind), kind
    linear = describe("block", "Linear")
    assert linear is not None and "out_features" in linear.params
    assert "in_features" in linear.inferred  # taken from the input shape, never required
    cosine = describe("scheduler", "cosine")
    assert cosine is not None and "T_max" in cosine.filled
    loss = describe("loss", "crossentropyloss", ignore_case=True)
    assert loss is not None and loss.name == "CrossEntropyLoss" and "reduction" in loss.reserved
    assert describe("metric", "accuracy").info["task"] == "classification"  # type: ignore[union-attr]
    assert describe("transform", "window").info["stage"] == "signal"  # type: ignore[union-attr]
    assert describe("optimizer", "Adamw2", ignore_case=True) is None


def test_suggestions_prefer_a_case_insensitive_match() -> None:
    optimizers = names("optimizer")
    assert closest("Adamw2", optimizers) == "AdamW"
    assert closest("adamw", optimizers) == "AdamW"
    assert closest("sgdd", optimizers) == "SGD"
    assert closest("Conv1D", names("block")) == "Conv1d"
