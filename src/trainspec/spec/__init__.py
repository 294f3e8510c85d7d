"""Specs as validated configuration: load, compose, interpolate, override, validate, hash.

``load_spec(*files_or_mappings, overrides=[...])`` does it all and returns a ``LoadedSpec``;
its module docstring lists the steps. Errors are ``SpecError``s naming file, line, key path,
what was expected and found. This package never imports torch.
"""

from trainspec.spec._base import OpenSection, Section
from trainspec.spec._compose import merge
from trainspec.spec._defines import (
    BLOCK_OPTIONS,
    REPEAT_NAMES,
    DefineProblem,
    define_cycle,
    define_problems,
)
from trainspec.spec._dump import dump_json, dump_yaml
from trainspec.spec._hash import spec_hash
from trainspec.spec._jsonschema import SCHEMA_FILES, json_schemas, write_schemas
from trainspec.spec._load import LoadedSpec, load_spec
from trainspec.spec._override import Override, apply_overrides, parse_overrides
from trainspec.spec._paths import Origin
from trainspec.spec._pipeline import (
    OWN,
    REF,
    LoadedPipeline,
    StepRef,
    is_pipeline_spec,
    load_pipeline,
    step_refs,
)
from trainspec.spec._schema import JobSpec, RunSpec
from trainspec.spec._schema_data import (
    DataSpec,
    InputSpec,
    LoaderSpec,
    SklearnSource,
    SplitSpec,
    TransformSpec,
    WeightSpec,
)
from trainspec.spec._schema_finetune import FinetuneSpec, InitSpec, ParamGroupSpec, UnfreezeSpec
from trainspec.spec._schema_model import (
    BATCH_FIELDS,
    ArchSpec,
    GraphArch,
    ImportedModel,
    InputDecl,
    OutputSpec,
    SequentialArch,
    SubgraphDef,
)
from trainspec.spec._schema_pipeline import (
    STEP_OUTPUTS,
    CommandStep,
    EvaluateStep,
    ExportStep,
    PipelineSpec,
    PredictStep,
    PromoteStep,
    ReportStep,
    StepSpec,
    SweepStep,
    TrainStep,
)
from trainspec.spec._schema_sweep import (
    CategoricalParam,
    FloatParam,
    HeartbeatSpec,
    IntParam,
    PrunerSpec,
    SamplerSpec,
    SweepSpec,
)
from trainspec.spec._schema_tracking import TrackingSpec
from trainspec.spec._schema_train import (
    CheckpointSpec,
    DistributedSpec,
    EarlyStoppingSpec,
    LossCallSpec,
    LossSpec,
    MonitorSpec,
    OptimizerSpec,
    SchedulerSpec,
    TrainSpec,
)

__all__ = [
    "BATCH_FIELDS",
    "BLOCK_OPTIONS",
    "OWN",
    "REF",
    "REPEAT_NAMES",
    "SCHEMA_FILES",
    "STEP_OUTPUTS",
    "ArchSpec",
    "CategoricalParam",
    "CheckpointSpec",
    "CommandStep",
    "DataSpec",
    "DefineProblem",
    "DistributedSpec",
    "EarlyStoppingSpec",
    "EvaluateStep",
    "ExportStep",
    "FinetuneSpec",
    "FloatParam",
    "GraphArch",
    "HeartbeatSpec",
    "ImportedModel",
    "InitSpec",
    "InputDecl",
    "InputSpec",
    "IntParam",
    "JobSpec",
    "LoadedPipeline",
    "LoadedSpec",
    "LoaderSpec",
    "LossCallSpec",
    "LossSpec",
    "MonitorSpec",
    "OpenSection",
    "OptimizerSpec",
    "Origin",
    "OutputSpec",
    "Override",
    "ParamGroupSpec",
    "PipelineSpec",
    "PredictStep",
    "PromoteStep",
    "PrunerSpec",
    "ReportStep",
    "RunSpec",
    "SamplerSpec",
    "SchedulerSpec",
    "Section",
    "SequentialArch",
    "SklearnSource",
    "SplitSpec",
    "StepRef",
    "StepSpec",
    "SubgraphDef",
    "SweepSpec",
    "SweepStep",
    "TrackingSpec",
    "TrainSpec",
    "TrainStep",
    "TransformSpec",
    "UnfreezeSpec",
    "WeightSpec",
    "apply_overrides",
    "define_cycle",
    "define_problems",
    "dump_json",
    "dump_yaml",
    "is_pipeline_spec",
    "json_schemas",
    "load_pipeline",
    "load_spec",
    "merge",
    "parse_overrides",
    "spec_hash",
    "step_refs",
    "write_schemas",
]
