"""The architecture spec: a sequential list of layers, a graph of named blocks, or a user's
own ``nn.Module`` / scikit-learn estimator by import path.

Block parameters are free-form here (they depend on the block type) and are checked against
the block's signature by ``trainspec.models`` when the network is built. Besides its own
parameters, every block (and every entry of ``layers``) may carry these options:

- ``type``: a registered block (``conv_stack``, ``tcn``...), a ``torch.nn`` layer
  (``Linear``, ``Conv1d``...) or an allowed import path;
- ``in``: the input(s) it takes, a name or a list of names (graphs only; default: the block
  declared just before it, or the only input);
- ``repeat: N``: N copies in a chain, parameters may be expressions over ``i`` (the copy's
  index) and ``n`` (the count), such as ``dilation: "2**i"``;
- ``residual: true``: add the block's input to its output (the shapes must agree);
- ``per_step: true``: apply the block to every step of a sequence: (B, T, ...) is folded to
  (B*T, ...) for the block and unfolded back to (B, T, ...);
- ``select: 0 | "name"``: keep one output of a block that returns a tuple or a dict;
- ``overrides: [{stride: 2}]``: entry k changes parameters of copy k of a repeated block;
- ``enabled: false``: leave the block out; its one input passes through in its place.

``define:`` names parametrised sub-graphs (``SubgraphDef``); a block whose ``type`` is such a
name is a copy of that sub-graph, with its parameters as arguments (see ``_defines``).

Shapes never include the batch axis; ``null`` marks an axis of variable length. Sizes such as
``in_features`` or ``in_channels`` are inferred from the shapes, never written by hand. An
input is a shape (``[64]``) or ``{shape: [64], dtype: int64}`` for integer inputs such as token
ids and attention masks.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag, field_validator, model_validator

from trainspec.spec._base import Section

__all__ = [
    "BATCH_FIELDS",
    "ArchSpec",
    "GraphArch",
    "ImportedModel",
    "InputDecl",
    "OutputKind",
    "OutputSpec",
    "SequentialArch",
    "Shape",
    "SubgraphDef",
    "arch_kind",
]

# A shape without the batch dimension; None marks a variable-length axis.
Shape = list[int | None]


class InputDecl(Section):
    """One input with its element type: ``{shape: [32], dtype: int64}``."""

    shape: Shape = Field(description="Shape without the batch axis; null: variable length.")
    dtype: Literal["float32", "int64"] = Field(
        default="float32",
        description="int64 for token ids, attention masks and other indices: the shape probes "
        "then feed integers (0 or 1, valid for any vocabulary and as a mask), not floats.",
    )


# An input as a bare shape, or a shape with its dtype.
InputShape = Shape | InputDecl


# A block as written: a bare type name, or a mapping with type, parameters and options.
BlockEntry = str | dict[str, Any]


class SubgraphDef(Section):
    """A sub-graph defined once and used by name as a block's ``type``, with arguments.

    Its blocks refer to a parameter by writing its name as a value (``out_channels: planes``)
    or in an arithmetic expression (``"planes * 4"``).
    """

    inputs: list[str] = Field(
        default_factory=lambda: ["x"],
        min_length=1,
        description="Names of its inputs, in the order a block's 'in: [a, b]' feeds them.",
    )
    required: list[str] = Field(
        default_factory=list, description="Parameters every use must give: [planes]."
    )
    params: dict[str, Any] = Field(
        default_factory=dict,
        description="Parameters with their defaults: {stride: 1, project: false}.",
    )
    blocks: dict[str, BlockEntry] | None = Field(
        default=None,
        description="Named blocks, as in a graph architecture (each may take 'in').",
    )
    layers: list[BlockEntry] | None = Field(
        default=None,
        description="Or a plain chain of layers, named 0, 1, ... in its parameters' names.",
    )
    output: str | None = Field(
        default=None, description="The block whose output it returns; default: the last block."
    )

    @model_validator(mode="after")
    def _one_body(self) -> SubgraphDef:
        if (self.blocks is None) == (self.layers is None):
            raise ValueError("a sub-graph needs either 'blocks' (a graph) or 'layers' (a chain)")
        if self.layers is not None and self.output is not None:
            raise ValueError("'output' names one of 'blocks'; a chain of layers returns its last")
        if not (self.blocks or self.layers):
            raise ValueError("a sub-graph needs at least one block")
        return self


Defines = dict[str, SubgraphDef]
_DEFINE_DOC = (
    "Sub-graphs by name, each with inputs, parameters and blocks; a block uses one as its "
    "type: {type: basic_block, planes: 64}."
)


class SequentialArch(Section):
    """``inputs`` and a plain list of layers applied in order."""

    inputs: dict[str, InputShape] | Shape | InputDecl | None = Field(
        default=None,
        description=(
            "Input shape without the batch axis; a bare list names the input 'x'. "
            "Default: the shape the data provides."
        ),
    )
    define: Defines = Field(default_factory=dict, description=_DEFINE_DOC)
    layers: list[BlockEntry] = Field(
        min_length=1,
        description="Layers in order: 'ReLU' or {type: Linear, out_features: 10}.",
    )


class GraphArch(Section):
    """Named inputs, a graph of named blocks (each with ``type`` and optional ``in``), outputs."""

    inputs: dict[str, InputShape] | None = Field(
        default=None,
        description=(
            "Named inputs (batch keys) and their shapes without the batch axis (or "
            "{shape, dtype}). "
            "Default: the keys and shapes the data provides."
        ),
    )
    define: Defines = Field(default_factory=dict, description=_DEFINE_DOC)
    blocks: dict[str, BlockEntry] = Field(
        min_length=1,
        description=(
            "Blocks by name, in order; each has 'type' and optionally 'in' ('ReLU' is short "
            "for {type: ReLU})."
        ),
    )
    outputs: dict[str, str] | str | None = Field(
        default=None,
        description=(
            "Output name -> block, or one block name; default: the last block. The first "
            "output is the one trained and predicted."
        ),
    )


# Batch fields trainspec makes that a user's forward() may take besides the data's inputs:
# the padding mask of records (B, T) bool, their lengths (B,) int64 and the sample weights
# (B,) or per-step weights (B, T) float32.
BATCH_FIELDS = ("mask", "lengths", "weight")

OutputKind = Literal["logits", "probabilities", "log_probabilities"]


class OutputSpec(Section):
    """What a user's module returns: ``{kind: probabilities, select: 0}``."""

    kind: OutputKind = Field(
        default="logits",
        description="logits (softmax/sigmoid applied by trainspec), probabilities (already "
        "softmax or sigmoid: never applied twice) or log_probabilities (log_softmax).",
    )
    select: int | str | None = Field(
        default=None,
        description="Which element to use when forward returns a tuple (an index) or a dict "
        "(a key).",
    )


