"""``ModelService``: the model behind the HTTP server, loaded once, used by many threads.

It loads in the background (the server answers ``/health`` and a 503 ``/ready`` meanwhile),
maps each request's raw inputs through the run's fitted transforms, predicts, and keeps the
last ``drift_window`` rows of model inputs to measure drift against the training reference.
``predict_many`` answers several requests with one forward pass (the micro-batcher's call):
each request is prepared on its own, so a bad one fails alone, and the model-ready rows of the
others are concatenated, scored together and split back.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from trainspec.inference._drift import (
    DEFAULT_KS,
    DEFAULT_PSI,
    DriftAccumulator,
    DriftReport,
    Reference,
    feature_matrix,
)
from trainspec.inference._predictor import Scores
from trainspec.inference._prepare import PreparedChunk
from trainspec.inference._run import InferenceError, LoadedRun
from trainspec.inference._schema import (
    RequestShapeError,
    RunInputs,
    check_finite,
    describe_inputs,
)

__all__ = ["ModelService", "Request", "ServeOptions", "available_cores", "default_threads"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServeOptions:
    backend: str = "torch"
    checkpoint: str = "best"
    fold: int | None = None
    allow_imports: tuple[str, ...] = ()
    batch_size: int = 256
    max_batch: int = 10_000  # instances per request
    max_body_bytes: int = 10 * 1024 * 1024
    drift_window: int = 2_000  # rows of recent inputs kept for drift
    drift_min_rows: int = 100  # fewer rows than this: no drift figures yet
    psi_threshold: float = DEFAULT_PSI
    ks_threshold: float = DEFAULT_KS
    # Strict types by default: a boolean or a numeric string is refused, not read as a number.
    coerce: bool = False
    # Intra-op threads of the model (torch.set_num_threads, ONNX Runtime's intra-op pool);
    # None: this process's share of the cores, less one for its event loop (default_threads).
    threads: int | None = None
    # Micro-batching: requests that queue while the model is busy run together in one forward
    # pass of up to this many rows (0: every request runs alone) ...
    max_batch_rows: int = 256
    # ... and a batch short of max_batch_rows waits this long for more (0: it runs as soon as
    # the model is free, so batching adds no latency to a lone client).
    max_wait_ms: float = 0.0


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity, else the machine's count)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def default_threads(workers: int = 1) -> int:
    """Intra-op threads per worker process: its share of the cores, less the one its event
    loop keeps busy with HTTP and JSON; at least one. More threads than free cores make small
    forward passes far slower, not faster: the threads wait on each other for cores."""
    return max(1, available_cores() // max(1, workers) - 1)


@dataclass
class Request:
    """One request's raw inputs: ``n`` instances by input name (records: row ``offsets``)."""

    inputs: dict[str, Any]
    offsets: np.ndarray | None
    n: int


@dataclass
class _Ready:
    """A request mapped through the fitted transforms: model-ready rows."""

    inputs: dict[str, np.ndarray]
    offsets: np.ndarray | None
    n: int


def _join_offsets(parts: list[np.ndarray | None]) -> np.ndarray | None:
    """Record offsets of concatenated requests: each request's shifted by the rows before it."""
    if parts[0] is None:
        return None
    joined, base = [np.zeros(1, dtype=np.int64)], 0
    for offsets in parts:
        assert offsets is not None
        joined.append(np.asarray(offsets[1:], dtype=np.int64) + base)
        base += int(offsets[-1])
    return np.concatenate(joined)


def _concat(parts: list[Any]) -> Any:
    """Raw inputs of several requests as one: arrays, or DataFrames (array inputs with
    columns)."""
    if hasattr(parts[0], "iloc"):
        import pandas as pd

        return pd.concat(parts, ignore_index=True)
    return np.concatenate(parts)


def _slice(scores: Scores, lo: int, hi: int, first: int) -> Scores:
    """The predictions of samples ``first``... (positions ``lo:hi``), renumbered from 0."""

    def cut(a: np.ndarray | None) -> np.ndarray | None:
        return None if a is None else a[lo:hi]

    return Scores(
        scores.sample[lo:hi] - first,
        cut(scores.position),
        cut(scores.labels),
        cut(scores.proba),
        cut(scores.values),
    )


