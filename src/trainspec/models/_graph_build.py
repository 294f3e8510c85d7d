"""From the blocks of a spec to a ``GraphModule``: parse and check every block first (all
problems reported together), order them, then build each one from its inputs' shapes and
run a small probe batch through it so that the next block knows its input shape.

A block whose type is a sub-graph of ``define:`` is built the same way, one level down: its
blocks, with the use's arguments in place, become a nested ``GraphModule`` probed with the
outer probes (see ``_subgraph``)."""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from trainspec.errors import ModelError, Problem, closest, format_path, raised_at
from trainspec.models._expr import is_expression, substitute
from trainspec.models._graph import GraphModule, Step, apply_block
from trainspec.models._probe import Shape, fmt_shape, fmt_shapes, make_probes, symbolic
from trainspec.models._resolve import BlockType, infer_params, inferable, resolve_block_type
from trainspec.models._shape_hints import dtype_hint, expectation
from trainspec.models._subgraph import RawBlock, body_blocks, subgraph_signature
from trainspec.registry import check_component_params, described_by, registry, unknown_name
from trainspec.spec import BLOCK_OPTIONS, SubgraphDef

__all__ = ["RawBlock", "build_graph", "problem_text", "raise_problems"]

_NAME = re.compile(r"^[A-Za-z0-9_]+$")


@dataclass(frozen=True)
class _Context:
    """What every level of a build shares: the allow-list and the sub-graphs, and the
    sub-graphs being built (outermost first), which must never contain themselves."""

    allow_imports: Sequence[str]
    defines: Mapping[str, SubgraphDef] = field(default_factory=dict)
    stack: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Level:
    """Where a level's blocks and outputs are in the spec, for messages."""

    blocks: str  # model.blocks, model.layers or model.define.<name>.blocks
    outputs: str  # model.outputs or model.define.<name>


@dataclass(frozen=True)
class _BlockDef:
    where: str
    btype: BlockType
    step: Step
    copies: tuple[dict[str, Any], ...]  # parameters of each copy (one without repeat)
    subgraph: SubgraphDef | None = None
    enabled: bool = True


def raise_problems(problems: Sequence[str]) -> None:
    if len(problems) == 1:
        raise ModelError(problems[0])
    if problems:
        listing = "\n".join(f"  - {p}" for p in problems)
        raise ModelError(f"{len(problems)} problems in the architecture:\n{listing}")


@functools.cache
def _reserved() -> frozenset[str]:
    return frozenset(
        {*dir(nn.Module()), *dir(GraphModule), "input_names", "steps", "outputs", "shapes"}
    )


def _check_name(block: RawBlock, inputs: Sequence[str], problems: list[str]) -> None:
    if not _NAME.match(block.name):
        problems.append(
            f"{block.where}: block name {block.name!r} may hold only letters, digits "
            "and '_' (it becomes the prefix of its parameters' names)"
        )
    elif block.name in _reserved():
        problems.append(f"{block.where}: block name {block.name!r} is reserved; rename it")
    elif block.name in inputs:
        problems.append(f"{block.where}: block name {block.name!r} is also an input's name")


def _inputs_of(raw: Mapping[str, Any], default: str | None, where: str) -> tuple[str, ...]:
    value = raw.get("in", default)
    if value is None:
        raise ValueError("has no 'in' and there are several inputs; say which with in: <name>")
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ValueError(f"'in' must be a block or input name, or a list of them; got {value!r}")


def _step_options(
    name: str, btype: BlockType, raw: Mapping[str, Any], inputs: tuple[str, ...]
) -> Step:
    repeat = raw.get("repeat")
    if repeat is not None and (
        not isinstance(repeat, int) or isinstance(repeat, bool) or repeat < 1
    ):
        raise ValueError(f"'repeat' must be a whole number >= 1; got {repeat!r}")
    for flag in ("residual", "per_step"):
        if not isinstance(raw.get(flag, False), bool):
            raise ValueError(f"{flag!r} must be true or false; got {raw[flag]!r}")
    select = raw.get("select")
    if select is not None and not isinstance(select, (int, str)):
        raise ValueError(f"'select' must be an output index or key; got {select!r}")
    if repeat is not None and len(inputs) > 1:
        raise ValueError("a repeated block takes one input (each copy feeds the next)")
    _check_copies_and_enabled(raw, repeat, inputs)
    return Step(
        name,
        btype.name,
        inputs,
        repeat,
        bool(raw.get("residual", False)),
        bool(raw.get("per_step", False)),
        select,
    )


