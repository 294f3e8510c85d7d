"""Block types by name (registered blocks, ``torch.nn`` layers, allowed import paths) and
the sizes inferred from input shapes (``in_features``, ``in_channels``, ``in_shape``...)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from torch import nn

from trainspec.errors import SpecError
from trainspec.registry import ParamSignature, lookup, signature_of

__all__ = [
    "BlockType",
    "infer_params",
    "inferable",
    "resolve_block_type",
    "torch_layers",
]

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
def torch_layers() -> dict[str, type[nn.Module]]:
    layers = {}
    for name in dir(nn):
        obj = getattr(nn, name)
        if isinstance(obj, type) and issubclass(obj, nn.Module) and name not in _NOT_LAYERS:
            layers[name] = obj
    return layers


def resolve_block_type(type_name: Any, allow_imports: Sequence[str]) -> BlockType:
    """The block factory for ``type_name``: a registered block, a ``torch.nn`` layer by class
    name, or an allowed import path; ``ValueError`` with the nearest name otherwise."""
    if not isinstance(type_name, str) or not type_name:
        raise ValueError(f"'type' must be a block name such as 'Linear'; got {type_name!r}")
    try:
        name, factory = lookup("block", type_name, (), allow_imports)
    except SpecError as exc:
        problem = exc.problems[0]
        raise ValueError(problem.message + (f" ({problem.hint})" if problem.hint else "")) from None
    if not callable(factory):
        raise ValueError(f"{type_name!r} is not a class or function that builds a block")
    layer = torch_layers().get(name)
    if layer is not None and layer is factory:
        return BlockType(name, layer, _torch_signature(layer), from_torch=True)
    return BlockType(name, factory, signature_of(factory), from_torch=False)


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
