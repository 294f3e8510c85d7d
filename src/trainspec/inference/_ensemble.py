"""Several trained models used as one: the fold models of a cross-validated run (``predict
RUN --ensemble``), or a single run's model (an ensemble of one, so that ``predict`` and
``evaluate`` have one code path).

Each member maps the new data through its own fitted transforms (every fold fitted its own on
its training split), predicts, and the members' class probabilities (classification) or
predicted values (regression, in the target's own units) are averaged; the predicted class
is the most probable one under the mean.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trainspec.data import KeyTable
from trainspec.files import RunDir
from trainspec.inference._predictor import Predictor, Scores, make_predictor
from trainspec.inference._prepare import PreparedChunk, prepare_chunk
from trainspec.inference._run import CHECKPOINTS, InferenceError, LoadedRun, load_run, require_run

__all__ = ["Ensemble", "ensemble_folds", "load_ensemble", "load_models"]


@dataclass
class Ensemble:
    """Members (a run and its predictor) whose predictions are averaged."""

    members: list[tuple[LoadedRun, Predictor]]

    @property
    def run(self) -> LoadedRun:
        """The first member: the data spec, class names and metadata shared by all."""
        return self.members[0][0]

    @property
    def folds(self) -> list[int]:
        return [run.fold for run, _ in self.members]

    def prepare(
        self, table: KeyTable, *, group: str | None = None, id_key: str | None = None
    ) -> list[PreparedChunk]:
        """The chunk as each member's transforms map it (the first gives ids and targets)."""
        return [
            prepare_chunk(run.job.data, run.transforms, table, group=group, id_key=id_key)
            for run, _ in self.members
        ]

    def scores(self, chunks: Sequence[PreparedChunk], batch_size: int) -> Scores:
        parts = [
            predictor.scores(chunk, batch_size)
            for (_, predictor), chunk in zip(self.members, chunks, strict=True)
        ]
        if len(parts) == 1:
            return parts[0]
        return _mean(parts, self.folds)


def _mean(parts: Sequence[Scores], folds: Sequence[int]) -> Scores:
    first = parts[0]
    for part, k in zip(parts[1:], folds[1:], strict=True):
        same_rows = np.array_equal(part.sample, first.sample) and (
            (part.position is None and first.position is None)
            or (
                part.position is not None
                and first.position is not None
                and np.array_equal(part.position, first.position)
            )
        )
        if not same_rows:
            raise InferenceError(
                f"fold {k} predicts other rows than fold {folds[0]}: the fold models do not "
                "agree on the data's layout, so they cannot be averaged"
            )
    if first.values is not None:
        values = np.mean([np.asarray(p.values, dtype=np.float64) for p in parts], axis=0)
        return Scores(first.sample, first.position, None, None, values)
    missing = [k for p, k in zip(parts, folds, strict=True) if p.proba is None]
    if missing:
        raise InferenceError(
            f"fold(s) {missing} give no class probabilities (an estimator without "
            "predict_proba), so the folds' probabilities cannot be averaged; predict one fold "
            "with --fold K instead of --ensemble"
        )
    width = max(np.asarray(p.proba).shape[1] for p in parts)
    stacked = np.zeros((len(parts), len(first.sample), width), dtype=np.float64)
    for i, p in enumerate(parts):
        proba = np.asarray(p.proba)
        stacked[i, :, : proba.shape[1]] = proba
    proba_mean = stacked.mean(axis=0)
    return Scores(first.sample, first.position, proba_mean.argmax(axis=-1), proba_mean, None)


def _has_weights(fold_dir: Path, checkpoint: str) -> bool:
    if (RunDir(fold_dir).model / "model.json").is_file():
        return True
    return checkpoint != "final" and RunDir(fold_dir).checkpoint(checkpoint).is_dir()


def ensemble_folds(run: str | Path, *, checkpoint: str = "best") -> tuple[Path, list[Path]]:
    """``(root, fold_dirs)`` of a cross-validated run, every fold checked for its weights."""
    root = Path(run).expanduser()
    if not root.is_dir():
        raise InferenceError(f"run {str(root)!r} is not a directory; pass a run directory")
    if root.parent.name in (RunDir.FOLDS, RunDir.CHECKPOINTS):
        raise InferenceError(
            f"--ensemble averages every fold of a run: pass the run directory, not {root}"
        )
    run_dir = require_run(root)
    if checkpoint not in CHECKPOINTS:
        raise InferenceError(
            f"checkpoint must be one of {', '.join(CHECKPOINTS)}; got {checkpoint!r}"
        )
    n = len((run_dir.read(run_dir.SPLITS) if run_dir.splits.is_file() else {}).get("folds") or [])
    if n < 2 or not run_dir.folds_dir.is_dir():
        raise InferenceError(
            f"--ensemble: run {root} is not a cross-validation run (it trained one model, "
            "not one per fold under folds/); --ensemble averages the fold models of a run "
            "whose data.split.method is kfold, stratified_kfold or group_kfold. Predict "
            "this run without --ensemble"
        )
    dirs = [run_dir.fold(k).path for k in range(n)]
    for k, fold_dir in enumerate(dirs):
        if not fold_dir.is_dir() or not _has_weights(fold_dir, checkpoint):
            what = "is missing" if not fold_dir.is_dir() else "has no weights"
            where = "model/" if checkpoint == "final" else f"checkpoints/{checkpoint}/ nor model/"
            raise InferenceError(
                f"--ensemble: fold {k} of run {root} ({fold_dir}) {what} (neither {where}); "
                f"every one of its {n} folds is needed: finish the run with 'trainspec train "
                f"--resume --run-dir {root}', or predict one fold with --fold K"
            )
    return root, dirs


def load_ensemble(
    run: str | Path,
    *,
    checkpoint: str = "best",
    backend: str = "torch",
    allow_imports: Sequence[str] = (),
) -> Ensemble:
    """Every fold model of the cross-validated ``run``, loaded with its transforms."""
    _, dirs = ensemble_folds(run, checkpoint=checkpoint)
    members = []
    for fold_dir in dirs:
        loaded = load_run(fold_dir, checkpoint=checkpoint, allow_imports=allow_imports)
        members.append((loaded, make_predictor(loaded, backend)))
    return Ensemble(members)


def load_models(
    run: str | Path | LoadedRun,
    *,
    ensemble: bool = False,
    checkpoint: str = "best",
    fold: int | None = None,
    backend: str = "torch",
    allow_imports: Sequence[str] = (),
) -> Ensemble:
    """The models ``predict`` and ``evaluate`` use: every fold's with ``ensemble``, else the
    one ``load_run`` picks (an ensemble of one)."""
    if ensemble:
        if fold is not None:
            raise InferenceError(
                f"--ensemble averages every fold; --fold {fold} picks one: use one of the two"
            )
        if isinstance(run, LoadedRun):
            raise InferenceError("ensemble=True takes a run directory, not a loaded run")
        return load_ensemble(
            run, checkpoint=checkpoint, backend=backend, allow_imports=allow_imports
        )
    loaded = (
        run
        if isinstance(run, LoadedRun)
        else load_run(run, checkpoint=checkpoint, fold=fold, allow_imports=allow_imports)
    )
    return Ensemble([(loaded, make_predictor(loaded, backend))])
