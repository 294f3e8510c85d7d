"""Batch prediction: a run and a file (or arrays) in, a table of predictions out.

The output has one row per sample, or per real row (epoch) of record samples: an id column
(the spec's ``id`` key, ``record`` and ``epoch`` for records, else ``row``), ``prediction``
(the class name, or the value), ``proba_<class>`` per class, and ``target`` when the new data
has the target. Inputs are read and predicted chunk by chunk and the output written as it
goes, so memory stays bounded by the chunk size, not the file size.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np

from trainspec.inference._ensemble import Ensemble, load_models
from trainspec.inference._predictor import Scores
from trainspec.inference._prepare import PreparedChunk
from trainspec.inference._read import iter_tables
from trainspec.inference._run import InferenceError, LoadedRun

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["OUTPUT_FORMATS", "predict_frame", "predict_run"]

log = logging.getLogger(__name__)

OUTPUT_FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
Progress = Callable[[int, int], None]


def _labels_out(labels: np.ndarray, names: Sequence[str] | None) -> np.ndarray:
    if not names:
        return labels
    lookup = np.asarray(list(names), dtype=object)
    return np.asarray(lookup[labels], dtype=object)


def predict_frame(
    run: LoadedRun, chunk: PreparedChunk, scores: Scores, *, first_row: int = 0
) -> pd.DataFrame:
    """The output rows of one chunk (see the module docstring)."""
    import pandas as pd

    columns: dict[str, Any] = {}
    fallback = "record" if chunk.offsets is not None else "row"
    id_name = run.job.data.id or chunk.id_name or fallback
    if chunk.ids is not None:
        columns[id_name] = np.asarray(chunk.ids)[scores.sample]
    else:
        columns[id_name] = scores.sample + first_row
    if scores.position is not None:
        columns["epoch"] = scores.position
    names = run.class_names
    if scores.labels is not None:
        columns["prediction"] = _labels_out(scores.labels, names)
    if scores.values is not None:
        values = np.asarray(scores.values)
        if values.ndim == 1:
            columns["prediction"] = values
        else:
            for j in range(values.shape[1]):
                columns[f"prediction_{j}"] = values[:, j]
    if scores.proba is not None:
        for j in range(scores.proba.shape[1]):
            label = names[j] if names and j < len(names) else str(j)
            columns[f"proba_{label}"] = scores.proba[:, j]
    target = _target(chunk, scores)
    if target is not None:
        columns["target"] = target
    return pd.DataFrame(columns)


def _target(chunk: PreparedChunk, scores: Scores) -> np.ndarray | None:
    t = chunk.target
    if t is None or t.ndim != 1:
        return None
    if scores.position is not None and chunk.offsets is not None and len(t) == chunk.n_rows:
        return np.asarray(t[chunk.offsets[scores.sample] + scores.position])
    if scores.position is None and len(t) == chunk.n_samples:
        return np.asarray(t[scores.sample])
    return None


class _Writer:
    """Writes chunk frames to CSV or Parquet as they come; the file appears complete or not
    at all (it is written under a temporary name and renamed)."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.fmt = OUTPUT_FORMATS.get(out.suffix.lower())
        if self.fmt is None:
            raise InferenceError(
                f"--out {str(out)!r}: write predictions to a .csv or .parquet file"
            )
        out.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
        self.parquet: Any = None
        self.rows = 0
        self.started = False
        self.empty: pd.DataFrame | None = None

    def write(self, frame: pd.DataFrame) -> None:
        if self.fmt == "csv":
            if self.started and len(frame) == 0:
                return
            frame.to_csv(
                self.tmp, mode="a" if self.started else "w", header=not self.started, index=False
            )
            self.started = True
            self.rows += len(frame)
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        if len(frame) == 0:
            self.empty = frame if self.empty is None else self.empty
            return
        if self.parquet is None:
            table = pa.Table.from_pandas(frame, preserve_index=False)
            self.parquet = pq.ParquetWriter(self.tmp, table.schema)
        else:
            table = pa.Table.from_pandas(frame, schema=self.parquet.schema, preserve_index=False)
        self.parquet.write_table(table)
        self.rows += len(frame)

    def close(self) -> Path:
        if self.fmt == "csv" and not self.started:
            _empty_frame().to_csv(self.tmp, index=False)
        if self.fmt == "parquet":
            if self.parquet is None:
                frame = self.empty if self.empty is not None else _empty_frame()
                frame.to_parquet(self.tmp, index=False)
            else:
                self.parquet.close()
        os.replace(self.tmp, self.out)
        return self.out

    def abort(self) -> None:
        if self.parquet is not None:
            self.parquet.close()
        self.tmp.unlink(missing_ok=True)


