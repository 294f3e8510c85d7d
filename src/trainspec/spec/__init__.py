"""Specs as validated configuration: load, compose, interpolate, override, validate, hash.

This package never imports torch.
"""

from trainspec.spec._base import OpenSection, Section
from trainspec.spec._load import LoadedSpec, load_spec, spec_hash
from trainspec.spec._schema import JobSpec, RunSpec
from trainspec.spec._schema_data import DataSpec, LoaderSpec, SplitSpec, TransformSpec
from trainspec.spec._schema_model import ArchSpec, GraphArch, ImportedModel, SequentialArch
from trainspec.spec._schema_train import (
    CheckpointSpec,
    EarlyStoppingSpec,
    LossSpec,
    MonitorSpec,
    OptimizerSpec,
    SchedulerSpec,
    TrainSpec,
)

__all__ = [
    "ArchSpec",
    "CheckpointSpec",
    "DataSpec",
    "EarlyStoppingSpec",
    "GraphArch",
    "ImportedModel",
    "JobSpec",
    "LoadedSpec",
    "LoaderSpec",
    "LossSpec",
    "MonitorSpec",
    "OpenSection",
    "OptimizerSpec",
    "RunSpec",
    "SchedulerSpec",
    "Section",
    "SequentialArch",
    "SplitSpec",
    "TrainSpec",
    "TransformSpec",
    "load_spec",
    "spec_hash",
]
