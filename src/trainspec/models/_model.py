"""The one Model API that declarative networks, users' modules and scikit-learn estimators
share: fit, predict, predict_proba, evaluate and save (``load_model`` reads it back)."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from trainspec.errors import ModelError
from trainspec.files import FORMAT_KEY, MANIFEST, check_format, verify_manifest, write_manifest

__all__ = [
    "MODEL_JSON",
    "InputData",
    "InputTransform",
    "MetricFn",
    "Model",
    "as_named",
    "read_model_json",
]

MODEL_JSON = "model.json"
FORMAT_VERSION = 1
# An array for a model with one input, or arrays by batch key.
InputData = np.ndarray | Mapping[str, np.ndarray]
MetricFn = Callable[[np.ndarray, np.ndarray, "np.ndarray | None"], float]


@runtime_checkable
class InputTransform(Protocol):
    """Fitted data transforms (the data layer's ``FittedTransforms``): raw inputs by name in,
    model-ready float arrays by batch key out."""

    def apply(self, inputs: Mapping[str, Any]) -> dict[str, np.ndarray]: ...


def as_named(X: Any, input_keys: Sequence[str]) -> dict[str, np.ndarray]:
    """``X`` as arrays by input key, all with the same number of samples."""
    if isinstance(X, Mapping):
        missing = [k for k in input_keys if k not in X]
        if missing:
            raise ModelError(
                f"the inputs lack {', '.join(map(repr, missing))}: the model takes "
                f"{', '.join(input_keys)}; got {', '.join(map(str, X))}"
            )
        named = {k: np.asarray(X[k]) for k in input_keys}
    elif len(input_keys) != 1:
        raise ModelError(
            f"the model takes {len(input_keys)} inputs ({', '.join(input_keys)}): pass a dict "
            "of arrays by those names"
        )
    else:
        named = {input_keys[0]: np.asarray(X)}
    lengths = {k: len(v) for k, v in named.items()}
    if len(set(lengths.values())) > 1:
        raise ModelError(f"the inputs hold different numbers of samples: {lengths}")
    return named


def read_model_json(directory: Path, kind: str | None = None) -> dict[str, Any]:
    """``model.json`` of a saved model, once every file of the folder matches its manifest."""
    path = directory / MODEL_JSON
    if not path.is_file():
        raise ModelError(f"{path} does not exist: {directory} is not a saved model directory")
    verify_manifest(directory, what="saved model")
    info: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    check_format(info, FORMAT_VERSION, what="saved model", where=path)
    if kind is not None and info.get("kind") != kind:
        raise ModelError(f"{path}: holds a {info.get('kind')!r} model, not a {kind!r} one")
    return info


def begin_model_dir(directory: Path) -> Path:
    """Create ``directory`` for a save; its old manifest goes first, so that a save cut short
    is reported as unfinished rather than read as a mix of two models."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / MANIFEST).unlink(missing_ok=True)
    return directory


def write_model_json(directory: Path, info: Mapping[str, Any], files: Sequence[str]) -> None:
    """``model.json``, then the manifest over it and ``files``: the save is complete."""
    payload = {FORMAT_KEY: FORMAT_VERSION, **info}
    text = json.dumps(payload, indent=2, sort_keys=False)
    (directory / MODEL_JSON).write_text(text + "\n", encoding="utf-8")
    write_manifest(directory, [*files, MODEL_JSON])


def _metric(name_or_fn: str | MetricFn) -> tuple[str, MetricFn]:
    if callable(name_or_fn):
        return getattr(name_or_fn, "__name__", "metric"), name_or_fn
    from trainspec.metrics import get_metric

    return name_or_fn, get_metric(name_or_fn, path=("metrics",))


class Model(ABC):
    """A fitted or fittable model.

    ``input_keys`` are the batch keys it reads; ``X`` is one array when there is one key, or a
    dict of arrays by key. ``task`` is ``"classification"`` or ``"regression"``.

    ``kind`` names the model's family (``torch``, ``sklearn``): what ``model.json`` records and
    what picks the engine's trainer (``trainspec.engine.trainer_for``). The capabilities say
    what else a caller may ask of it, so that callers ask rather than test the type:
    ``supports_finetune`` (a ``finetune:`` section: weights, freezing, parameter groups),
    ``supports_export`` (ONNX / TorchScript), ``supports_summary`` (a table of its layers,
    ``trainspec.models.summarize``), ``has_checkpoints`` (a run keeps its weights per epoch
    in ``checkpoints/``; ``load_weights`` takes them back), ``n_parameters`` (None where it
    means nothing). ``eval_mode`` readies it for inference; ``forward_arrays`` gives the raw
    outputs of a model that has them.
    """

    kind: ClassVar[str]
    kind_label: ClassVar[str] = "model"  # the kind in words, for messages
    supports_finetune: ClassVar[bool] = False
    supports_export: ClassVar[bool] = False
    supports_summary: ClassVar[bool] = False
    has_checkpoints: ClassVar[bool] = False
    task: str
    input_keys: tuple[str, ...]
    transforms: InputTransform | None = None
    _history: list[dict[str, float]] | None = None

    @property
    def history(self) -> list[dict[str, float]]:
        """One dict per epoch of what training logged (``epoch``, ``train/loss``, ``val/...``,
        ``lr``...), as ``trainspec.train_model`` recorded it; empty for a model it did not fit
        (a loaded one, or one fitted with ``fit``)."""
        return [] if self._history is None else self._history

    @history.setter
    def history(self, rows: list[dict[str, float]]) -> None:
        self._history = list(rows)

    def attach_transforms(self, transforms: InputTransform | None) -> Model:
        """Map raw ``X`` through ``transforms.apply`` before every predict / evaluate, as the
        data was mapped at training (None detaches them)."""
        self.transforms = transforms
        return self

    @property
    def n_parameters(self) -> int | None:
        """The number of learned parameters, where the model has a count of them."""
        return None

    def eval_mode(self) -> Model:
        """Ready for inference (a network leaves training mode: dropout off, batch-norm
        statistics frozen); a no-op for a model without modes. Returns the model itself."""
        return self

    def load_weights(self, state: Mapping[str, Any]) -> None:
        """Take the weights of a checkpoint (tensors by parameter name), which must match
        the model's exactly; only a model that ``has_checkpoints`` has any."""
        raise ModelError(
            f"a {self.kind_label} has no checkpoint weights to load: it is saved once, whole"
        )

    def forward_arrays(self, batch: Mapping[str, np.ndarray]) -> np.ndarray:
        """The raw outputs (logits or values) of one batch of model-ready arrays by batch
        key, without gradients: what a serving backend calls per batch."""
        raise ModelError(f"a {self.kind_label} has no raw outputs: use predict or predict_proba")

    def _target_units(self, values: np.ndarray) -> np.ndarray:
        """Regression outputs in the target's units when the attached transforms rescaled it
        for training (``data.target_transform``)."""
        inverse = getattr(self.transforms, "inverse_target", None)
        return values if inverse is None or self.task == "classification" else inverse(values)

    def _prepared(self, X: Any) -> Any:
        if self.transforms is None:
            return X
        names = list(getattr(self.transforms, "input_names", self.input_keys))
        if isinstance(X, Mapping):
            return self.transforms.apply(X)
        if len(names) != 1:
            raise ModelError(f"the data transforms take inputs {names}: pass a dict by name")
        return self.transforms.apply({names[0]: X})

    @abstractmethod
    def fit(self, X: InputData, y: np.ndarray, **kwargs: Any) -> Model:
        """Train on ``X``, ``y``; returns the model itself."""

    @abstractmethod
    def predict(self, X: InputData) -> np.ndarray:
        """Class labels (classification) or values (regression)."""

    @abstractmethod
    def predict_proba(self, X: InputData) -> np.ndarray:
        """Class probabilities, classes on the last axis."""

    def _predictions(self, X: InputData) -> tuple[np.ndarray, np.ndarray | None]:
        """``(predict(X), predict_proba(X) or None for regression)``; a model whose two come
        from one pass over the data (a network's outputs) overrides this to make it once."""
        y_score = self.predict_proba(X) if self.task == "classification" else None
        return self.predict(X), y_score

    @abstractmethod
    def save(self, directory: str | Path) -> Path:
        """Write the model to ``directory`` (created); returns it. ``load_model`` reads it back
        (it rebuilds the architecture, so loading lives beside the builder, not here)."""

    def evaluate(
        self,
        X: InputData,
        y: np.ndarray,
        metrics: Sequence[str | MetricFn] = ("accuracy",),
        *,
        mask: np.ndarray | None = None,
    ) -> dict[str, float]:
        """Metrics by name, from the registry (kind ``metric``) or given as functions
        ``(y_true, y_pred, y_score) -> float``. Sequence outputs (N, T) are scored per step;
        ``mask`` (same shape as ``y``) keeps only the steps where it is True."""
        y_true = np.asarray(y)
        y_pred, y_score = self._predictions(X)
        if y_pred.shape != y_true.shape:
            raise ModelError(
                f"evaluate: y has shape {y_true.shape} but the predictions have {y_pred.shape}"
            )
        y_true, y_pred = y_true.reshape(-1), y_pred.reshape(-1)
        if y_score is not None:
            y_score = y_score.reshape(len(y_true), -1)
        if mask is not None:
            keep = np.asarray(mask, dtype=bool).reshape(-1)
            y_true, y_pred = y_true[keep], y_pred[keep]
            y_score = None if y_score is None else y_score[keep]
        results = {}
        for item in metrics:
            name, fn = _metric(item)
            results[name] = float(fn(y_true, y_pred, y_score))
        return results
