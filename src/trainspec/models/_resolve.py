"""Block types by name (registered blocks, ``torch.nn`` layers, allowed import paths) and
the sizes inferred from input shapes (``in_features``, ``in_channels``, ``in_shape``...)."""

from __future__ import annotations

import difflib
import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from torch import nn

from trainspec.errors import RegistryError
from trainspec.models._params import ParamSignature, signature_of
from trainspec.registry import registry, resolve_import

__all__ = ["BlockType", "infer_params", "inferable", "resolve_block_type", "torch_layer_names"]

Shape = tuple[int | None, ...]

# Sizes a block's constructor may ask for, and the axis (without batch) they come from.
_FIRST_AXIS = ("in_channels", "num_features", "num_channels")
_LAST_AXIS = ("in_features", "input_size", "d_model", "embed_dim", "normalized_shape")
_WHOLE = ("in_shape", "in_shapes")
# torch layers whose batch_first defaults to False; in a graph every tensor is batch first.
_BATCH_FIRST = "batch_first"
_NOT_LAYERS = {
    "Module",
    "Sequential",
    "ModuleList",
    "ModuleDict",
    "ParameterList",
    "ParameterDict",
    "Container",
}


@dataclass(frozen=True)
class BlockType:
    """A resolved ``type:``: the factory, its signature, and its display name."""

    name: str
    factory: Callable[..., Any]
    sig: ParamSignature
    from_torch: bool


def _rnn_signature(cls: type[nn.Module]) -> ParamSignature:
    # nn.LSTM/GRU/RNN take (*args, **kwargs); these are RNNBase's keyword parameters.
    hints: dict[str, Any] = {
        "input_size": int,
        "hidden_size": int,
        "num_layers": int,
        "bias": bool,
        "batch_first": bool,
        "dropout": float,
        "bidirectional": bool,
    }
    if cls is nn.LSTM:
        hints["proj_size"] = int
    if cls is nn.RNN:
        hints["nonlinearity"] = Literal["tanh", "relu"]
    return ParamSignature(tuple(hints), frozenset({"input_size", "hidden_size"}), hints, False)


def _torch_signature(cls: type[nn.Module]) -> ParamSignature:
    if cls in (nn.LSTM, nn.GRU, nn.RNN):
        return _rnn_signature(cls)
    return signature_of(cls)


@functools.cache
def torch_layer_names() -> tuple[str, ...]:
    names = []
    for name in dir(nn):
        obj = getattr(nn, name)
        if isinstance(obj, type) and issubclass(obj, nn.Module) and name not in _NOT_LAYERS:
            names.append(name)
    return tuple(names)


def _nearest(name: str, candidates: Sequence[str]) -> list[str]:
    lowered = {c.lower(): c for c in candidates}
    exact_case = lowered.get(name.lower())
    near = difflib.get_close_matches(name, candidates, n=3, cutoff=0.6)
    near_lower = difflib.get_close_matches(name.lower(), list(lowered), n=3, cutoff=0.6)
    ordered = [exact_case] if exact_case else []
    ordered += near + [lowered[n] for n in near_lower]
    return list(dict.fromkeys(ordered))[:3]


def resolve_block_type(type_name: Any, allow_imports: Sequence[str]) -> BlockType:
    """The block factory for ``type_name``; ``ValueError`` with the nearest names otherwise."""
    if not isinstance(type_name, str) or not type_name:
        raise ValueError(f"'type' must be a block name such as 'Linear'; got {type_name!r}")
    registered = registry.names("block")
    if type_name in registered:
        factory = registry.get("block", type_name)
        return BlockType(type_name, factory, signature_of(factory), from_torch=False)
    if type_name in torch_layer_names():
        factory = getattr(nn, type_name)
        return BlockType(type_name, factory, _torch_signature(factory), from_torch=True)
    if "." in type_name:
        try:
            factory = resolve_import(type_name, allow_imports)
        except RegistryError as exc:
            raise ValueError(str(exc)) from None
        if not callable(factory):
            raise ValueError(f"{type_name!r} is not a class or function that builds a block")
        return BlockType(type_name, factory, signature_of(factory), from_torch=False)
    near = _nearest(type_name, [*registered, *torch_layer_names()])
    hint = f"; nearest: {', '.join(near)}" if near else ""
    raise ValueError(
        f"unknown block type {type_name!r}{hint}. Blocks are the registered ones "
        f"({', '.join(registered)}), torch.nn layers by class name, or an import path"
    )


def inferable(sig: ParamSignature) -> set[str]:
    """The parameters of ``sig`` that the builder fills in from input shapes."""
    return {n for n in (*_FIRST_AXIS, *_LAST_AXIS, *_WHOLE) if n in sig.names}


def _axis_size(shape: Shape, axis: int, param: str) -> int:
    if not shape:
        raise ValueError(f"{param} cannot be inferred from an input with no axes besides batch")
    size = shape[axis]
    if size is None:
        where = "first" if axis == 0 else "last"
        raise ValueError(
            f"{param} is taken from the {where} axis of the input shape {shape}, which is "
            "variable (null); give that axis a fixed size or reduce it first (global_pool)"
        )
    return size


def infer_params(
    sig: ParamSignature, given: Mapping[str, Any], shapes: Sequence[Shape]
) -> dict[str, Any]:
    """``given`` plus the sizes that ``sig`` asks for, taken from the first input's shape."""
    params = dict(given)
    first = shapes[0] if shapes else ()
    for name in inferable(sig) - set(given):
        if name == "in_shape":
            params[name] = first
        elif name == "in_shapes":
            params[name] = list(shapes)
        elif name in _FIRST_AXIS:
            params[name] = _axis_size(first, 0, name)
        else:
            params[name] = _axis_size(first, -1, name)
    if _BATCH_FIRST in sig.names and _BATCH_FIRST not in given:
        params[_BATCH_FIRST] = True
    return params
