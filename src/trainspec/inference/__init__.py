"""trainspec.inference: use a trained run on new data, in other runtimes, behind HTTP.

``predict_run`` maps new data through the run's fitted transforms and writes predictions
chunk by chunk; ``export_run`` writes ONNX or TorchScript and checks it against PyTorch;
``create_app`` / ``serve`` put the model behind FastAPI; ``monitor_run`` measures per-feature
drift against a reference of the training inputs. A run is loaded once with ``load_run``.
"""

from trainspec.inference._app import create_app, serve
from trainspec.inference._drift import (
    DriftAccumulator,
    DriftReport,
    FeatureDrift,
    Reference,
    feature_matrix,
    ks_statistic,
    psi,
)
from trainspec.inference._evaluate import SPLITS, Evaluation, evaluate_run
from trainspec.inference._export import EXPORT_FORMATS, ExportResult, export_run
from trainspec.inference._mlflow_model import log_mlflow_model, save_mlflow_model
from trainspec.inference._monitor import build_reference, load_reference, monitor_run
from trainspec.inference._predict import predict_run
from trainspec.inference._predictor import BACKENDS, Predictor, Scores, make_predictor
from trainspec.inference._run import InferenceError, LoadedRun, load_run
from trainspec.inference._service import ModelService, ServeOptions

__all__ = [
    "BACKENDS",
    "EXPORT_FORMATS",
    "SPLITS",
    "DriftAccumulator",
    "DriftReport",
    "Evaluation",
    "ExportResult",
    "FeatureDrift",
    "InferenceError",
    "LoadedRun",
    "ModelService",
    "Predictor",
    "Reference",
    "Scores",
    "ServeOptions",
    "build_reference",
    "create_app",
    "evaluate_run",
    "export_run",
    "feature_matrix",
    "ks_statistic",
    "load_reference",
    "load_run",
    "log_mlflow_model",
    "make_predictor",
    "monitor_run",
    "predict_run",
    "psi",
    "save_mlflow_model",
    "serve",
]
