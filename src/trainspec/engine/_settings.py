"""``FitSettings``: what every fit of one job shares, built once by the caller.

``fit`` and ``evaluate`` take it instead of a long list of keywords; what differs between two
calls of one job (the sources, the run directory, resuming, a stop flag) stays an argument.
A new input of the loop is a field here with a default, so no caller has to change.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from trainspec.spec import FinetuneSpec, ParamGroupSpec, TrainSpec, UnfreezeSpec

from ._callbacks import Callback
from ._device import AnyForward

__all__ = ["FitSettings"]


@dataclass(frozen=True)
class FitSettings:
    """The job's training inputs.

    ``forward`` is ``forward(module, batch)`` or a bound ``forward(batch)`` (default:
    ``module(batch["x"])``); ``output_kind`` is what the module returns (``logits``,
    ``probabilities``...), the form a user's loss gets. ``compat`` holds hashes of the spec
    fields a resume must not change; ``allow_changes`` resumes although they differ (the caller
    has recorded the change). ``param_groups`` set the learning rate and weight decay of the
    trainable parameters matching their patterns (first match wins); ``unfreeze`` entries make
    frozen parameters learn from the start of epoch ``at_epoch``. ``callbacks`` see every epoch.
    ``finetune`` is the job's ``finetune:`` section, which a model's trainer applies before
    ``fit`` (``fit`` itself takes the plan's ``param_groups`` and ``unfreeze``).
    """

    config: TrainSpec
    task: Literal["classification", "regression"]
    num_classes: int | None = None
    seed: int = 0
    forward: AnyForward | None = None
    output_kind: str = "logits"
    allow_imports: Sequence[str] = ()
    callbacks: Sequence[Callback] = ()
    param_groups: Sequence[ParamGroupSpec] | None = None
    unfreeze: Sequence[UnfreezeSpec] = ()
    compat: Mapping[str, str] = field(default_factory=dict)
    allow_changes: bool = False
    finetune: FinetuneSpec | None = None

    def replace(self, **changes: Any) -> FitSettings:
        """A copy with ``changes`` (a fold's callbacks, a fine-tuning plan's groups)."""
        return dataclasses.replace(self, **changes)
