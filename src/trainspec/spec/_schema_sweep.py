"""The ``sweep:`` section: a hyperparameter search over any path of the job spec.

```yaml
sweep:
  metric: val/accuracy          # a history key (val/..., train/...), test/..., or params
  direction: maximize
  n_trials: 20
  sampler: tpe                  # grid, random, tpe, cmaes, qmc (or {type: tpe, seed: 1, ...})
  pruner: median                # median, hyperband, none
  params:
    train.optimizer.lr: {type: float, low: 1.0e-4, high: 1.0e-1, log: true}
    train.batch_size: {type: int, low: 16, high: 128, step: 16}
    model.layers[0].out_features: {type: categorical, choices: [32, 64, 128]}
```

Several objectives (``objectives: [{metric: val/kappa, direction: maximize}, {metric: params,
direction: minimize}]``) give a Pareto front instead of one best trial. Checks that need the rest
of the job spec (does the path exist, is the metric ever logged) happen in the sweep runner,
before any trial starts.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from trainspec.spec._base import OpenSection, Section

__all__ = [
    "CategoricalParam",
    "FloatParam",
    "HeartbeatSpec",
    "IntParam",
    "ObjectiveSpec",
    "PrunerSpec",
    "SamplerSpec",
    "SearchParam",
    "SweepSpec",
]

Direction = Literal["maximize", "minimize"]
Scalar = bool | int | float | str | None


class FloatParam(Section):
    """A real value in [low, high]; ``log`` samples on a log scale, ``step`` on a grid."""

    type: Literal["float"]
    low: float
    high: float
    log: bool = False
    step: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _range(self) -> FloatParam:
        if not (math.isfinite(self.low) and math.isfinite(self.high)):
            raise ValueError(f"low and high must be finite numbers; got [{self.low}, {self.high}]")
        if self.low >= self.high:
            raise ValueError(
                f"the range [{self.low}, {self.high}] is "
                f"{'empty' if self.low == self.high else 'inverted'}: low must be below high "
                "(for a fixed value, set it in the spec instead)"
            )
        if self.log and self.low <= 0:
            raise ValueError(f"a log-scale range needs low > 0; got low={self.low}")
        if self.log and self.step is not None:
            raise ValueError("log and step cannot be combined: remove one")
        if self.step is not None and self.step > self.high - self.low:
            raise ValueError(
                f"step {self.step} is wider than the range [{self.low}, {self.high}]: "
                "only one value could be drawn"
            )
        return self


class IntParam(Section):
    """An integer in [low, high] (both included), every ``step``, optionally log-scaled."""

    type: Literal["int"]
    low: int
    high: int
    log: bool = False
    step: int = Field(default=1, ge=1)

    @model_validator(mode="after")
    def _range(self) -> IntParam:
        if self.low >= self.high:
            raise ValueError(
                f"the range [{self.low}, {self.high}] is "
                f"{'empty' if self.low == self.high else 'inverted'}: low must be below high "
                "(for a fixed value, set it in the spec instead)"
            )
        if self.log and self.low < 1:
            raise ValueError(f"a log-scale range needs low >= 1; got low={self.low}")
        if self.log and self.step != 1:
            raise ValueError("log and step cannot be combined: remove one")
        if self.step > self.high - self.low:
            raise ValueError(
                f"step {self.step} is wider than the range [{self.low}, {self.high}]: "
                "only one value could be drawn"
            )
        return self


class CategoricalParam(Section):
    """One of ``choices``: scalars, or lists and mappings (e.g. layer sizes ``[64, 32]``)."""

    type: Literal["categorical"]
    choices: list[Any] = Field(min_length=1)

    @field_validator("choices")
    @classmethod
    def _distinct(cls, value: list[Any]) -> list[Any]:
        seen: list[Any] = []
        for choice in value:
            if choice in seen:
                raise ValueError(f"choice {choice!r} is listed twice")
            seen.append(choice)
        if len(value) < 2:
            raise ValueError(
                f"a categorical parameter needs 2 or more choices; got {value!r} "
                "(for a fixed value, set it in the spec instead)"
            )
        return value


SearchParam = Annotated[FloatParam | IntParam | CategoricalParam, Field(discriminator="type")]


def _shorthand(value: Any) -> Any:
    """``tpe`` means ``{type: tpe}``."""
    return {"type": value} if isinstance(value, str) else value


class SamplerSpec(OpenSection):
    """Which Optuna sampler proposes parameters. Extra keys go to its constructor
    (``n_startup_trials``, ``multivariate``, ...)."""

    type: Literal["grid", "random", "tpe", "cmaes", "qmc", "nsga2"] = "tpe"
    seed: int | None = Field(default=None, description="Default: the job's seed.")


class PrunerSpec(OpenSection):
    """Which Optuna pruner stops poor trials early, from the per-epoch value of the metric.
    Extra keys go to its constructor (``n_startup_trials``, ``n_warmup_steps``, ...)."""

    type: Literal["median", "hyperband", "none"] = "median"


class ObjectiveSpec(Section):
    metric: str = Field(
        description="A history key (val/accuracy, train/loss), a test split metric "
        "(test/accuracy), or params (the model's parameter count)."
    )
    direction: Direction | None = Field(
        default=None,
        description="maximize or minimize. Default: minimize losses, errors (rmse, mae) and "
        "params, maximize the rest.",
    )


class HeartbeatSpec(Section):
    """A worker that stops sending heartbeats for ``grace_period`` seconds is presumed dead:
    its trial is marked failed and queued again (up to ``max_retry`` times)."""

    interval: int = Field(default=10, ge=1)
    grace_period: int = Field(default=60, ge=2)
    max_retry: int = Field(default=2, ge=0)

    @model_validator(mode="after")
    def _grace(self) -> HeartbeatSpec:
        if self.grace_period <= self.interval:
            raise ValueError(
                f"grace_period ({self.grace_period} s) must exceed interval ({self.interval} s), "
                "or live workers would be taken for dead"
            )
        return self


class SweepSpec(Section):
    """A hyperparameter search over paths of the job spec; each trial is a normal run."""

    name: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_.-]+$",
        description="Study name and folder under <run.root>/sweeps/. Default: the job's name.",
    )
    params: dict[str, SearchParam] = Field(
        min_length=1, description="Spec path (train.optimizer.lr, model.layers[0].out) -> range."
    )
    metric: str | None = Field(default=None, description="The value to optimise (one objective).")
    direction: Direction | None = Field(
        default=None, description="maximize or minimize. Default: from the metric, as 'monitor'."
    )
    objectives: list[ObjectiveSpec] | None = Field(
        default=None, min_length=2, description="Several objectives: a Pareto front."
    )
    value: Literal["best", "final"] = Field(
        default="best",
        description="A trial's value: the best epoch's (in the sweep's direction) or the last "
        "epoch's. With k-fold splits, the mean over folds of that value.",
    )
    n_trials: int | None = Field(default=None, ge=1, description="Trials in all (resumes count).")
    timeout: float | None = Field(
        default=None, gt=0, description="Seconds; no trial starts after this (per invocation)."
    )
    workers: int = Field(default=1, ge=1, le=256, description="Parallel worker processes.")
    sampler: SamplerSpec = Field(default_factory=SamplerSpec)
    pruner: PrunerSpec = Field(default_factory=PrunerSpec)
    storage: str | None = Field(
        default=None,
        description="Optuna storage: an RDB URL (sqlite:///..., postgresql://...), or "
        "journal:PATH for a journal file. Default: sqlite:///<sweep folder>/study.db.",
    )
    heartbeat: HeartbeatSpec = Field(default_factory=HeartbeatSpec)
    checkpoint: Literal["end", "train"] = Field(
        default="end",
        description="A trial's checkpoints: 'end' writes them once, when the trial ends, is "
        "interrupted or pruned (train.checkpoint every_epochs and every_steps null, "
        "best_at_end true), since a retried trial starts afresh; 'train' keeps the job's "
        "train.checkpoint (every epoch by default).",
    )
    log_models: Literal["best", "all", "none"] = Field(
        default="best",
        description="Which trials log an MLflow model (runs:/<id>/model): the best trial's "
        "when the sweep ends (default; the Pareto front's with several objectives), every "
        "completed trial's (each trial then costs a model's save), or none.",
    )

    @field_validator("sampler", "pruner", mode="before")
    @classmethod
    def _shorthands(cls, value: Any) -> Any:
        return _shorthand(value)

    @field_validator("params")
    @classmethod
    def _paths(cls, value: dict[str, Any]) -> dict[str, Any]:
        for path in value:
            if not path.strip() or path.startswith(("sweep.", "sweep[")) or path == "sweep":
                raise ValueError(
                    f"{path!r} cannot be searched: give a path of the job spec such as "
                    "train.optimizer.lr"
                )
        return value

    @model_validator(mode="after")
    def _objectives(self) -> SweepSpec:
        if self.objectives is not None and (self.metric or self.direction):
            raise ValueError("give either metric/direction or objectives, not both")
        if self.objectives is None and self.metric is None:
            raise ValueError(
                "a sweep needs 'metric' (and 'direction'), or 'objectives' for several"
            )
        if self.n_trials is None and self.timeout is None and self.sampler.type != "grid":
            raise ValueError("set n_trials or timeout (or both): a sweep needs an end")
        if self.objectives and self.pruner.type != "none" and "pruner" in self.model_fields_set:
            raise ValueError(
                "pruning needs one objective; with several objectives set pruner: none"
            )
        if self.objectives and self.sampler.type == "cmaes":
            raise ValueError("the cmaes sampler takes one objective; use tpe or nsga2")
        return self

    @property
    def goals(self) -> list[ObjectiveSpec]:
        """Every objective, one or several (a direction left out is None here)."""
        if self.objectives is not None:
            return list(self.objectives)
        assert self.metric is not None
        return [ObjectiveSpec(metric=self.metric, direction=self.direction)]

    @property
    def prunes(self) -> bool:
        return self.pruner.type != "none" and len(self.goals) == 1
