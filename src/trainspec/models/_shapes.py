"""Input shapes declared by the architecture and those the data provides, reconciled."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from trainspec.errors import ModelError
from trainspec.models._probe import Shape, fmt_shape
from trainspec.spec import GraphArch, ImportedModel, InputDecl, SequentialArch

__all__ = ["RESERVED_KEYS", "arch_input_dtypes", "merge_input_shapes", "split_declared"]

# Batch keys that are never model inputs (see trainspec.data._batch).
RESERVED_KEYS = frozenset({"target", "weight", "mask", "index"})


def _as_shape(value: Sequence[int | None], where: str) -> Shape:
    if isinstance(value, (str, bytes)) or not all(
        v is None or (isinstance(v, int) and not isinstance(v, bool) and v > 0) for v in value
    ):
        raise ModelError(f"{where}: a shape is a list of positive sizes or null; got {value!r}")
    return tuple(value)


def _merge_one(name: str, declared: Shape, data: Shape) -> Shape:
    if len(declared) != len(data):
        raise ModelError(
            f"model.inputs.{name}: the architecture declares {fmt_shape(declared)} but the data "
            f"gives {fmt_shape(data)} (a different number of axes)"
        )
    merged: list[int | None] = []
    for axis, (d, s) in enumerate(zip(declared, data, strict=True)):
        if d is not None and s is not None and d != s:
            raise ModelError(
                f"model.inputs.{name}: axis {axis} is {d} in the architecture but {s} in the "
                f"data ({fmt_shape(declared)} against {fmt_shape(data)}); fix one of them, or "
                "write null in the architecture to take the data's size"
            )
        merged.append(d if d is not None else s)
    return tuple(merged)


def merge_input_shapes(
    declared: Mapping[str, Sequence[int | None]] | None,
    data: Mapping[str, Sequence[int | None]] | None,
    *,
    required: bool = True,
) -> dict[str, Shape]:
    """Input name -> shape without batch. The data fills the architecture's null axes; sizes
    given by both must agree. The architecture's names win when it declares any."""
    data_shapes = {
        k: _as_shape(v, f"data shape of {k!r}")
        for k, v in (data or {}).items()
        if k not in RESERVED_KEYS
    }
    if declared is None:
        if not data_shapes and required:
            raise ModelError(
                "model.inputs: no input shapes; declare them in the architecture "
                "(inputs: {name: [sizes]}) or build the model from data that has them"
            )
        return data_shapes
    merged = {}
    for name, shape in declared.items():
        own = _as_shape(shape, f"model.inputs.{name}")
        if data is None:
            merged[name] = own
        elif name not in data_shapes:
            raise ModelError(
                f"model.inputs.{name}: the architecture reads input {name!r} but the data gives "
                f"only {', '.join(data_shapes) or 'no inputs'}; rename one of them"
            )
        else:
            merged[name] = _merge_one(name, own, data_shapes[name])
    return merged


def split_declared(
    declared: Mapping[str, Any] | None,
) -> tuple[dict[str, Sequence[int | None]] | None, dict[str, str]]:
    """Declared inputs (bare shapes or ``{shape, dtype}``) -> (shapes, dtypes of the inputs
    that declare one other than float32)."""
    if declared is None:
        return None, {}
    shapes: dict[str, Sequence[int | None]] = {}
    dtypes: dict[str, str] = {}
    for name, value in declared.items():
        if isinstance(value, InputDecl):
            shapes[name] = value.shape
            if value.dtype != "float32":
                dtypes[name] = value.dtype
        else:
            shapes[name] = value
    return shapes, dtypes


def arch_input_dtypes(arch: Any, input_keys: Sequence[str]) -> dict[str, str]:
    """The non-float dtypes an architecture declares for its inputs, by batch key."""
    if isinstance(arch, ImportedModel):
        return split_declared(arch.input_shapes)[1]
    if isinstance(arch, SequentialArch):
        declared = arch.inputs
        if isinstance(declared, InputDecl):
            return {input_keys[0]: declared.dtype} if declared.dtype != "float32" else {}
        return {} if not isinstance(declared, dict) else split_declared(declared)[1]
    if isinstance(arch, GraphArch):
        return split_declared(arch.inputs)[1]
    return {}
