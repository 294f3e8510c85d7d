"""From model-ready inputs to predictions, for every backend: PyTorch, ONNX Runtime and
scikit-learn.

Network outputs are logits (classification; one column: a binary logit) or values. Samples
that are records come in padded batches with a mask; each real row (epoch) gets one
prediction and padded positions are dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from trainspec.inference._prepare import PreparedChunk
from trainspec.inference._run import InferenceError, LoadedRun

if TYPE_CHECKING:
    from trainspec.data import Batch

__all__ = ["BACKENDS", "Predictor", "Scores", "make_predictor"]

BACKENDS = ("torch", "onnx")


@dataclass
class Scores:
    """Predictions of one chunk, one entry per sample (or per real row of record samples)."""

    sample: np.ndarray  # (M,) the sample each prediction belongs to
    position: np.ndarray | None  # (M,) the row within its record, for per-row outputs
    labels: np.ndarray | None  # (M,) class indices
    proba: np.ndarray | None  # (M, K) class probabilities
    values: np.ndarray | None  # (M,) or (M, k) regression outputs


class Backend(Protocol):
    def __call__(self, batch: dict[str, np.ndarray]) -> np.ndarray: ...


def _orders(chunk: PreparedChunk, batch_size: int) -> Iterator[np.ndarray]:
    """Sample orders to batch. Records are grouped by length so that no batch is padded:
    a record's predictions then do not depend on which records share its batch."""
    if chunk.offsets is None:
        yield np.arange(chunk.n_samples)
        return
    lengths = np.diff(chunk.offsets)
    order = np.argsort(lengths, kind="stable")
    cuts = np.flatnonzero(np.diff(lengths[order])) + 1
    for group in np.split(order, cuts):
        for start in range(0, len(group), batch_size):
            yield np.sort(group[start : start + batch_size])


def _batches(chunk: PreparedChunk, batch_size: int, run: LoadedRun) -> Iterator[Batch]:
    import torch

    from trainspec.data import TensorBatchSource

    source = TensorBatchSource(
        {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in chunk.inputs.items()},
        positions=np.arange(chunk.n_samples),
        offsets=chunk.offsets,
        # The evaluation side of the augmentations (a center crop, normalisation), as at
        # validation, so inputs have the shapes the model was trained on.
        augment=run.transforms.augmentations,
    )
    for order in _orders(chunk, batch_size):
        if len(order):
            yield from source.iter_batches(order, batch_size)


def _post(logits: np.ndarray, task: str) -> tuple[Any, Any, Any]:
    """(labels, proba, values) from raw outputs with classes (or targets) on the last axis."""
    import torch

    if task != "classification":
        values = logits[..., 0] if logits.ndim > 1 and logits.shape[-1] == 1 else logits
        return None, None, values
    t = torch.from_numpy(np.ascontiguousarray(logits, dtype=np.float32))
    if t.shape[-1] == 1:  # one binary logit -> [P(0), P(1)], as TorchModel.predict_proba
        p = torch.sigmoid(t)
        proba = torch.cat([1 - p, p], dim=-1).numpy()
    else:
        proba = torch.softmax(t, dim=-1).numpy()
    return proba.argmax(axis=-1), proba, None


