"""``build_model``: an architecture spec (and the data's input shapes) in, a ``Model`` out."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Literal

import torch

from trainspec.errors import ModelError, format_path
from trainspec.models._arch import coerce_arch
from trainspec.models._graph import GraphModule
from trainspec.models._graph_build import RawBlock, build_graph, raise_problems
from trainspec.models._imported import build_imported
from trainspec.models._model import Model
from trainspec.models._probe import Shape
from trainspec.models._shapes import RESERVED_KEYS, merge_input_shapes, split_declared
from trainspec.models._torch_model import TorchModel
from trainspec.spec import (
    GraphArch,
    ImportedModel,
    InputDecl,
    SequentialArch,
    define_problems,
)

__all__ = ["build_model"]


@contextlib.contextmanager
def _seeded(seed: int | None) -> Iterator[None]:
    """Initialise with ``seed`` without touching the caller's global random state."""
    if seed is None:
        yield
        return
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def _sequential_inputs(
    spec: SequentialArch, data: Mapping[str, Shape] | None
) -> tuple[dict[str, Shape], dict[str, str]]:
    data_keys = [k for k in (data or {}) if k not in RESERVED_KEYS]
    declared = spec.inputs
    if isinstance(declared, (list, InputDecl)):
        # A bare shape names no input: take the data's only key when there is one.
        name = data_keys[0] if len(data_keys) == 1 else "x"
        declared = {name: declared}
    if declared is not None and len(declared) != 1:
        raise ModelError(
            f"model.inputs: a sequential architecture takes one input; got "
            f"{', '.join(declared)}. Use blocks: with named inputs for several"
        )
    if declared is None and len(data_keys) != 1:
        raise ModelError(
            "model.inputs: a sequential architecture takes one input but the data gives "
            f"{len(data_keys)} ({', '.join(data_keys) or 'none'}); declare inputs: [sizes]"
        )
    shapes, dtypes = split_declared(declared)
    return merge_input_shapes(shapes, data), dtypes


def _declarative(
    spec: SequentialArch | GraphArch,
    data: Mapping[str, Shape] | None,
    allow_imports: Sequence[str],
) -> GraphModule:
    generator = torch.Generator().manual_seed(0)  # probe values; leaves the init RNG alone
    # What validate checks without torch ('in' in a chain of layers, sub-graphs and their
    # uses), for architectures that come as plain mappings.
    raise_problems(
        [
            f"{format_path(('model', *p.path))}: {p.message}" + (f" ({p.hint})" if p.hint else "")
            for p in define_problems(spec)
        ]
    )
    if isinstance(spec, SequentialArch):
        shapes, dtypes = _sequential_inputs(spec, data)
        blocks = [RawBlock(str(i), f"model.layers[{i}]", raw) for i, raw in enumerate(spec.layers)]
        return build_graph(
            blocks,
            shapes,
            None,
            allow_imports=allow_imports,
            generator=generator,
            dtypes=dtypes,
            defines=spec.define,
            scope="model.layers",
        )
    declared, dtypes = split_declared(spec.inputs)
    shapes = merge_input_shapes(declared, data)
    blocks = [RawBlock(name, f"model.blocks.{name}", raw) for name, raw in spec.blocks.items()]
    return build_graph(
        blocks,
        shapes,
        spec.outputs,
        allow_imports=allow_imports,
        generator=generator,
        dtypes=dtypes,
        defines=spec.define,
    )


def build_model(
    arch: Any,
    *,
    input_shapes: Mapping[str, Sequence[int | None]] | None = None,
    allow_imports: Sequence[str] = (),
    seed: int | None = None,
    task: Literal["classification", "regression"] = "classification",
    fields: Mapping[str, Sequence[int | None]] | None = None,
) -> Model:
    """Build the model an architecture spec describes.

    ``input_shapes`` are the data's shapes per batch key, without the batch axis (None: a
    variable axis). They fill the architecture's own ``inputs:`` where it leaves sizes null,
    and must agree with it elsewhere. Sizes such as ``in_features`` are inferred from them.
    Import paths resolve only under the default prefixes and ``allow_imports``. ``seed`` fixes
    the initial weights without changing the global random state. ``fields`` are the batch
    fields the data makes (``mask``, ``lengths``, ``weight`` with their shapes), which a user's
    module may take as inputs (default: those data of ``input_shapes`` makes). Every problem raises
    ``ModelError`` naming the block, before any training.
    """
    spec = coerce_arch(arch)
    data = None if input_shapes is None else {k: tuple(v) for k, v in input_shapes.items()}
    with _seeded(seed):
        if isinstance(spec, ImportedModel):
            return build_imported(
                spec,
                data_shapes=data,
                allow_imports=allow_imports,
                task=task,
                fields=None if fields is None else {k: tuple(v) for k, v in fields.items()},
            )
        module = _declarative(spec, data, allow_imports)
    shapes = {name: module.shapes[name] for name in module.input_names}
    # With several outputs the first is the one trained and predicted.
    output = 0 if len(module.outputs) > 1 else None
    return TorchModel(
        module,
        arch=spec,
        input_shapes=shapes,
        input_keys=module.input_names,
        output=output,
        task=task,
    )
