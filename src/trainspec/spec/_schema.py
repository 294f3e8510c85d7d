"""The job spec: what to train (``model``), on what (``data``), and how (``train``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from trainspec.spec._base import Section
from trainspec.spec._schema_data import DataSpec
from trainspec.spec._schema_finetune import FinetuneSpec
from trainspec.spec._schema_model import ArchSpec
from trainspec.spec._schema_sweep import SweepSpec
from trainspec.spec._schema_tracking import TrackingSpec
from trainspec.spec._schema_train import TrainSpec

__all__ = ["JobSpec", "RunSpec"]


class RunSpec(Section):
    root: str = Field(default="runs", description="Where new run directories are created.")
    name: str | None = Field(default=None, description="Run directory name; default: generated.")


class JobSpec(Section):
    name: str | None = None
    description: str | None = None
    seed: int = 0
    task: Literal["auto", "classification", "regression"] = "auto"
    allow_imports: list[str] = Field(
        default_factory=list, description="Extra module prefixes that import paths may use."
    )
    model: ArchSpec
    data: DataSpec
    train: TrainSpec = Field(default_factory=TrainSpec)
    finetune: FinetuneSpec | None = Field(
        default=None, description="Start from pretrained weights; freeze, unfreeze, group lrs."
    )
    tracking: TrackingSpec = Field(default_factory=TrackingSpec)
    sweep: SweepSpec | None = Field(
        default=None, description="A hyperparameter search over this job spec (trainspec sweep)."
    )
    run: RunSpec = Field(default_factory=RunSpec)

    @model_validator(mode="after")
    def _check(self) -> JobSpec:
        if self.task == "classification" and self.data.target_transform:
            raise ValueError(
                "data.target_transform rescales a regression target; this job has task: "
                "classification. Remove data.target_transform or set task: regression"
            )
        return self
