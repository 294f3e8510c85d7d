"""The ``finetune:`` section: where pretrained weights come from, what stays frozen, what
learns and how fast."""

from __future__ import annotations

from pydantic import Field, field_validator

from trainspec.spec._base import Section

__all__ = ["FinetuneSpec", "InitSpec", "ParamGroupSpec", "UnfreezeSpec"]


class InitSpec(Section):
    """Initialise the model from weights before training."""

    from_: str = Field(
        alias="from",
        description="A trainspec run directory, a checkpoint folder, or a weights file "
        "(.safetensors, .pt, .pth).",
    )
    checkpoint: str = Field(
        default="best", pattern=r"^(best|last)$", description="Which checkpoint of a run."
    )
    key: str | None = Field(
        default=None, description="Key of the state dict inside a .pt file (dots for nesting)."
    )
    rename: list[tuple[str, str]] = Field(
        default_factory=list,
        description="[regex, replacement] rules applied in order, e.g. ['^module\\\\.', ''].",
    )
    strict: bool = Field(default=False, description="Missing or unexpected keys are errors.")
    on_mismatch: str = Field(
        default="error",
        pattern=r"^(error|skip)$",
        description="A tensor of another shape: error, or skip it and keep it initialised.",
    )


class ParamGroupSpec(Section):
    params: str | list[str] = Field(description="Glob pattern(s) over parameter names.")
    lr: float | None = Field(default=None, gt=0)
    weight_decay: float | None = Field(default=None, ge=0)


class UnfreezeSpec(Section):
    at_epoch: int = Field(ge=1, description="Epoch (1-based) at whose start these learn.")
    params: str | list[str]
    lr: float | None = Field(default=None, gt=0)


class FinetuneSpec(Section):
    init: InitSpec | None = None
    freeze: list[str] = Field(default_factory=list, description="Glob patterns to freeze.")
    trainable: list[str] = Field(
        default_factory=list, description="Glob patterns that learn, applied after freeze."
    )
    reinit: list[str] = Field(
        default_factory=list, description="Glob patterns re-initialised after loading (a new head)."
    )
    freeze_bn_stats: bool = Field(
        default=True, description="Frozen batch-norm layers keep their running statistics."
    )
    param_groups: list[ParamGroupSpec] = Field(default_factory=list)
    layer_decay: float | None = Field(
        default=None,
        gt=0,
        le=1,
        description="Layer-wise learning-rate decay over top-level blocks, last block at lr.",
    )
    unfreeze: list[UnfreezeSpec] = Field(default_factory=list)

    @field_validator("unfreeze")
    @classmethod
    def _sorted(cls, value: list[UnfreezeSpec]) -> list[UnfreezeSpec]:
        return sorted(value, key=lambda u: u.at_epoch)