def _check_copies_and_enabled(
    raw: Mapping[str, Any], repeat: int | None, inputs: tuple[str, ...]
) -> None:
    """``overrides`` and ``enabled`` as their values are once parameters are in place."""
    overrides = raw.get("overrides", [])
    if not isinstance(overrides, list) or not all(isinstance(o, dict) for o in overrides):
        raise ValueError(
            f"'overrides' must be a list of mappings (entry k for copy k); got {overrides!r}"
        )
    if overrides and (repeat is None or len(overrides) > repeat):
        raise ValueError(f"'overrides' has {len(overrides)} entries for {repeat or 'no'} copies")
    if not isinstance(raw.get("enabled", True), bool):
        raise ValueError(f"'enabled' must be true or false; got {raw['enabled']!r}")
    if raw.get("enabled") is False and len(inputs) != 1:
        raise ValueError("enabled: false passes the block's input through: it needs one input")


def _built_as_graph(**_: Any) -> nn.Module:
    raise AssertionError("a sub-graph is built by _build_subgraph, not by a factory")


def _block_type(type_name: Any, ctx: _Context) -> tuple[BlockType, SubgraphDef | None]:
    if isinstance(type_name, str) and type_name in ctx.defines:
        defn = ctx.defines[type_name]
        return BlockType(type_name, _built_as_graph, subgraph_signature(defn), False), defn
    try:
        return resolve_block_type(type_name, ctx.allow_imports), None
    except ValueError:
        if not isinstance(type_name, str) or not ctx.defines or "." in type_name:
            raise
        known = [*registry.names("block"), *ctx.defines]  # as validation words it
        raise ValueError(problem_text(unknown_name("block", type_name, known, ()))) from None


def _copy_params(
    params: dict[str, Any], step: Step, overrides: list[dict[str, Any]], env: Mapping[str, Any]
) -> tuple[dict[str, Any], ...]:
    """The parameters of each copy: the block's, with its entry of ``overrides`` over them,
    and expressions over ``i``, ``n`` and the sub-graph's parameters evaluated."""
    if step.repeat is None:
        return (params,)
    n = step.repeat
    extra = [*overrides, *([{}] * (n - len(overrides)))]
    return tuple(substitute({**params, **extra[i]}, {**env, "i": i, "n": n}) for i in range(n))


def _parse_block(
    block: RawBlock, default_in: str | None, ctx: _Context, problems: list[str]
) -> _BlockDef | None:
    raw: Any = {"type": block.raw} if isinstance(block.raw, str) else block.raw
    if not isinstance(raw, dict) or "type" not in raw:
        problems.append(
            f"{block.where}: a block needs 'type' (e.g. {{type: Linear, "
            f"out_features: 10}}); got {block.raw!r}"
        )
        return None
    try:
        # A sub-graph's parameters first; i and n per copy below.
        raw = {k: v if k == "in" else substitute(v, block.env) for k, v in raw.items()}
        btype, subgraph = _block_type(raw["type"], ctx)
        # An option name the block itself takes (dense_stack's residual) goes to the block.
        options = {k for k in BLOCK_OPTIONS if k not in btype.sig.names}
        own = {k: v for k, v in raw.items() if k in options}
        step = _step_options(block.name, btype, own, _inputs_of(raw, default_in, block.where))
        params = {k: v for k, v in raw.items() if k != "type" and k not in options}
        copies = _copy_params(params, step, own.get("overrides", []), block.env)
    except ValueError as exc:
        problems.append(f"{block.where}: {exc}")
        return None
    described = described_by("block", btype.name, btype.sig, inferred=inferable(btype.sig))
    found: list[Problem] = []
    for copy in copies:
        found += [
            p
            for p in check_component_params(described, copy, (), value_hint=_expression_hint)
            if p not in found
        ]
    problems += [problem_text(p, block.where) for p in found]
    return _BlockDef(block.where, btype, step, copies, subgraph, own.get("enabled", True))


def _expression_hint(value: Any) -> str:
    if is_expression(value):
        return "expressions over i and n work only in a block with repeat: N"
    return ""


def problem_text(problem: Problem, where: str = "") -> str:
    """A problem as one line of a ``ModelError``: ``model.blocks.fc.out_features: ...``;
    ``where`` is the block its (relative) key path is under."""
    key = ".".join(p for p in (where, format_path(problem.path) if problem.path else "") if p)
    text = f"{problem.message} ({problem.hint})" if problem.hint else problem.message
    return f"{key}: {text}" if key else text


def _order(
    defs: list[_BlockDef], known: set[str], problems: list[str], scope: str
) -> list[_BlockDef]:
    """Blocks in an order where each comes after its inputs (declaration order otherwise)."""
    inputs = known - {d.step.name for d in defs}
    for d in defs:
        for ref in d.step.inputs:
            if ref not in known:
                near = closest(ref, known)
                hint = f"; did you mean {near!r}?" if near else ""
                problems.append(
                    f"{d.where}: 'in' names {ref!r}, which is neither an input nor a block{hint}"
                )
    if problems:
        return defs
    done, ordered, pending = set(inputs), [], list(defs)
    while pending:
        ready = next((d for d in pending if set(d.step.inputs) <= done), None)
        if ready is None:
            problems.append(f"{scope}: the blocks form a cycle: {_cycle(pending)}")
            return defs
        pending.remove(ready)
        ordered.append(ready)
        done.add(ready.step.name)
    return ordered


