"""The ``finetune:`` section: where pretrained weights come from, what stays frozen, what
learns and how fast.

Patterns (``freeze``, ``trainable``, ``reinit``, ``param_groups[].params``,
``unfreeze[].params``) are shell-style globs over parameter names as ``model.named_parameters()``
gives them (``tcn.0.conv.weight``); ``*`` also crosses dots, so ``tcn.*`` is the whole block.
"""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from trainspec.spec._base import Section

__all__ = ["FinetuneSpec", "InitSpec", "ParamGroupSpec", "UnfreezeSpec"]


class InitSpec(Section):
    """Initialise the model from weights before training."""

    from_: str = Field(
        alias="from",
        description="A trainspec run directory (its checkpoints/<checkpoint>/ is used), a "
        "checkpoint folder holding model.safetensors, or a weights file (.safetensors, .pt, "
        ".pth, .bin, .ckpt). Relative paths are relative to the working directory; write "
        "${here}/... for a path beside the spec.",
    )
    checkpoint: str = Field(
        default="best",
        pattern=r"^(best|last)$",
        description="Which checkpoint of a run directory: best or last.",
    )
    key: str | None = Field(
        default=None,
        description="Key of the state dict inside a .pt file, dots for nesting "
        "(e.g. model_state_dict). Default: the file itself when it is a state dict, else the "
        "first of model_state_dict, state_dict, model, net, network, weights, ema.",
    )
    rename: list[tuple[str, str]] = Field(
        default_factory=list,
        description="[regex, replacement] rules applied in order to every checkpoint key, "
        "e.g. ['^module\\\\.', ''] for a DataParallel checkpoint.",
    )
    strict: bool = Field(
        default=False,
        description="Every model parameter must be loaded and every checkpoint key used.",
    )
    on_mismatch: str = Field(
        default="error",
        pattern=r"^(error|skip)$",
        description="A checkpoint tensor of another shape than the model's: error, or skip "
        "it and keep the layer freshly initialised (a new head).",
    )

    @field_validator("rename")
    @classmethod
    def _valid_regex(cls, value: list[tuple[str, str]]) -> list[tuple[str, str]]:
        for pattern, _ in value:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(
                    f"rename rule {pattern!r} is not a valid regular expression ({exc}); "
                    "escape dots as \\\\."
                ) from None
        return value


class ParamGroupSpec(Section):
    """Learning rate and weight decay for the trainable parameters matching ``params``."""

    params: str | list[str] = Field(description="Glob pattern(s) over parameter names.")
    lr: float | None = Field(default=None, gt=0, description="Default: the optimiser's lr.")
    weight_decay: float | None = Field(
        default=None, ge=0, description="Default: the optimiser's weight_decay."
    )


class UnfreezeSpec(Section):
    """Frozen parameters that start learning at the start of an epoch."""

    at_epoch: int = Field(ge=1, description="Epoch (1-based) at whose start these learn.")
    params: str | list[str] = Field(description="Glob pattern(s) over frozen parameter names.")
    lr: float | None = Field(
        default=None,
        gt=0,
        description="Their learning rate. Default: the optimiser's lr (with layer_decay, "
        "each block's decayed lr).",
    )


class FinetuneSpec(Section):
    init: InitSpec | None = None
    freeze: list[str] = Field(default_factory=list, description="Glob patterns to freeze.")
    trainable: list[str] = Field(
        default_factory=list,
        description="Glob patterns that learn, applied after freeze "
        "(freeze: ['*'], trainable: ['head.*'] trains the head only).",
    )
    reinit: list[str] = Field(
        default_factory=list,
        description="Glob patterns whose layers are re-initialised after loading (a new head).",
    )
    freeze_bn_stats: bool = Field(
        default=True,
        description="Batch-norm layers whose parameters are all frozen keep their running "
        "statistics (they normalise in eval mode while the rest trains).",
    )
    param_groups: list[ParamGroupSpec] = Field(
        default_factory=list,
        description="Learning rate / weight decay per pattern; the first group matching a "
        "parameter wins; unmatched parameters use the optimiser's settings.",
    )
    layer_decay: float | None = Field(
        default=None,
        gt=0,
        le=1,
        description="Layer-wise learning-rate decay over top-level blocks with parameters, in "
        "module order: the last block learns at lr, the one before at lr * layer_decay, ...",
    )
    unfreeze: list[UnfreezeSpec] = Field(
        default_factory=list,
        description="Gradual unfreezing: [{at_epoch: 5, params: 'tcn.*', lr: 1e-4}].",
    )
