"""Model logic: architectures as code, users' modules and estimators behind one Model API.

Pure: nothing here knows about runs, trackers or sweeps.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, overload

from trainspec.models._backbones import HFBackbone, TimmBackbone, TorchvisionBackbone
from trainspec.models._blocks import BUILTIN_BLOCKS
from trainspec.models._build import build_model
from trainspec.models._freeze import (
    FreezeReport,
    apply_freeze,
    fix_batchnorm_stats,
    match_params,
    no_match_error,
)
from trainspec.models._graph import GraphModule, Step
from trainspec.models._load import load_model
from trainspec.models._meta import build_on_meta
from trainspec.models._model import InputData, InputTransform, MetricFn, Model
from trainspec.models._outputs import from_scores, to_scores
from trainspec.models._probe import fmt_shape
from trainspec.models._resolve import inferable, resolve_block_type
from trainspec.models._sklearn import SklearnModel
from trainspec.models._summary import BlockRow, ModelSummary, summarize
from trainspec.models._torch_model import FitFn, TorchModel
from trainspec.models._weights import (
    LoadReport,
    load_problems,
    load_weights,
    match_shapes,
    match_state,
    read_state_dict,
    read_state_shapes,
    rename_keys,
)

__all__ = [
    "BUILTIN_BLOCKS",
    "BlockRow",
    "FitFn",
    "FreezeReport",
    "GraphModule",
    "HFBackbone",
    "InputData",
    "InputTransform",
    "LoadReport",
    "MetricFn",
    "Model",
    "ModelSummary",
    "SklearnModel",
    "Step",
    "TimmBackbone",
    "TorchModel",
    "TorchvisionBackbone",
    "apply_freeze",
    "build_model",
    "build_on_meta",
    "fix_batchnorm_stats",
    "fmt_shape",
    "from_scores",
    "inferable",
    "load_model",
    "load_problems",
    "load_weights",
    "match_params",
    "match_shapes",
    "match_state",
    "no_match_error",
    "read_state_dict",
    "read_state_shapes",
    "register_block",
    "rename_keys",
    "resolve_block_type",
    "summarize",
    "to_scores",
]

T = TypeVar("T")


@overload
def register_block(name: str | None = None) -> Callable[[T], T]: ...
@overload
def register_block(name: T) -> T: ...
def register_block(name: Any = None) -> Any:
    """Register a block for declarative graphs: ``@register_block`` or
    ``@register_block("my_block")`` over an ``nn.Module`` class or a function returning one.

    Its constructor may take ``in_features``/``in_channels``/``input_size``/``d_model`` (filled
    from the input's last or first axis), ``in_shape`` (the input shape without batch) or
    ``in_shapes`` (all inputs' shapes); the spec gives the other parameters.
    """
    from trainspec.registry import registry

    if name is None or isinstance(name, str):
        return registry.register("block", name)
    return registry.register("block")(name)
