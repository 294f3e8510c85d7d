"""Freezing and unfreezing parameters by glob patterns over their names."""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from trainspec.errors import ModelError, closest

if TYPE_CHECKING:
    from torch import nn

__all__ = [
    "FreezeReport",
    "apply_freeze",
    "fix_batchnorm_stats",
    "match_params",
    "no_match_error",
]


def match_params(module: nn.Module, pattern: str) -> list[str]:
    """Names of the parameters matching ``pattern`` (``*`` crosses dots: ``tcn.*``)."""
    return [name for name, _ in module.named_parameters() if fnmatch.fnmatchcase(name, pattern)]


def no_match_error(module: nn.Module, pattern: str, key: str) -> ModelError:
    """The error for a pattern at ``key`` that matches no parameter, with the blocks there are."""
    names = [n for n, _ in module.named_parameters()]
    blocks = sorted({n.split(".")[0] for n in names})
    near = closest(pattern.split(".")[0].rstrip("*"), blocks)
    hint = f"; did you mean '{near}.*'?" if near else ""
    return ModelError(
        f"{key}: pattern {pattern!r} matches no parameter{hint} Top-level blocks: "
        f"{', '.join(blocks)}"
    )


@dataclass
class FreezeReport:
    """Which parameters each pattern matched, and the trainable count that resulted."""

    matched: dict[str, list[str]] = field(default_factory=dict)
    trainable: int = 0
    frozen: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "matched": {p: list(v) for p, v in self.matched.items()},
            "trainable_params": self.trainable,
            "frozen_params": self.frozen,
        }


def apply_freeze(
    module: nn.Module,
    *,
    freeze: Sequence[str] = (),
    trainable: Sequence[str] = (),
    key: str = "finetune",
) -> FreezeReport:
    """Freeze the parameters matching ``freeze``, then make those matching ``trainable``
    learn again (``freeze: ['*'], trainable: ['outer_dense.*']`` trains only the head).

    A pattern that matches nothing is an error: it is almost always a typo.
    """
    report = FreezeReport()
    params = dict(module.named_parameters())
    for kind, patterns, flag in (("freeze", freeze, False), ("trainable", trainable, True)):
        for i, pattern in enumerate(patterns):
            names = match_params(module, pattern)
            if not names:
                raise no_match_error(module, pattern, f"{key}.{kind}[{i}]")
            report.matched[f"{kind}: {pattern}"] = names
            for name in names:
                params[name].requires_grad_(flag)
    report.trainable = sum(p.numel() for p in params.values() if p.requires_grad)
    report.frozen = sum(p.numel() for p in params.values() if not p.requires_grad)
    return report


def _eval_while_frozen(module: nn.Module, _args: Any) -> None:
    # Checked at every call: a layer unfrozen later in the run (gradual unfreezing) trains
    # normally, batch statistics included, from then on.
    if not any(p.requires_grad for p in module.parameters(recurse=False)):
        module.training = False


def fix_batchnorm_stats(module: nn.Module) -> list[str]:
    """Keep running statistics fixed in batch-norm layers whose parameters are all frozen.

    Such a layer normalises with its stored statistics even while the model trains, and never
    updates them: a forward pre-hook sets it to eval mode after ``model.train()`` has run, for
    as long as its parameters stay frozen. Returns the names of the layers concerned.
    """
    from torch.nn.modules.batchnorm import _BatchNorm

    fixed = []
    for name, sub in module.named_modules():
        if isinstance(sub, _BatchNorm):
            own = list(sub.parameters(recurse=False))
            if own and not any(p.requires_grad for p in own):
                if not getattr(sub, "_trainspec_bn_fixed", False):
                    sub.register_forward_pre_hook(_eval_while_frozen)
                    sub._trainspec_bn_fixed = True  # type: ignore[assignment]
                fixed.append(name)
    return fixed
