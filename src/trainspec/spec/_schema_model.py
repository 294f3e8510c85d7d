"""The architecture spec: a sequential list of layers, a graph of named blocks, or a user's
own ``nn.Module`` / scikit-learn estimator by import path.

Block parameters are free-form here (they depend on the block type) and are checked against
the block's signature by ``trainspec.models`` when the network is built.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Discriminator, Field, Tag

from trainspec.spec._base import Section

__all__ = ["ArchSpec", "GraphArch", "ImportedModel", "SequentialArch", "Shape", "arch_kind"]

# A shape without the batch dimension; None marks a variable-length axis.
Shape = list[int | None]


class SequentialArch(Section):
    """``inputs`` and a plain list of layers applied in order."""

    inputs: dict[str, Shape] | Shape = Field(
        description="Input shape(s) without the batch axis; a bare list names one input 'x'."
    )
    layers: list[str | dict[str, Any]] = Field(
        min_length=1,
        description="Layers in order: 'ReLU' or {type: Linear, out_features: 10}.",
    )


class GraphArch(Section):
    """Named inputs, a graph of named blocks (each with ``type`` and optional ``in``), outputs."""

    inputs: dict[str, Shape] = Field(description="Named inputs and their shapes.")
    blocks: dict[str, dict[str, Any]] = Field(
        min_length=1,
        description="Blocks by name, in order; each has 'type' and optionally 'in'.",
    )
    outputs: dict[str, str] | str | None = Field(
        default=None,
        description="Output name -> block, or one block name; default: the last block.",
    )


class ImportedModel(Section):
    """A user's ``nn.Module`` or a scikit-learn estimator, built by import path."""

    target: str = Field(description="Import path, e.g. my_pkg.nets.SleepNet.")
    params: dict[str, Any] = Field(
        default_factory=dict,
        description="Constructor parameters, inline or from a JSON/YAML file.",
    )
    inputs: dict[str, str] | None = Field(
        default=None,
        description="forward() argument -> batch key, e.g. {ecg_input: ecgs}.",
    )
    input_shapes: dict[str, Shape] | None = Field(
        default=None,
        description="Shapes of the batch keys without the batch axis (for summary and export).",
    )
    output: str | int | None = Field(
        default=None,
        description="Which output to use when forward returns a tuple or dict.",
    )


def arch_kind(value: Any) -> str | None:
    """Which form of architecture a raw mapping is, by the key that defines it."""
    if isinstance(value, dict):
        if "target" in value:
            return "imported"
        if "blocks" in value:
            return "graph"
        if "layers" in value:
            return "sequential"
        return None
    if isinstance(value, ImportedModel):
        return "imported"
    if isinstance(value, GraphArch):
        return "graph"
    if isinstance(value, SequentialArch):
        return "sequential"
    return None


ArchSpec = Annotated[
    Annotated[SequentialArch, Tag("sequential")]
    | Annotated[GraphArch, Tag("graph")]
    | Annotated[ImportedModel, Tag("imported")],
    Discriminator(
        arch_kind,
        custom_error_type="architecture_kind",
        custom_error_message=(
            "an architecture needs 'layers' (sequential), 'blocks' (graph) or 'target' "
            "(your own module or estimator)"
        ),
    ),
]