class Predictor:
    """Runs one backend over prepared chunks."""

    def __init__(self, run: LoadedRun, backend: Backend | None, name: str) -> None:
        self.run = run
        self.backend = backend
        self.name = name

    def scores(self, chunk: PreparedChunk, batch_size: int = 256) -> Scores:
        if self.backend is None:
            return self._sklearn(chunk)
        outs, samples, positions = [], [], []
        per_row = False
        for batch in _batches(chunk, batch_size, self.run):
            arrays = {k: batch[k].numpy() for k in self.run.input_keys}
            out = self.backend(arrays)
            index = batch["index"].numpy()
            mask = batch["mask"].numpy() if "mask" in batch else None
            if mask is not None and out.ndim >= 3 and out.shape[:2] == mask.shape:
                per_row = True
                b, t = np.nonzero(mask)  # real rows, record by record, in order
                outs.append(out[b, t])
                samples.append(index[b])
                positions.append(t)
            else:
                outs.append(out)
                samples.append(index)
        if not outs:
            return Scores(np.zeros(0, np.int64), None, *_post(self._empty(), self.run.task))
        sample = np.concatenate(samples).astype(np.int64)
        where = np.concatenate(positions).astype(np.int64) if per_row else None
        back = (
            np.lexsort((where, sample)) if where is not None else np.argsort(sample, kind="stable")
        )
        logits = np.concatenate(outs)[back]
        labels, proba, values = _post(logits, self.run.task)
        if values is not None:
            values = self.run.transforms.inverse_target(values)
        return Scores(sample[back], None if where is None else where[back], labels, proba, values)

    def _empty(self) -> np.ndarray:
        k = len(self.run.class_names or []) or 1
        return np.zeros((0, k), dtype=np.float32)

    def _sklearn(self, chunk: PreparedChunk) -> Scores:
        model = self.run.model
        sample = np.arange(chunk.n_samples, dtype=np.int64)
        if chunk.n_samples == 0:
            return Scores(sample, None, *_post(self._empty(), self.run.task))
        if model.task != "classification":
            values = self.run.transforms.inverse_target(np.asarray(model.predict(chunk.inputs)))
            return Scores(sample, None, None, None, values)
        labels = np.asarray(model.predict(chunk.inputs)).astype(np.int64)
        proba = None
        estimator = getattr(model, "estimator", None)
        if callable(getattr(estimator, "predict_proba", None)):
            part = model.predict_proba(chunk.inputs)
            classes = np.asarray(estimator.classes_).astype(np.int64)  # type: ignore[union-attr]
            k = max(len(self.run.class_names or []), int(classes.max()) + 1)
            proba = np.zeros((len(part), k), dtype=np.float64)
            proba[:, classes] = part
        return Scores(sample, None, labels, proba, None)


def _torch_backend(run: LoadedRun, threads: int | None) -> Backend:
    import torch

    model = run.model.eval_mode()
    if threads is not None:
        torch.set_num_threads(threads)  # process-wide: a server sets it once, at load
    return model.forward_arrays


def _onnx_backend(path: Path, input_keys: Sequence[str], threads: int | None) -> Backend:
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise InferenceError(
            "the onnx backend needs onnxruntime: pip install 'trainspec[serve]'"
        ) from exc
    options = ort.SessionOptions()
    options.log_severity_level = 3
    if threads is not None:
        options.intra_op_num_threads = threads
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    if sorted(names) != sorted(input_keys):
        raise InferenceError(f"{path} takes inputs {names}; the run's model takes {input_keys}")

    def call(batch: dict[str, np.ndarray]) -> np.ndarray:
        feeds = {k: np.ascontiguousarray(batch[k], dtype=np.float32) for k in names}
        return np.asarray(session.run(None, feeds)[0])

    return call


def _network_predictor(
    run: LoadedRun, backend: str, onnx_path: Path | None, threads: int | None
) -> Predictor:
    if backend == "torch":
        return Predictor(run, _torch_backend(run, threads), "torch")
    if onnx_path is None:
        from trainspec.inference._export import ensure_onnx

        onnx_path = ensure_onnx(run)
    return Predictor(run, _onnx_backend(onnx_path, run.input_keys, threads), "onnx")


def _estimator_predictor(
    run: LoadedRun, backend: str, onnx_path: Path | None, threads: int | None
) -> Predictor:
    del onnx_path, threads  # the estimator predicts in process, with its own threads
    if backend == "onnx":
        raise InferenceError("the onnx backend serves PyTorch models; this run is scikit-learn")
    return Predictor(run, None, "sklearn")


# How a run's model is served, by ``Model.kind``: (run, backend, onnx_path, threads).
_PREDICTORS: dict[str, Callable[[LoadedRun, str, Path | None, int | None], Predictor]] = {
    "torch": _network_predictor,
    "sklearn": _estimator_predictor,
}


def make_predictor(
    run: LoadedRun,
    backend: str = "torch",
    *,
    onnx_path: Path | None = None,
    threads: int | None = None,
) -> Predictor:
    """A predictor over ``run``'s model; ``onnx`` runs an exported graph (exported to
    ``RUN/export/onnx`` first when ``onnx_path`` is not given and none is there). ``threads``
    sets the intra-op threads (for torch, process-wide); None leaves the library's default."""
    if backend not in BACKENDS:
        raise InferenceError(f"backend must be one of {', '.join(BACKENDS)}; got {backend!r}")
    kind = run.model.kind
    if kind not in _PREDICTORS:
        raise InferenceError(
            f"{run.run_dir}: a {kind!r} model ({run.model.kind_label}) cannot be served; "
            f"predictors exist for {', '.join(_PREDICTORS)} models"
        )
    return _PREDICTORS[kind](run, backend, onnx_path, threads)
