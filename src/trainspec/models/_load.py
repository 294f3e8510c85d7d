"""``load_model``: a model written by ``Model.save``, of whichever kind its ``model.json`` names.

Loading a network rebuilds its architecture, so it sits above the builder and the model classes
rather than inside them: the classes save themselves, this module reads them back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from trainspec.errors import ModelError
from trainspec.files import WEIGHTS_FILE
from trainspec.models._build import build_model
from trainspec.models._model import MODEL_JSON, Model, read_model_json
from trainspec.models._sklearn import ESTIMATOR_FILE, SklearnModel
from trainspec.models._torch_model import TorchModel
from trainspec.registry import untrusted_types

__all__ = ["load_model"]


def load_model(directory: str | Path, *, allow_imports: Sequence[str] = ()) -> Model:
    """The saved model in ``directory``. A user's module or estimator needs its package in
    ``allow_imports``; so does every type in a scikit-learn file outside sklearn/numpy/scipy
    (``trainspec.registry.untrusted_types`` is the rule)."""
    path = Path(directory)
    info = read_model_json(path)
    kind = info.get("kind")
    if kind == "sklearn":
        return _load_sklearn(path, info, allow_imports)
    if kind == "torch":
        return _load_torch(path, info, allow_imports)
    raise ModelError(
        f"{path / MODEL_JSON}: kind {kind!r} is not a model kind trainspec saves ('torch' or "
        "'sklearn'); the folder was not written by Model.save"
    )


def _load_torch(path: Path, info: Mapping[str, Any], allow: Sequence[str]) -> TorchModel:
    from safetensors.torch import load_model as load_weights

    fields = info.get("fields")
    model = build_model(
        info["arch"],
        input_shapes={k: tuple(v) for k, v in info["input_shapes"].items()},
        allow_imports=allow,
        task=info["task"],
        fields=None if fields is None else {k: tuple(v) for k, v in fields.items()},
    )
    if not isinstance(model, TorchModel):
        raise ModelError(f"{path / MODEL_JSON}: kind 'torch' but its architecture builds {model}")
    try:
        load_weights(model.module, str(path / WEIGHTS_FILE), strict=True)
    except (RuntimeError, FileNotFoundError, OSError) as exc:
        raise ModelError(
            f"{path / WEIGHTS_FILE}: the weights do not fit the architecture in "
            f"{path / MODEL_JSON}: {exc}"
        ) from exc
    return model


def _load_sklearn(path: Path, info: Mapping[str, Any], allow: Sequence[str]) -> SklearnModel:
    import skops.io as sio

    file = path / ESTIMATOR_FILE
    if not file.is_file():
        raise ModelError(f"{file} does not exist")
    found = sio.get_untrusted_types(file=file)
    refused = untrusted_types(found, allow)
    if refused:
        raise ModelError(
            f"{file} holds types that are not trusted: {', '.join(refused)}. Loading it "
            "could run their code. If you trust this file and the types are your own package's, "
            "add the package to allow_imports (builtins, os and the like are never loaded)"
        )
    estimator = sio.load(file, trusted=list(found))
    return SklearnModel(
        estimator, arch=info["arch"], input_keys=info["input_keys"], task=info["task"]
    )
