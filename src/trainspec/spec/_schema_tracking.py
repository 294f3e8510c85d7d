"""The ``tracking:`` section of a job spec: where a run's parameters, metrics and files go."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from trainspec.spec._base import Section

__all__ = ["TrackingSpec"]


class TrackingSpec(Section):
    """Which tracking backend records the run, and how often it writes.

    The default is MLflow with an embedded store: a SQLite file ``<run.root>/mlflow.db`` and
    artifacts under ``<run.root>/mlartifacts``. ``uri`` (or ``$MLFLOW_TRACKING_URI``) points at a
    team server instead.
    """

    backend: Literal["mlflow", "none", "wandb"] = Field(
        default="mlflow",
        description="mlflow (default), none (records nothing), or wandb (offline mode; "
        "needs `pip install wandb`).",
    )
    uri: str | None = Field(
        default=None,
        description="MLflow tracking URI, e.g. http://mlflow.internal:5000 or sqlite:///runs.db. "
        "Default: $MLFLOW_TRACKING_URI, else a SQLite file under the runs root.",
    )
    artifact_location: str | None = Field(
        default=None,
        description="Where artifacts of a newly created MLflow experiment go. Default: "
        "<run.root>/mlartifacts for the embedded store, the server's choice otherwise.",
    )
    experiment: str | None = Field(
        default=None, description="Experiment (wandb: project) name. Default: the job's name."
    )
    mode: Literal["offline", "online"] | None = Field(
        default=None,
        description="wandb only: offline (default; files under the run directory, upload "
        "later with `wandb sync`) or online (needs `wandb login` and network access).",
    )
    log_params: bool = Field(default=True, description="Log the flattened resolved spec.")
    log_artifacts: bool = Field(
        default=True,
        description="Copy run files (spec, splits, summary, checkpoints) to the store.",
    )
    flush_every: int = Field(
        default=100,
        ge=1,
        le=100_000,
        description="Metric values buffered before they are written in one batch.",
    )
    flush_seconds: float = Field(
        default=10.0,
        gt=0,
        description="Buffered metrics are also written when this many seconds have passed "
        "since the last write (checked when a metric is logged).",
    )
    tags: dict[str, str] = Field(default_factory=dict, description="Extra tags on every run.")
    strict: bool = Field(
        default=False,
        description="Stop training when the store fails mid-run. Default: warn, keep the "
        "metrics buffered and retry at the next write.",
    )
    timeout: float = Field(
        default=5.0,
        gt=0,
        le=600,
        description="Seconds to wait for a tracking server to answer before giving up.",
    )
    max_param_length: int = Field(
        default=6000,
        ge=50,
        le=6000,
        description="Longer parameter values are truncated with a marker (MLflow >= 2.x "
        "servers take 6000 characters, older ones 500).",
    )

    @field_validator("uri", "artifact_location", "experiment")
    @classmethod
    def _not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must not be blank: give a value or leave the key out")
        return value

    @field_validator("tags")
    @classmethod
    def _tag_keys(cls, value: dict[str, str]) -> dict[str, str]:
        blank = [key for key in value if not key.strip()]
        if blank:
            raise ValueError("tag names must not be blank")
        return value

    @model_validator(mode="after")
    def _mode_needs_wandb(self) -> TrackingSpec:
        if self.mode is not None and self.backend != "wandb":
            raise ValueError(
                f"'mode' is a wandb setting but backend is '{self.backend}': remove 'mode' or "
                "set backend: wandb"
            )
        return self

    @model_validator(mode="after")
    def _uri_needs_mlflow(self) -> TrackingSpec:
        if self.backend != "mlflow":
            for key in ("uri", "artifact_location"):
                if getattr(self, key) is not None:
                    raise ValueError(
                        f"'{key}' is an MLflow setting but backend is '{self.backend}': "
                        f"remove '{key}' or set backend: mlflow"
                    )
        return self
