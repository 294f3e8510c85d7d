"""A run as an MLflow model: the pyfunc flavour with trainspec's loader.

``mlflow.pyfunc.load_model("runs:/<id>/model")`` (or ``models:/<name>@<alias>``) gives a model
whose ``predict`` takes raw inputs, as ``trainspec predict`` does, and returns the same table:
the fitted transforms, the weights and the users' modules travel inside the MLflow model as the
artifact ``run``. Only the files inference needs are copied, not checkpoints' training state.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from trainspec.files import RunDir, verify_manifest
from trainspec.inference._run import InferenceError, resolve_run_dir
from trainspec.inference._schema import describe_inputs

__all__ = ["MLFLOW_MODEL_PATH", "bundle_run", "log_mlflow_model", "save_mlflow_model"]

MLFLOW_MODEL_PATH = "model"
# What ``load_run(..., checkpoint="final")`` reads; ``model/`` holds the best weights. The
# input example (a few raw training rows) is stored with the MLflow model.
_BUNDLE = (
    RunDir.CONFIG,
    RunDir.DATA,
    RunDir.ENVIRONMENT,
    RunDir.INPUT_EXAMPLE,
    RunDir.TRANSFORMS,
    RunDir.MODEL,
    RunDir.CODE,
)


def bundle_run(run: str | Path, dest: Path) -> Path:
    """Copy the files that predicting with ``run`` needs into ``dest``."""
    fold_dir, root, _, _ = resolve_run_dir(run, fold=None)
    if fold_dir != root:
        raise InferenceError(
            f"{root} is a cross-validation run: log one fold's run directory, or refit it"
        )
    model = RunDir(root).model
    if not model.is_dir():
        raise InferenceError(f"{model} is missing: the run has not finished")
    # A damaged model is never bundled; MLflow's loader (load_run) checks the copy again.
    verify_manifest(model, what="saved model")
    dest.mkdir(parents=True, exist_ok=True)
    for name in _BUNDLE:
        source = root / name
        if source.is_dir():
            shutil.copytree(source, dest / name)
        elif source.is_file():
            shutil.copy2(source, dest / name)
    return dest


def _signature(run: Path) -> Any:
    """The input schema from the run's files: named columns, or arrays by input name."""
    import numpy as np
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema, TensorSpec

    spec = describe_inputs(run)
    if spec.named_rows:
        columns = spec.inputs[0].columns or []
        inputs = Schema(
            [
                ColSpec("string" if c in spec.categorical else "double", c, required=True)
                for c in columns
            ]
        )
        return ModelSignature(inputs=inputs)
    if spec.records:
        return None  # nights of varying length: a schema would refuse them
    tensors: list[ColSpec | TensorSpec] = []
    for f in spec.inputs:
        shape = (-1, *(-1 if d is None else d for d in f.row_shape))
        tensors.append(TensorSpec(np.dtype("float32"), shape, f.name))
    return ModelSignature(inputs=Schema(tensors))


def _input_example(run: Path, signature: Any) -> Any:
    """The run's few raw training rows (``input_example.json``) in the signature's form: a
    DataFrame of its columns, or arrays by input name. None when the run has none."""
    import numpy as np

    rd = RunDir(run)
    if signature is None or not rd.input_example.is_file():
        return None
    inputs = rd.read(rd.INPUT_EXAMPLE).get("inputs") or {}
    spec = describe_inputs(run)
    if not spec.named_rows:
        arrays = {
            f.name: np.array(inputs[f.name]["values"], dtype=np.float32)
            for f in spec.inputs
            if f.name in inputs
        }
        return arrays if len(arrays) == len(spec.inputs) else None
    import pandas as pd

    columns = spec.inputs[0].columns or []
    (only,) = inputs.values() if len(inputs) == 1 else (None,)
    if only is None or list(only.get("columns") or []) != list(columns):
        return None  # not the columns the model takes: no example rather than a wrong one
    frame = pd.DataFrame(only["values"], columns=columns)
    for c in columns:
        if c in spec.categorical:
            frame[c] = frame[c].map(lambda v: v if v is None else str(v)).astype(object)
        else:
            frame[c] = pd.to_numeric(frame[c], errors="coerce").astype("float64")
    return frame


def save_mlflow_model(run: str | Path, path: Path) -> Path:
    """Write ``run`` as an MLflow pyfunc model folder at ``path`` (which must not exist)."""
    import mlflow.pyfunc

    from trainspec import __version__
    from trainspec.inference._mlflow_pyfunc import TrainspecPyfunc

    # MLflow's save resets warning filters (it shows each UserWarning once): its notes go where
    # the caller sends warnings (a run's train.log while it runs).
    with tempfile.TemporaryDirectory(prefix="trainspec-bundle-") as tmp:
        bundle = bundle_run(run, Path(tmp) / "run")
        signature = _signature(bundle)
        mlflow.pyfunc.save_model(
            path=str(path),
            python_model=TrainspecPyfunc(),
            artifacts={"run": str(bundle)},
            signature=signature,
            input_example=_input_example(bundle, signature),
            pip_requirements=[f"trainspec=={__version__}"],
        )
    return path


def log_mlflow_model(run: str | Path, client: Any, run_id: str) -> str:
    """Log ``run`` as the MLflow model ``model`` of the MLflow run ``run_id``; its URI."""
    with tempfile.TemporaryDirectory(prefix="trainspec-mlflow-") as tmp:
        folder = save_mlflow_model(run, Path(tmp) / MLFLOW_MODEL_PATH)
        client.log_artifacts(run_id, str(folder), MLFLOW_MODEL_PATH)
    return f"runs:/{run_id}/{MLFLOW_MODEL_PATH}"
