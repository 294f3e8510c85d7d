"""The drift reference of a run, and ``monitor_run``: new data against it.

The reference is computed from the run's training split the first time it is needed (the
run's ``data:`` source, ``splits.json`` and fitted transforms) and cached in
``RUN/reference/``. Runs trained on arrays passed from Python have no source to reread: call
``build_reference(run, data=X_train)`` once for them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from trainspec.files import RunDir
from trainspec.inference._drift import (
    DEFAULT_KS,
    DEFAULT_PSI,
    DriftAccumulator,
    DriftReport,
    Reference,
    feature_matrix,
)
from trainspec.inference._prepare import prepare_chunk
from trainspec.inference._read import iter_tables
from trainspec.inference._run import InferenceError, LoadedRun, load_run

__all__ = ["REFERENCE_DIR", "build_reference", "load_reference", "monitor_run"]

log = logging.getLogger(__name__)

REFERENCE_DIR = RunDir.REFERENCE


def _columns(run: LoadedRun) -> dict[str, Any]:
    return dict(run.transforms.info.get("columns") or {})


def _train_indices(run: LoadedRun, n_samples: int) -> np.ndarray:
    root = RunDir(run.root)
    if root.splits.is_file():
        plan = root.read(root.SPLITS)
        folds = plan.get("folds") or []
        if plan.get("n_samples") == n_samples and run.fold < len(folds):
            return np.asarray(folds[run.fold].get("train", []), dtype=np.int64)
        log.warning(
            "splits.json does not match the data (%s samples); using every sample", n_samples
        )
    return np.arange(n_samples, dtype=np.int64)


def _from_training(run: LoadedRun) -> tuple[np.ndarray, list[str]]:
    from trainspec.data import prepare_inference

    spec = run.job.data
    if spec.source.type in ("arrays", "dataset"):
        raise InferenceError(
            f"run {run.root} was trained on a {spec.source.type!r} source that cannot be read "
            "again; build its drift reference once with "
            "trainspec.inference.build_reference(RUN, data=TRAINING_INPUTS)"
        )
    data = prepare_inference(spec, run.transforms, allow_imports=run.allow_imports)
    order = _train_indices(run, data.n_samples)
    parts: list[np.ndarray] = []
    names: list[str] = []
    for batch in data.source.iter_batches(order, 512):
        inputs = {k: batch[k].numpy() for k in run.input_keys}
        mask = batch["mask"].numpy() if "mask" in batch else None
        values, names = feature_matrix(inputs, columns=_columns(run), mask=mask)
        parts.append(values)
    if not parts:
        raise InferenceError(f"run {run.root} has an empty training split")
    return np.concatenate(parts), names


def _iter_features(run: LoadedRun, data: Any, chunk_size: int) -> Any:
    meta = dict(run.transforms.info.get("meta") or {})
    for table in iter_tables(data, run.job.data.source, chunk_size, meta):
        chunk = prepare_chunk(run.job.data, run.transforms, table)
        yield feature_matrix(chunk.inputs, columns=_columns(run))


def build_reference(
    run: str | Path | LoadedRun,
    *,
    data: Any = None,
    save: bool = True,
    chunk_size: int = 50_000,
    allow_imports: Sequence[str] = (),
) -> Reference:
    """The reference of the run's training inputs (or of ``data``: a file or arrays in the
    form the run was trained on), saved in ``RUN/reference/`` when ``save``."""
    loaded = run if isinstance(run, LoadedRun) else load_run(run, allow_imports=allow_imports)
    if data is None:
        values, names = _from_training(loaded)
        origin = "training split"
    else:
        pairs = list(_iter_features(loaded, data, chunk_size))
        values = np.concatenate([v for v, _ in pairs]) if pairs else np.zeros((0, 0))
        names = pairs[0][1] if pairs else []
        origin = "given data"
    reference = Reference.from_values(values, names, origin=origin, fold=loaded.fold)
    if save:
        try:
            reference.save(loaded.run_dir / REFERENCE_DIR)
        except OSError as exc:
            log.warning("cannot cache the drift reference in %s: %s", loaded.run_dir, exc)
    return reference


def load_reference(run: LoadedRun) -> Reference:
    """The cached reference of ``run``, built from its training split on first use."""
    folder = run.run_dir / REFERENCE_DIR
    if (folder / "reference.json").is_file():
        return Reference.load(folder)
    return build_reference(run)


def monitor_run(
    run: str | Path | LoadedRun,
    data: Any,
    *,
    psi_threshold: float = DEFAULT_PSI,
    ks_threshold: float = DEFAULT_KS,
    chunk_size: int = 50_000,
    fold: int | None = None,
    allow_imports: Sequence[str] = (),
) -> DriftReport:
    """Per-feature PSI and KS of ``data`` against the run's training inputs; features above
    either threshold are flagged as drifted."""
    loaded = (
        run if isinstance(run, LoadedRun) else load_run(run, fold=fold, allow_imports=allow_imports)
    )
    acc = DriftAccumulator(load_reference(loaded))
    for values, names in _iter_features(loaded, data, chunk_size):
        acc.update(values, names)
    return acc.report(psi_threshold=psi_threshold, ks_threshold=ks_threshold)