def _cycle(pending: list[_BlockDef]) -> str:
    by_name = {d.step.name: d for d in pending}
    path = [pending[0].step.name]
    while True:
        nxt = next(r for r in by_name[path[-1]].step.inputs if r in by_name)
        if nxt in path:
            cycle = [*path[path.index(nxt) :], nxt]
            return " -> ".join(cycle) + " (each takes 'in' from the next)"
        path.append(nxt)


def _inner(shapes: list[Shape], per_step: bool) -> list[Shape]:
    if not per_step:
        return shapes
    if any(len(s) < 2 for s in shapes):
        raise ValueError(
            f"per_step needs inputs (T, ...) with a step axis; got {fmt_shapes(shapes)}"
        )
    return [s[1:] for s in shapes]


def _pass_disabled(
    ordered: list[_BlockDef], out_map: dict[str, str]
) -> tuple[list[_BlockDef], dict[str, str]]:
    """Blocks with ``enabled: false`` left out; whatever took one takes its input instead."""
    alias: dict[str, str] = {}
    kept = []
    for d in ordered:
        inputs = tuple(alias.get(n, n) for n in d.step.inputs)
        if d.enabled:
            kept.append(dataclasses.replace(d, step=dataclasses.replace(d.step, inputs=inputs)))
        else:
            alias[d.step.name] = inputs[0]
    return kept, {key: alias.get(ref, ref) for key, ref in out_map.items()}


def _build_subgraph(
    d: _BlockDef,
    args: dict[str, Any],
    label: str,
    in_shapes: list[Shape],
    variants: list[list[torch.Tensor]],
    ctx: _Context,
) -> GraphModule:
    """One use of a sub-graph: its blocks, with ``args`` in place, probed with the outer
    block's probes (folded to (B*T, ...) for per_step)."""
    name, defn = d.btype.name, d.subgraph
    assert defn is not None
    if name in ctx.stack:
        chain = " -> ".join([*ctx.stack[ctx.stack.index(name) :], name])
        raise ModelError(
            f"{label}: sub-graphs use each other in a circle: {chain}; a sub-graph cannot "
            "contain itself (check the parameters that name block types)"
        )
    if len(in_shapes) != len(defn.inputs):
        raise ModelError(
            f"{label}: sub-graph {name!r} takes {len(defn.inputs)} input(s) "
            f"({', '.join(defn.inputs)}); this block gives {len(in_shapes)}"
        )
    if d.step.per_step:
        variants = [[a.flatten(0, 1) for a in v] for v in variants]
    probes = [dict(zip(defn.inputs, v, strict=True)) for v in variants]
    shapes = dict(zip(defn.inputs, in_shapes, strict=True))
    level = _Level(f"model.define.{name}.blocks", f"model.define.{name}")
    inner = dataclasses.replace(ctx, stack=(*ctx.stack, name))
    try:
        return _assemble(body_blocks(defn, name, args), shapes, probes, defn.output, inner, level)
    except ModelError as exc:
        raise ModelError(f"{label} -> {exc}") from None


def _make_block(
    d: _BlockDef,
    params: dict[str, Any],
    label: str,
    in_shapes: list[Shape],
    variants: list[list[torch.Tensor]],
    ctx: _Context,
) -> nn.Module:
    inner_shapes = _inner(in_shapes, d.step.per_step)
    if d.subgraph is not None:
        return _build_subgraph(d, params, label, inner_shapes, variants, ctx)
    try:
        module = d.btype.factory(**infer_params(d.btype.sig, params, inner_shapes))
    except (TypeError, ValueError, RuntimeError, AssertionError, IndexError, KeyError) as exc:
        raise ModelError(
            f"{label}: cannot be built from {params or 'no parameters'}: {exc}{raised_at(exc)}"
        ) from exc
    if not isinstance(module, nn.Module):
        raise ModelError(f"{label}: {d.btype.name} returned {type(module).__name__}, not a module")
    return module


