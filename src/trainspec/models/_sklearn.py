"""``SklearnModel``: a scikit-learn style estimator (anything with fit/predict) behind the
Model API, saved with ``skops.io`` and loaded only when every type in the file is trusted."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from trainspec.errors import ModelError
from trainspec.models._arch import dump_arch
from trainspec.models._model import (
    InputData,
    Model,
    as_named,
    begin_model_dir,
    write_model_json,
)

__all__ = ["ESTIMATOR_FILE", "SklearnModel"]

ESTIMATOR_FILE = "model.skops"


class SklearnModel(Model):
    """A fitted-on-demand estimator. Inputs are flattened to (N, features) and, when there are
    several keys, concatenated in ``input_keys`` order."""

    kind: ClassVar[str] = "sklearn"
    kind_label: ClassVar[str] = "scikit-learn estimator"

    def __init__(
        self,
        estimator: Any,
        *,
        arch: Any,
        input_keys: Sequence[str] = ("x",),
        task: str | None = None,
    ) -> None:
        for method in ("fit", "predict"):
            if not callable(getattr(estimator, method, None)):
                raise ModelError(f"{type(estimator).__name__} has no {method}() method")
        self.estimator = estimator
        self.arch = arch
        self.input_keys = tuple(input_keys)
        self.task = task or ("classification" if _is_classifier(estimator) else "regression")

    def __repr__(self) -> str:
        return f"SklearnModel({self.estimator!r})"

    def _matrix(self, X: InputData) -> np.ndarray:
        named = as_named(self._prepared(X), self.input_keys)
        parts = [v.reshape(len(v), -1) for v in named.values()]
        return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)

    def fit(self, X: InputData, y: np.ndarray, **kwargs: Any) -> SklearnModel:
        """``estimator.fit(X, y, **kwargs)``; a ``sample_weight`` of None is dropped."""
        if kwargs.get("sample_weight", 0) is None:
            kwargs.pop("sample_weight")
        self.estimator.fit(self._matrix(X), np.asarray(y), **kwargs)
        return self

    def predict(self, X: InputData) -> np.ndarray:
        return self._target_units(np.asarray(self.estimator.predict(self._matrix(X))))

    def predict_proba(self, X: InputData) -> np.ndarray:
        if not callable(getattr(self.estimator, "predict_proba", None)):
            raise ModelError(f"{type(self.estimator).__name__} has no predict_proba()")
        return np.asarray(self.estimator.predict_proba(self._matrix(X)))

    def save(self, directory: str | Path) -> Path:
        """``model.skops`` (the estimator, no pickle) and ``model.json``."""
        import skops.io as sio

        path = begin_model_dir(Path(directory))
        sio.dump(self.estimator, path / ESTIMATOR_FILE)
        info = {
            "kind": self.kind,
            "task": self.task,
            "arch": dump_arch(self.arch),
            "input_keys": list(self.input_keys),
        }
        write_model_json(path, info, [ESTIMATOR_FILE])
        return path


def _is_classifier(estimator: Any) -> bool:
    try:
        from sklearn.base import is_classifier

        return bool(is_classifier(estimator))
    except Exception:  # an estimator-like object that is not a scikit-learn BaseEstimator
        return getattr(estimator, "_estimator_type", None) == "classifier" or callable(
            getattr(estimator, "predict_proba", None)
        )
