"""A resolved spec as tracking parameters: dotted keys, string values, within MLflow's limits."""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, TypeVar

__all__ = [
    "MAX_KEY_LENGTH",
    "MAX_PARAMS_PER_BATCH",
    "MAX_PARAM_LENGTH",
    "MAX_SPEC_PARAMS",
    "MAX_TAG_LENGTH",
    "OMITTED_KEY",
    "chunked",
    "clean_key",
    "flatten_params",
    "spec_params",
    "truncate",
]

# MLflow's limits (mlflow.utils.validation): key 250 characters, parameter value 6000 (500 on
# servers before MLflow 2), tag value 8000, 100 parameters or tags per log_batch call.
MAX_KEY_LENGTH = 250
MAX_PARAM_LENGTH = 6000
MAX_TAG_LENGTH = 8000
MAX_PARAMS_PER_BATCH = 100
# A run's parameters are a summary of its spec (the whole spec is the config.yaml artifact):
# few enough for one log_batch call, and quick to log even for a spec of thousands of values.
MAX_SPEC_PARAMS = 100
_LONG_LIST = 16
_SUMMARY_LENGTH = 250
OMITTED_KEY = "trainspec.params_omitted"

# What MLflow accepts in a parameter, metric or tag name (colons are refused on Windows).
_BAD_KEY_CHARS = re.compile(r"[^\w./\- ]")

T = TypeVar("T")


def clean_key(key: str, *, max_length: int = MAX_KEY_LENGTH) -> str:
    """``key`` with characters MLflow refuses replaced by ``_`` and cut to ``max_length``.

    A cut key ends in a digest of the whole key, so two long keys never collide.
    """
    cleaned = _BAD_KEY_CHARS.sub("_", key).strip() or "_"
    if len(cleaned) <= max_length:
        return cleaned
    digest = hashlib.sha1(key.encode("utf-8")).hexdigest()[:8]
    return f"{cleaned[: max_length - 9]}~{digest}"


def truncate(value: str, max_length: int) -> str:
    """``value`` cut to ``max_length`` characters, ending in a marker that says how much went."""
    if len(value) <= max_length:
        return value
    # The marker's own length depends on the count it reports; two passes settle it.
    cut = max_length
    for _ in range(2):
        marker = f"...[truncated {len(value) - cut} chars]"
        cut = max(max_length - len(marker), 0)
    return (value[:cut] + marker)[:max_length]


def _scalar(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None or isinstance(value, bool):
        return json.dumps(value)  # null / true / false, as the spec file writes them
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, int | float):
        return repr(value)
    return str(value)


def _is_sequence(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str | bytes | bytearray)


def _walk(value: Any, prefix: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, Mapping):
        if not value:
            yield prefix, "{}"
        for key, item in value.items():
            yield from _walk(item, f"{prefix}.{key}" if prefix else str(key))
    elif _is_sequence(value):
        if not any(isinstance(item, Mapping) or _is_sequence(item) for item in value):
            # A list of scalars reads best whole: [64, 128, 10].
            yield prefix, json.dumps(list(value), default=str)
            return
        for index, item in enumerate(value):
            yield from _walk(item, f"{prefix}.{index}" if prefix else str(index))
    else:
        yield prefix, _scalar(value)


def flatten_params(
    spec_data: Mapping[str, Any],
    *,
    max_value_length: int = MAX_PARAM_LENGTH,
    max_key_length: int = MAX_KEY_LENGTH,
) -> dict[str, str]:
    """The resolved spec as flat parameters: ``{"train.optimizer.lr": "0.001", ...}``.

    Nested mappings become dotted keys; lists of mappings are indexed (``model.blocks.0.type``);
    lists of scalars stay whole as JSON (``[64, 128]``). ``None``/booleans read ``null``/``true``.
    Keys lose characters MLflow refuses and are cut to ``max_key_length``; values longer than
    ``max_value_length`` are cut and end in ``...[truncated N chars]``. Already flat mappings
    pass through unchanged.
    """
    flat: dict[str, str] = {}
    for key, value in _walk(spec_data, ""):
        flat[clean_key(key, max_length=max_key_length)] = truncate(value, max_value_length)
    return flat


def chunked(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """Consecutive slices of at most ``size`` items (MLflow caps how many go in one call)."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _walk_summarised(value: Any, prefix: str) -> Iterator[tuple[str, str]]:
    """Like ``_walk``, but a list longer than ``_LONG_LIST`` items is one summarised value."""
    if _is_sequence(value) and len(value) > _LONG_LIST:
        shown = truncate(json.dumps(list(value[:_LONG_LIST]), default=str), _SUMMARY_LENGTH)
        yield prefix, f"[{len(value)} items] {shown}"
    elif isinstance(value, Mapping) and value:
        for key, item in value.items():
            yield from _walk_summarised(item, f"{prefix}.{key}" if prefix else str(key))
    elif _is_sequence(value) and any(isinstance(i, Mapping) or _is_sequence(i) for i in value):
        for index, item in enumerate(value):
            yield from _walk_summarised(item, f"{prefix}.{index}" if prefix else str(index))
    else:
        yield from _walk(value, prefix)


def spec_params(spec_data: Mapping[str, Any], *, limit: int = MAX_SPEC_PARAMS) -> dict[str, str]:
    """A resolved spec as at most ``limit`` flat parameters, for one ``log_batch`` call.

    Long lists are summarised (``[5000 items] [1, 2, ...]``); when more keys remain than
    ``limit``, the shallowest keys are kept (``train.optimizer.lr`` before a block's padding)
    and ``trainspec.params_omitted`` says how many went: the whole spec is logged as the
    ``config.yaml`` artifact.
    """
    flat = {
        clean_key(key): truncate(value, MAX_PARAM_LENGTH)
        for key, value in _walk_summarised(spec_data, "")
    }
    if len(flat) <= limit:
        return flat
    keys = list(flat)
    order = sorted(range(len(keys)), key=lambda i: (keys[i].count("."), i))
    kept = sorted(order[: limit - 1])
    out = {keys[i]: flat[keys[i]] for i in kept}
    out[OMITTED_KEY] = f"{len(flat) - len(kept)} more keys; the whole spec is config.yaml"
    return out
