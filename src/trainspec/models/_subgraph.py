"""Sub-graphs from an architecture's ``define:`` section, as the graph builder sees them: a
block type whose parameters are the sub-graph's, and the blocks of one use of it with the
arguments put in place.

A use builds a ``GraphModule`` of the sub-graph's blocks, so its parameters are named
``<block>.<inner block>.<name>`` (``layer1.0.conv1.weight`` for copy 0 of a repeated use):
the nesting gives torchvision-style dotted names without any dots in block names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from trainspec.registry import ParamSignature
from trainspec.spec import SubgraphDef

__all__ = ["RawBlock", "body_blocks", "subgraph_signature"]


@dataclass(frozen=True)
class RawBlock:
    """One block as written: its name, where it is in the spec, its mapping, and the values
    of the parameters its strings may name (inside a sub-graph; empty elsewhere)."""

    name: str
    where: str
    raw: Any
    env: Mapping[str, Any] = field(default_factory=dict)


def subgraph_signature(defn: SubgraphDef) -> ParamSignature:
    """The parameters a use may give: the required ones and those with defaults, any type
    (the sub-graph's own blocks check the values they receive)."""
    names = (*defn.required, *defn.params)
    return ParamSignature(names, frozenset(defn.required), {}, any_keyword=False)


def body_blocks(defn: SubgraphDef, name: str, args: Mapping[str, Any]) -> list[RawBlock]:
    """The blocks of one use of ``define.<name>``, each carrying the arguments (over the
    defaults) that its values may name."""
    env = {**defn.params, **args}
    where = f"model.define.{name}"
    if defn.layers is not None:
        return [
            RawBlock(str(i), f"{where}.layers[{i}]", raw, env) for i, raw in enumerate(defn.layers)
        ]
    blocks: Mapping[str, Any] = defn.blocks or {}
    return [RawBlock(b, f"{where}.blocks.{b}", raw, env) for b, raw in blocks.items()]