class ImportedModel(Section):
    """A user's ``nn.Module`` or a scikit-learn estimator, built by import path."""

    target: str = Field(description="Import path, e.g. my_pkg.nets.SleepNet.")
    params: dict[str, Any] = Field(
        default_factory=dict,
        description="Constructor parameters, inline or from a JSON/YAML file.",
    )
    params_as: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="Pass the whole params mapping as this one argument (a constructor such as "
        "__init__(self, net_parameters)), instead of one keyword per entry.",
    )
    args: list[Any] = Field(
        default_factory=list,
        description="Positional constructor arguments, before any keyword ones.",
    )
    example_batch: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="Pass an example batch (a dict of tensors keyed like forward's arguments, "
        "built from the data's shapes) to the constructor under this argument name, for "
        "modules that probe shapes from a sample.",
    )
    inputs: dict[str, str] | None = Field(
        default=None,
        description="forward() argument -> batch key, e.g. {ecg_input: ecgs}; the batch fields "
        "mask (padding mask), lengths (record lengths) and weight (sample weights) are keys "
        "too.",
    )
    input_shapes: dict[str, InputShape] | None = Field(
        default=None,
        description="Shapes of the batch keys without the batch axis (for summary and export).",
    )
    output: OutputSpec = Field(
        default_factory=OutputSpec,
        description="What forward returns: {kind: logits|probabilities|log_probabilities, "
        "select: INDEX_OR_KEY}; a bare index or key is short for {select: ...}.",
    )

    @field_validator("output", mode="before")
    @classmethod
    def _short_output(cls, value: Any) -> Any:
        if value is None:
            return {}
        if isinstance(value, (int, str)) and not isinstance(value, bool):
            return {"select": value}
        return value

    @model_validator(mode="after")
    def _conventions(self) -> ImportedModel:
        if self.params_as is not None and self.params_as == self.example_batch:
            raise ValueError(
                f"params_as and example_batch both name argument {self.params_as!r}; give "
                "each its own constructor argument"
            )
        if self.example_batch is not None and self.example_batch in self.params:
            raise ValueError(
                f"example_batch names argument {self.example_batch!r}, which params sets too; "
                "remove it from params"
            )
        return self


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
