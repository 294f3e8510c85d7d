"""trainspec.data: sources, transforms, splits and batch sources, configured by ``data:``.

``prepare_data`` loads and checks the data and plans the splits; ``PreparedData.fold(k)``
fits that fold's transforms on its training split and serves each split as a
``BatchSource``. Nothing here knows about runs or trackers.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trainspec.data._assemble import assemble
    from trainspec.data._batch import (
        IGNORE_INDEX,
        INDEX,
        MASK,
        TARGET,
        WEIGHT,
        Batch,
        BatchSource,
    )
    from trainspec.data._edf import iter_edf_records, single_recording
    from trainspec.data._header import data_problems, source_keys
    from trainspec.data._imagefiles import decode_image
    from trainspec.data._images import iter_image_tables
    from trainspec.data._inference import InferenceData, encode_labels, prepare_inference
    from trainspec.data._inspect import inspect_data
    from trainspec.data._labels import balanced_class_weights
    from trainspec.data._loaders import DatasetBatchSource, TensorBatchSource
    from trainspec.data._pipeline import FittedTransforms, apply_signal
    from trainspec.data._prepare import prepare_data
    from trainspec.data._sample import DataShapes, sample_shapes
    from trainspec.data._sources import SourceContext, get_source, sklearn_source_keys
    from trainspec.data._splits import SplitPlan
    from trainspec.data._table import KeyTable
    from trainspec.data._tbase import FittedTransform, Transform
    from trainspec.data._text import local_model_folder
    from trainspec.data._types import FoldData, PreparedData
    from trainspec.data._validation_set import (
        ValidationTypeError,
        ValidationValueError,
        join_validation,
        validation_split,
    )

__all__ = [
    "IGNORE_INDEX",
    "INDEX",
    "MASK",
    "TARGET",
    "WEIGHT",
    "Batch",
    "BatchSource",
    "DataShapes",
    "DatasetBatchSource",
    "FittedTransform",
    "FittedTransforms",
    "FoldData",
    "InferenceData",
    "KeyTable",
    "PreparedData",
    "SourceContext",
    "SplitPlan",
    "TensorBatchSource",
    "Transform",
    "ValidationTypeError",
    "ValidationValueError",
    "apply_signal",
    "assemble",
    "balanced_class_weights",
    "data_problems",
    "decode_image",
    "encode_labels",
    "get_source",
    "inspect_data",
    "iter_edf_records",
    "iter_image_tables",
    "join_validation",
    "local_model_folder",
    "prepare_data",
    "prepare_inference",
    "sample_shapes",
    "single_recording",
    "sklearn_source_keys",
    "source_keys",
    "validation_split",
]

# Each public name and the module that defines it, imported when the name is first used
# (PEP 562): the static checks (``data_problems``, ``source_keys``) read a header without
# loading numpy, pandas and the sources' readers.
_LAZY = {
    "Batch": "trainspec.data._batch",
    "BatchSource": "trainspec.data._batch",
    "DataShapes": "trainspec.data._sample",
    "DatasetBatchSource": "trainspec.data._loaders",
    "FittedTransform": "trainspec.data._tbase",
    "FittedTransforms": "trainspec.data._pipeline",
    "FoldData": "trainspec.data._types",
    "IGNORE_INDEX": "trainspec.data._batch",
    "INDEX": "trainspec.data._batch",
    "InferenceData": "trainspec.data._inference",
    "KeyTable": "trainspec.data._table",
    "MASK": "trainspec.data._batch",
    "PreparedData": "trainspec.data._types",
    "SourceContext": "trainspec.data._sources",
    "SplitPlan": "trainspec.data._splits",
    "TARGET": "trainspec.data._batch",
    "TensorBatchSource": "trainspec.data._loaders",
    "Transform": "trainspec.data._tbase",
    "ValidationTypeError": "trainspec.data._validation_set",
    "ValidationValueError": "trainspec.data._validation_set",
    "WEIGHT": "trainspec.data._batch",
    "apply_signal": "trainspec.data._pipeline",
    "assemble": "trainspec.data._assemble",
    "balanced_class_weights": "trainspec.data._labels",
    "data_problems": "trainspec.data._header",
    "decode_image": "trainspec.data._imagefiles",
    "encode_labels": "trainspec.data._inference",
    "get_source": "trainspec.data._sources",
    "inspect_data": "trainspec.data._inspect",
    "iter_edf_records": "trainspec.data._edf",
    "iter_image_tables": "trainspec.data._images",
    "join_validation": "trainspec.data._validation_set",
    "local_model_folder": "trainspec.data._text",
    "prepare_data": "trainspec.data._prepare",
    "prepare_inference": "trainspec.data._inference",
    "sample_shapes": "trainspec.data._sample",
    "single_recording": "trainspec.data._edf",
    "sklearn_source_keys": "trainspec.data._sources",
    "source_keys": "trainspec.data._header",
    "validation_split": "trainspec.data._validation_set",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
