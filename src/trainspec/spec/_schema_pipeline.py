"""The pipeline spec: named steps, each one trainspec command (or a user's argv), chained by
references to each other's outputs (``${steps.pretrain.run_dir}``)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator

from trainspec.spec._base import Section

__all__ = [
    "STEP_OUTPUTS",
    "CommandStep",
    "EvaluateStep",
    "ExportStep",
    "PipelineSpec",
    "PredictStep",
    "PromoteStep",
    "ReportStep",
    "StepSpec",
    "SweepStep",
    "TrainStep",
]

STEP_NAME = r"^[A-Za-z0-9][A-Za-z0-9_-]*$"


class _Step(Section):
    after: list[str] = Field(
        default_factory=list,
        description="Steps to finish first, besides those this step refers to.",
    )
    inputs: list[str] = Field(
        default_factory=list,
        description="Files or folders the step reads: their contents are part of its cache key.",
    )
    description: str | None = None


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


class TrainStep(_Step):
    kind: Literal["train"]
    spec: list[str] = Field(
        min_length=1, description="Job spec file(s), relative to the pipeline file."
    )
    overrides: list[str] = Field(default_factory=list, description="key.path=value overrides.")

    _list = field_validator("spec", mode="before")(_as_list)


class SweepStep(_Step):
    kind: Literal["sweep"]
    spec: list[str] = Field(min_length=1, description="Job spec file(s) with a sweep: block.")
    overrides: list[str] = Field(default_factory=list)
    workers: int | None = Field(default=None, ge=1)

    _list = field_validator("spec", mode="before")(_as_list)


class _RunStep(_Step):
    run: str = Field(description="A run directory, usually ${steps.NAME.run_dir}.")
    checkpoint: Literal["best", "last", "final"] = "best"
    fold: int | None = Field(default=None, ge=0)


class PredictStep(_RunStep):
    kind: Literal["predict"]
    data: str = Field(description="The file to predict.")
    format: Literal["csv", "parquet"] = "csv"


class EvaluateStep(_RunStep):
    kind: Literal["evaluate"]
    data: str = Field(description="Labelled data to score the run on.")
    split: Literal["train", "val", "test", "all"] = "all"
    by: str | None = None
    splits_from: str | None = Field(
        default=None, description="Take the split from this run (e.g. ${steps.b.run_dir})."
    )


class ExportStep(_RunStep):
    kind: Literal["export"]
    format: Literal["onnx", "torchscript"] = "onnx"


class PromoteStep(_Step):
    kind: Literal["promote"]
    run: str
    alias: str
    name: str | None = None


class ReportStep(_Step):
    kind: Literal["report"]
    run: str = Field(description="The run (or sweep folder) to report on.")


def _as_text(value: Any) -> Any:
    """Numbers in an argv (``${params.n}``) become the text a command line carries."""
    if isinstance(value, list):
        return [
            str(v) if isinstance(v, int | float) and not isinstance(v, bool) else v for v in value
        ]
    return value


class CommandStep(_Step):
    kind: Literal["command"]
    argv: list[str] = Field(
        min_length=1,
        description="The program and its arguments, as a list (never a shell string); "
        "${outputs.NAME} is this step's own declared output.",
    )
    outputs: dict[str, str] = Field(
        default_factory=dict,
        description="Name -> file or folder the command writes; others refer to it as "
        "${steps.THIS.outputs.NAME}.",
    )

    _text = field_validator("argv", mode="before")(_as_text)


StepSpec = Annotated[
    TrainStep
    | SweepStep
    | PredictStep
    | EvaluateStep
    | ExportStep
    | PromoteStep
    | ReportStep
    | CommandStep,
    Field(discriminator="kind"),
]

# What ``${steps.NAME.<output>}`` may name, per kind (``dir`` is every step's own folder;
# a command's ``outputs.NAME`` are the names it declares).
STEP_OUTPUTS: dict[str, tuple[str, ...]] = {
    "train": ("dir", "run_dir", "checkpoint.best", "checkpoint.last"),
    "sweep": ("dir", "run_dir", "best_spec"),
    "predict": ("dir", "out"),
    "evaluate": ("dir", "out"),
    "export": ("dir", "out"),
    "promote": ("dir",),
    "report": ("dir", "out"),
    "command": ("dir",),
}


class PipelineSpec(Section):
    """A workflow of trainspec commands: ``trainspec pipeline run FILE``."""

    name: str = Field(pattern=STEP_NAME, description="The pipeline's name (a folder name).")
    description: str | None = None
    params: dict[str, str | int | float | bool | None] = Field(
        default_factory=dict,
        description="Values steps use as ${params.NAME}; set on the command line as NAME=value.",
    )
    steps: dict[Annotated[str, Field(pattern=STEP_NAME)], StepSpec] = Field(
        min_length=1, description="Step name -> step, run in the order their references need."
    )
