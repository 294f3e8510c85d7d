"""Generates the registry's describe table (``trainspec/registry/builtins.json``) from the
real components: every built-in name of every kind with the parameters its constructor takes.

Run ``python -m trainspec.engine._table`` after adding or changing a built-in component (or
upgrading torch); ``tests/unit/foundation/test_describe.py`` fails while the table is stale.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from trainspec.data import sklearn_source_keys
from trainspec.engine._losses import RESERVED
from trainspec.engine._optim import SET_BY_ENGINE
from trainspec.metrics import MetricFn
from trainspec.models import inferable, resolve_block_type
from trainspec.registry import TABLE_FILE, ParamSignature, described_by, registry

__all__ = ["build_table", "table_path", "write_table"]

# What the engine passes itself, per kind: a spec never writes these.
_PASSED = {"optimizer": ("params",), "scheduler": ("optimizer",)}


def _entry(
    factory: Callable[..., Any] | ParamSignature,
    filled: tuple[str, ...] = (),
    inferred: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    # Described as the builders describe it, so validation and the build judge alike.
    described = described_by("", "", factory, filled=filled, inferred=inferred)
    entry: dict[str, Any] = {"params": list(described.params)}
    entry["required"] = sorted(described.required)
    if described.any_keyword:
        entry["any_keyword"] = True
    if described.types:
        entry["types"] = dict(described.types)
    if filled:
        entry["filled"] = sorted(set(filled))
    if inferred:
        entry["inferred"] = sorted(inferred)
    return entry


def _plain(kind: str) -> dict[str, Any]:
    out = {}
    for name in registry.names(kind):
        factory = registry.get(kind, name)
        filled = (*_PASSED.get(kind, ()), *SET_BY_ENGINE.get(factory, ()))
        out[name] = _entry(factory, filled)
    return out


def _losses() -> dict[str, Any]:
    out = _plain("loss")
    for entry in out.values():
        entry["reserved"] = {k: v for k, v in RESERVED.items() if k in entry["params"]}
    return out


def _metrics() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in registry.names("metric"):
        metric = registry.get("metric", name)
        info = (
            {"task": metric.task, "higher_is_better": metric.higher_is_better}
            if isinstance(metric, MetricFn)
            else {}
        )
        out[name] = {"params": [], "required": [], "info": info}
    return out


def _blocks() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in registry.names("block"):
        btype = resolve_block_type(name, ())
        entry = _entry(btype.sig, inferred=frozenset(inferable(btype.sig)))
        entry["info"] = {"torch_layer": btype.from_torch}
        out[name] = entry
    return out


def _transforms() -> dict[str, Any]:
    out = _plain("transform")
    for name, entry in out.items():
        entry["info"] = {"stage": str(registry.get("transform", name).stage)}
    return out


def _sources() -> dict[str, Any]:
    out: dict[str, Any] = {
        name: {"params": [], "required": []} for name in registry.names("source")
    }
    out["sklearn"]["info"] = {"keys": sklearn_source_keys()}
    return out


def build_table() -> dict[str, Any]:
    """The table from the components registered now (plugins excluded: the table is for the
    built-ins, and plugins are described from the live registry)."""
    kinds = {
        "optimizer": _plain("optimizer"),
        "scheduler": _plain("scheduler"),
        "loss": _losses(),
        "metric": _metrics(),
        "block": _blocks(),
        "transform": _transforms(),
        "source": _sources(),
        "split": {name: {"params": [], "required": []} for name in registry.names("split")},
        "callback": _plain("callback"),
    }
    return {"generated_with": {"torch": torch.__version__.split("+")[0]}, "kinds": kinds}


def table_path() -> Path:
    import trainspec.registry

    return Path(trainspec.registry.__file__).parent / TABLE_FILE


def write_table(path: Path | None = None) -> Path:
    path = path or table_path()
    path.write_text(json.dumps(build_table(), indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return path


if __name__ == "__main__":
    import logging

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger(__name__).info("wrote %s", write_table())
