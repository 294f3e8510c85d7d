"""trainspec.data: sources, transforms, splits and batch sources, configured by ``data:``.

``prepare_data`` loads and checks the data and plans the splits; ``PreparedData.fold(k)``
fits that fold's transforms on its training split and serves each split as a
``BatchSource``. Nothing here knows about runs or trackers.
"""

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
