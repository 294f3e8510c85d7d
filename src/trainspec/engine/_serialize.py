"""Nested training state (optimiser, scheduler, RNG) as JSON plus a flat dict of tensors.

No pickle: a state dict is walked, every tensor is moved into a flat ``name -> Tensor`` dict
(written with safetensors) and replaced by a reference; everything else must be plain JSON
(numbers, strings, bools, None, lists, dicts, tuples, numpy arrays). Non-string dict keys and
tuples are tagged so that they round-trip exactly (optimiser state is keyed by ints).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from trainspec.errors import TrainingError

__all__ = ["flatten", "unflatten"]

_TENSOR = "__tensor__"
_ITEMS = "__items__"
_TUPLE = "__tuple__"
_NDARRAY = "__ndarray__"
_TAGS = (_TENSOR, _ITEMS, _TUPLE, _NDARRAY)


# JSON scalars, by exact type (a NumPy float64 subclasses float but is converted by .item()).
_SCALARS = frozenset({bool, int, float, str, type(None)})


def _scalars(values: Any) -> bool:
    return all(type(v) in _SCALARS for v in values)


def _plain_keys(obj: dict[Any, Any]) -> bool:
    """String keys that are not our tags: the dict is written as a JSON object as it is."""
    return all(type(k) is str and k not in _TAGS for k in obj)


def flatten(obj: Any, tensors: dict[str, torch.Tensor], prefix: str = "") -> Any:
    """``obj`` as a JSON-able tree; its tensors are added to ``tensors`` under new names."""
    # Shortcuts for the common leaves: Python's RNG state (a tuple of 625 ints), history rows.
    if type(obj) is tuple and _scalars(obj):
        return {_TUPLE: list(obj)}
    if type(obj) is list and _scalars(obj):
        return list(obj)
    if type(obj) is dict and _scalars(obj.values()) and _plain_keys(obj):
        return dict(obj)
    if isinstance(obj, torch.Tensor):
        key = f"{prefix}#{len(tensors)}"
        tensors[key] = obj.detach().cpu().contiguous()
        return {_TENSOR: key}
    if isinstance(obj, np.ndarray):
        return {_NDARRAY: obj.tolist(), "dtype": str(obj.dtype)}
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dict):
        if _plain_keys(obj):
            return {k: flatten(v, tensors, f"{prefix}.{k}") for k, v in obj.items()}
        return {
            _ITEMS: [
                [flatten(k, tensors), flatten(v, tensors, f"{prefix}.{k}")] for k, v in obj.items()
            ]
        }
    if isinstance(obj, tuple):
        return {_TUPLE: [flatten(v, tensors, f"{prefix}[{i}]") for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [flatten(v, tensors, f"{prefix}[{i}]") for i, v in enumerate(obj)]
    if obj is None or isinstance(obj, bool | int | float | str):
        return obj
    raise TrainingError(
        f"training state at {prefix or '<root>'!r} holds a {type(obj).__name__}, which cannot be "
        "saved without pickle; use components whose state_dict holds tensors and plain values"
    )


def unflatten(tree: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """The inverse of :func:`flatten`."""
    if isinstance(tree, list):
        return [unflatten(v, tensors) for v in tree]
    if not isinstance(tree, dict):
        return tree
    if _TENSOR in tree:
        return tensors[tree[_TENSOR]]
    if _NDARRAY in tree:
        return np.asarray(tree[_NDARRAY], dtype=np.dtype(tree["dtype"]))
    if _TUPLE in tree:
        return tuple(unflatten(v, tensors) for v in tree[_TUPLE])
    if _ITEMS in tree:
        return {_key(unflatten(k, tensors)): unflatten(v, tensors) for k, v in tree[_ITEMS]}
    return {k: unflatten(v, tensors) for k, v in tree.items()}


def _key(key: Any) -> Any:
    # A tuple key came back as a tuple already; lists cannot be dict keys.
    return tuple(key) if isinstance(key, list) else key