class _Window:
    """The last ``size`` rows of features, as a ring buffer."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.values: np.ndarray | None = None
        self.names: list[str] = []
        self.filled = 0
        self.pos = 0

    def push(self, values: np.ndarray, names: list[str]) -> None:
        if self.size <= 0 or not len(values):
            return
        if self.values is None:
            self.values = np.zeros((self.size, values.shape[1]))
            self.names = names
        values = values[-self.size :]
        n = len(values)
        end = self.pos + n
        if end <= self.size:
            self.values[self.pos : end] = values
        else:
            first = self.size - self.pos
            self.values[self.pos :] = values[:first]
            self.values[: n - first] = values[first:]
        self.pos = end % self.size
        self.filled = min(self.size, self.filled + n)

    def rows(self) -> np.ndarray:
        if self.values is None:
            return np.zeros((0, 0))
        return self.values[: self.filled]


class ModelService:
    """Holds the loaded run; ``predict`` is safe to call from many threads."""

    def __init__(self, run: str | Path, options: ServeOptions | None = None) -> None:
        self.path = Path(run)
        self.options = options or ServeOptions()
        self.inputs: RunInputs = describe_inputs(self.path, fold=self.options.fold)
        self.status = "loading"
        self.error: str | None = None
        self.run: LoadedRun | None = None
        self.predictor: Any = None
        self.reference: Reference | None = None
        self._window = _Window(self.options.drift_window)
        self._lock = threading.Lock()
        self._ready = threading.Event()

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._ready.wait(timeout)

    def load(self) -> None:
        """Load the run, the predictor and the drift reference; never raises (the error is
        kept and ``/ready`` reports it)."""
        from trainspec.inference._monitor import load_reference
        from trainspec.inference._predictor import make_predictor
        from trainspec.inference._run import load_run

        opts = self.options
        start = time.perf_counter()
        try:
            run = load_run(
                self.path,
                checkpoint=opts.checkpoint,
                fold=opts.fold,
                allow_imports=opts.allow_imports,
            )
            if any(s.name == "window" for s in run.transforms.steps):
                raise InferenceError("serving a model trained on windowed samples is not supported")
            self.predictor = make_predictor(run, opts.backend, threads=self.threads)
            self.run = run
        except Exception as exc:  # reported by /ready, and in the log
            self.status, self.error = "failed", f"{type(exc).__name__}: {exc}"
            log.error("could not load %s: %s", self.path, self.error)
            return
        try:
            self.reference = load_reference(run)
        except Exception as exc:  # serving works without drift figures
            log.warning("drift monitoring is off: no reference for %s (%s)", self.path, exc)
        self.status = "ready"
        self._ready.set()
        log.info(
            "model loaded in %.2f s (%s backend, %d intra-op threads)",
            time.perf_counter() - start,
            opts.backend,
            self.threads,
        )

    @property
    def threads(self) -> int:
        return self.options.threads or default_threads()

    def predict(self, inputs: dict[str, Any], offsets: np.ndarray | None, n: int) -> dict[str, Any]:
        """Predictions for ``n`` instances of raw inputs by name (records: ``offsets``)."""
        answer = self.predict_many([Request(inputs, offsets, n)])[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def predict_many(self, requests: Sequence[Request]) -> list[dict[str, Any] | Exception]:
        """The answer to each request, or the exception that request alone raised (a value
        the transforms refuse, a non-finite row). The others run in one forward pass; should
        that pass fail, each runs alone, so one request cannot fail the rest."""
        answers: dict[int, dict[str, Any] | Exception] = {}
        ready = self._prepare_together(requests)
        if ready is None:
            ready = []
            for i, request in enumerate(requests):
                try:
                    ready.append((i, self._prepare(request)))
                except Exception as exc:  # this request's own fault: its 422 (or 500)
                    answers[i] = exc
        try:
            scored = self._score([r for _, r in ready])
        except Exception:
            if len(ready) < 2:
                raise
            scored = [self._score_alone(r) for _, r in ready]  # type: ignore[misc]
        answers.update((i, answer) for (i, _), answer in zip(ready, scored, strict=True))
        return [answers[i] for i in range(len(requests))]

    def _prepare_together(self, requests: Sequence[Request]) -> list[tuple[int, _Ready]] | None:
        """Several requests of rows mapped through the fitted transforms in one call, then
        split back: the transforms map each row on its own, so each request's rows come out
        as they would alone, for one call's overhead (pandas, per-step checks) per batch.
        None when that does not apply (records, a single request) or when any request fails:
        then each is prepared alone, so that the one at fault gets its own error."""
        if len(requests) < 2 or any(r.offsets is not None or r.n == 0 for r in requests):
            return None
        try:
            joined = {k: _concat([r.inputs[k] for r in requests]) for k in requests[0].inputs}
            total = sum(r.n for r in requests)
            ready = self._prepare(Request(joined, None, total))
        except Exception:
            return None
        if any(len(v) != total for v in ready.inputs.values()):
            return None  # not one row out per row in
        starts = np.concatenate([[0], np.cumsum([r.n for r in requests])]).tolist()
        return [
            (
                i,
                _Ready(
                    {k: v[starts[i] : starts[i + 1]] for k, v in ready.inputs.items()}, None, r.n
                ),
            )
            for i, r in enumerate(requests)
        ]

    def _prepare(self, request: Request) -> _Ready:
        run = self.run
        assert run is not None
        if request.n == 0:
            return _Ready({}, request.offsets, 0)
        meta = run.transforms.info.get("meta") or {}
        with np.errstate(over="ignore", invalid="ignore"):  # caught just below, as a 422
            ready = run.transforms.apply(request.inputs, offsets=request.offsets, meta=meta)
        check_finite(ready, request.offsets)
        return _Ready(ready, request.offsets, request.n)

    def _score_alone(self, ready: _Ready) -> dict[str, Any] | Exception:
        try:
            return self._score([ready])[0]
        except Exception as exc:
            return exc

    def _score(self, parts: list[_Ready]) -> list[dict[str, Any]]:
        """One forward pass over the concatenated rows of ``parts``, split back per part."""
        run = self.run
        assert run is not None and self.predictor is not None
        parts_n = [p.n for p in parts]
        total = sum(parts_n)
        if total == 0:
            return [self._response([], []) for _ in parts]
        rows = [p for p in parts if p.n]  # an empty request adds no rows and no keys
        joined = {k: np.concatenate([p.inputs[k] for p in rows]) for k in rows[0].inputs}
        offsets = _join_offsets([p.offsets for p in rows])
        chunk = PreparedChunk(joined, total, offsets, None, None)
        scores = self.predictor.scores(chunk, self.options.batch_size)
        self._record(joined)
        starts = np.concatenate([[0], np.cumsum(parts_n)])
        cuts = np.searchsorted(scores.sample, starts)  # scores are in sample order
        return [
            self._package(run, _slice(scores, cuts[k], cuts[k + 1], starts[k]), n)
            for k, n in enumerate(parts_n)
        ]

    def predict_images(self, files: Sequence[tuple[str, bytes]]) -> dict[str, Any]:
        """Predictions for uploaded image files ``(name, bytes)``, decoded as the run's
        ``images`` source decoded its training images."""
        import io

        from trainspec.data import decode_image

        run = self.run
        assert run is not None
        source = run.job.data.source
        if source.type != "images":
            raise RequestShapeError(
                ("body", "files"),
                f"this model was trained on a {source.type} source, not images; POST "
                "instances to /predict",
            )
        size = source.size or (run.transforms.info.get("meta") or {}).get("image", {}).get("size")
        hw = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
        images = []
        for name, blob in files:
            try:
                images.append(decode_image(io.BytesIO(blob), source.mode, hw, source.fit))
            except (OSError, ValueError, SyntaxError, EOFError) as exc:
                raise RequestShapeError(
                    ("body", "files", name), f"{name!r} cannot be decoded as an image: {exc}"
                ) from exc
        name = run.transforms.input_names[0]
        return self.predict({name: np.stack(images)}, None, len(images))

    def _record(self, ready: dict[str, np.ndarray]) -> None:
        if self.reference is None or self.options.drift_window <= 0:
            return
        columns = dict(self.run.transforms.info.get("columns") or {}) if self.run else {}
        values, names = feature_matrix(ready, columns=columns)
        with self._lock:
            self._window.push(values, names)

    def _package(self, run: LoadedRun, scores: Any, n: int) -> dict[str, Any]:
        names = run.class_names
        if scores.labels is not None:
            out: list[Any] = [names[i] if names else int(i) for i in scores.labels.tolist()]
        else:
            out = np.asarray(scores.values).tolist()
        proba = None if scores.proba is None else scores.proba.tolist()
        if scores.position is not None:  # one prediction per epoch: group them by instance
            sample = scores.sample.tolist()
            grouped: list[list[Any]] = [[] for _ in range(n)]
            grouped_p: list[list[Any]] = [[] for _ in range(n)]
            for k, i in enumerate(sample):
                grouped[i].append(out[k])
                if proba is not None:
                    grouped_p[i].append(proba[k])
            return self._response(grouped, grouped_p if proba is not None else None)
        return self._response(out, proba)

    def _response(self, predictions: list[Any], proba: list[Any] | None) -> dict[str, Any]:
        classification = self.inputs.task == "classification"
        return {
            "predictions": predictions,
            "probabilities": proba if classification else None,
            "classes": self.inputs.class_names if classification else None,
        }

    def drift(self) -> tuple[DriftReport | None, int]:
        """Drift of the recent window against the reference (None below the minimum rows)."""
        if self.reference is None:
            return None, 0
        with self._lock:
            rows = self._window.rows().copy()
            names = list(self._window.names)
        if len(rows) < self.options.drift_min_rows:
            return None, len(rows)
        acc = DriftAccumulator(self.reference)
        acc.update(rows, names)
        report = acc.report(
            psi_threshold=self.options.psi_threshold, ks_threshold=self.options.ks_threshold
        )
        return report, len(rows)

    def describe(self) -> dict[str, Any]:
        return {
            "run": str(self.path),
            "status": self.status,
            "backend": self.options.backend,
            "threads": self.threads,
            "max_batch_rows": self.options.max_batch_rows,
            "max_wait_ms": self.options.max_wait_ms,
            "checkpoint": None if self.run is None else self.run.checkpoint,
            "inputs": [
                {"name": f.name, "row_shape": list(f.row_shape), "columns": f.columns}
                for f in self.inputs.inputs
            ],
            "records": self.inputs.records,
            "task": self.inputs.task,
            "classes": self.inputs.class_names,
        }