def _empty_frame() -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame({"row": np.zeros(0, np.int64), "prediction": np.zeros(0)})


def iter_predictions(
    models: Ensemble,
    data: Any,
    *,
    batch_size: int,
    chunk_size: int,
) -> Any:
    """Output frames chunk by chunk."""
    run = models.run
    spec = run.job.data
    meta = dict(run.transforms.info.get("meta") or {})
    first = 0
    for table in iter_tables(data, spec.source, chunk_size, meta, on_bad=spec.on_bad):
        chunks = models.prepare(table)
        scores = models.scores(chunks, batch_size)
        yield predict_frame(run, chunks[0], scores, first_row=first)
        first += chunks[0].n_samples


def predict_run(
    run: str | Path | LoadedRun,
    data: str | Path | Any,
    *,
    out: str | Path | TextIO | None = None,
    batch_size: int = 256,
    checkpoint: str = "best",
    chunk_size: int = 10_000,
    fold: int | None = None,
    backend: str = "torch",
    allow_imports: Sequence[str] = (),
    progress: Progress | None = None,
    ensemble: bool = False,
) -> pd.DataFrame | Path | None:
    """Predict ``data`` with a trained run.

    ``data`` is a CSV, Parquet, NPY, NPZ or HDF5 file (tabular, or the records layout), a
    DataFrame, a dict of arrays or an array, in the form the run was trained on (raw: the
    run's transforms are applied here). With ``out`` (``.csv`` or ``.parquet``) predictions are
    written there chunk by chunk and the path is returned; with a text stream (``sys.stdout``),
    CSV is written to it chunk by chunk and None is returned; without ``out``, a DataFrame.
    ``progress(chunk_index, samples_so_far)`` is called after every chunk. ``ensemble``
    averages every fold model of a cross-validated run (class probabilities, or predicted
    values) instead of using one.
    """
    if batch_size < 1:
        raise InferenceError(f"batch_size must be at least 1; got {batch_size}")
    models = load_models(
        run,
        ensemble=ensemble,
        checkpoint=checkpoint,
        fold=fold,
        backend=backend,
        allow_imports=allow_imports,
    )
    frames = iter_predictions(models, data, batch_size=batch_size, chunk_size=chunk_size)
    if out is None:
        import pandas as pd

        parts = []
        for i, frame in enumerate(frames):
            parts.append(frame)
            if progress is not None:
                progress(i, sum(len(p) for p in parts))
        return pd.concat(parts, ignore_index=True) if parts else _empty_frame()
    if not isinstance(out, str | Path):
        rows = 0
        for i, frame in enumerate(frames):
            frame.to_csv(out, header=i == 0, index=False)
            out.flush()
            rows += len(frame)
            if progress is not None:
                progress(i, rows)
        return None
    writer = _Writer(Path(out))
    try:
        for i, frame in enumerate(frames):
            writer.write(frame)
            if progress is not None:
                progress(i, writer.rows)
    except BaseException:
        writer.abort()
        raise
    path = writer.close()
    log.debug("wrote %d predictions to %s", writer.rows, path)
    return path