def _build_copy(
    d: _BlockDef,
    params: dict[str, Any],
    label: str,
    in_shapes: list[Shape],
    variants: list[list[torch.Tensor]],
    ctx: _Context,
) -> tuple[nn.Module, list[torch.Tensor]]:
    """One copy of a block built from its inputs' shapes, and its outputs on the probes."""
    module = _make_block(d, params, label, in_shapes, variants, ctx)
    module.eval()
    plain = dataclasses.replace(d.step, residual=False)
    try:
        with torch.no_grad():
            outs = [apply_block(module, args, plain) for args in variants]
    except ValueError as exc:
        raise ModelError(f"{label}: {exc}") from exc
    except (RuntimeError, TypeError, IndexError) as exc:
        per = " per step" if d.step.per_step else ""
        raise ModelError(
            f"{label}: shape mismatch: cannot take input shape {fmt_shapes(in_shapes)}{per}"
            f"{expectation(module)}: {exc}{dtype_hint(exc, variants)}{raised_at(exc)}"
        ) from exc
    if d.step.residual:
        out_shape = symbolic(outs)
        if out_shape != in_shapes[0]:
            raise ModelError(
                f"{label}: residual: true adds the input {fmt_shape(in_shapes[0])} "
                f"to the output {fmt_shape(out_shape)}; the shapes must be equal "
                "(or use an add block with a projection)"
            )
        outs = [o + args[0] for o, args in zip(outs, variants, strict=True)]
    return module, outs


def build_graph(
    blocks: Sequence[RawBlock],
    input_shapes: Mapping[str, Shape],
    outputs: Mapping[str, str] | str | None,
    *,
    allow_imports: Sequence[str] = (),
    generator: torch.Generator | None = None,
    dtypes: Mapping[str, str] | None = None,
    defines: Mapping[str, SubgraphDef] | None = None,
    scope: str = "model.blocks",
) -> GraphModule:
    """Check, order and build the blocks; ``ModelError`` names the block that is wrong.
    ``dtypes`` names the integer (``int64``) inputs, which are probed with integers;
    ``defines`` are the sub-graphs blocks may use by name; ``scope`` is where the blocks are
    in the spec (``model.blocks`` or ``model.layers``)."""
    ctx = _Context(tuple(allow_imports), dict(defines or {}))
    probes = make_probes(input_shapes, generator, dtypes)
    level = _Level(scope, "model.outputs")
    return _assemble(blocks, input_shapes, probes, outputs, ctx, level)


def _assemble(
    blocks: Sequence[RawBlock],
    input_shapes: Mapping[str, Shape],
    probes: list[dict[str, torch.Tensor]],
    outputs: Mapping[str, str] | str | None,
    ctx: _Context,
    level: _Level,
) -> GraphModule:
    """One level of the graph: its blocks checked (all problems at once), then built in
    order, each probed with its inputs' probe tensors (``probes`` gains every block's)."""
    inputs = list(input_shapes)
    problems: list[str] = []
    defs: list[_BlockDef] = []
    previous = inputs[0] if len(inputs) == 1 else None
    for block in blocks:
        _check_name(block, inputs, problems)
        parsed = _parse_block(block, previous, ctx, problems)
        if parsed is not None:
            defs.append(parsed)
        previous = block.name
    out_map = _outputs(outputs, [b.name for b in blocks], inputs, problems, level.outputs)
    ordered = _order(defs, {*inputs, *(b.name for b in blocks)}, problems, level.blocks)
    raise_problems(problems)
    ordered, out_map = _pass_disabled(ordered, out_map)

    shapes: dict[str, Shape] = dict(input_shapes)
    modules: dict[str, nn.Module] = {}
    for d in ordered:
        in_shapes = [shapes[n] for n in d.step.inputs]
        variants = [[p[n] for n in d.step.inputs] for p in probes]
        copies = []
        for k, params in enumerate(d.copies):
            label = f"{d.where} ({d.btype.name}{f', copy {k}' if d.step.repeat else ''})"
            module, outs = _build_copy(d, params, label, in_shapes, variants, ctx)
            copies.append(module.train())
            variants = [[o] for o in outs]
            in_shapes = [symbolic(outs)]
        modules[d.step.name] = nn.ModuleList(copies) if d.step.repeat else copies[0]
        shapes[d.step.name] = in_shapes[0]
        for p, v in zip(probes, variants, strict=True):
            p[d.step.name] = v[0]
    return GraphModule(inputs, [d.step for d in ordered], modules, out_map, shapes)


def _outputs(
    outputs: Mapping[str, str] | str | None,
    names: list[str],
    inputs: list[str],
    problems: list[str],
    where: str,
) -> dict[str, str]:
    if outputs is None:
        return {"output": names[-1]} if names else {}
    out_map = {"output": outputs} if isinstance(outputs, str) else dict(outputs)
    for key, ref in out_map.items():
        if ref not in names:
            near = closest(ref, names)
            hint = f"; did you mean {near!r}?" if near else ""
            what = "an input" if ref in inputs else "not a block"
            problems.append(f"{where}.{key}: {ref!r} is {what}{hint}")
    return out_map
