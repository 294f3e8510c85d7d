"""Scoring a trained run on labelled data: its transforms, its model, its own metrics.

``evaluate_run`` predicts every sample of a file as ``predict_run`` does, keeps those of one
split (``splits.json`` of the run, or of another run with ``splits_from``) and scores them with
the metrics the run's spec names, plus a confusion matrix for classification and, with ``by``,
the same per value of a grouping key (a subject, a site).

A split names its samples by id when the run's spec has ``data.id`` (``splits.json`` then holds
the ids), so it selects from any file with those ids; without ids it names positions, which
select only from the run's own source.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from trainspec.files import RunDir
from trainspec.inference._ensemble import Ensemble, load_models
from trainspec.inference._predict import _target
from trainspec.inference._prepare import PreparedChunk
from trainspec.inference._read import iter_tables
from trainspec.inference._run import InferenceError, LoadedRun, resolve_run_dir

__all__ = ["SPLITS", "Evaluation", "evaluate_run"]

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test", "all")


@dataclass
class Evaluation:
    """Scores of one run on one data file (``to_dict`` is what ``evaluate --json`` prints)."""

    run: str
    data: str
    split: str
    fold: int | None  # None: every fold's model, averaged (ensemble)
    checkpoint: str
    n: int  # samples scored
    rows: int  # predictions scored: samples, or epochs of record samples
    metrics: dict[str, float]
    classes: list[str] | None = None
    confusion: list[list[int]] | None = None  # rows: true class, columns: predicted
    by: dict[str, dict[str, Any]] | None = None
    by_key: str | None = None
    splits_from: str | None = None
    ensemble: list[int] | None = None  # the folds averaged

    def to_dict(self) -> dict[str, Any]:
        return {
            "metrics": self.metrics,
            "n": self.n,
            "rows": self.rows,
            "split": self.split,
            "fold": self.fold,
            "confusion": self.confusion,
            "classes": self.classes,
            "by": self.by,
            "by_key": self.by_key,
            "run": self.run,
            "data": self.data,
            "checkpoint": self.checkpoint,
            "splits_from": self.splits_from,
            "ensemble": self.ensemble,
        }


@dataclass
class _Selection:
    """Which samples of the data a split holds: by id, or by position in the source."""

    ids: set[str] | None = None
    positions: np.ndarray | None = None
    id_key: str | None = None

    def keep(self, chunk: PreparedChunk, first: int) -> np.ndarray:
        if self.positions is not None:
            return np.isin(np.arange(first, first + chunk.n_samples), self.positions)
        if self.ids is None:
            return np.ones(chunk.n_samples, dtype=bool)
        if chunk.ids is None:
            raise InferenceError(
                f"the data has no {self.id_key!r} key to match the split's sample ids against; "
                "evaluate a file that holds it, or use --split all"
            )
        return np.isin(np.asarray(chunk.ids).astype(str), list(self.ids))


@dataclass
class _Scored:
    """Predictions kept for scoring, accumulated chunk by chunk."""

    true: list[np.ndarray] = field(default_factory=list)
    pred: list[np.ndarray] = field(default_factory=list)
    proba: list[np.ndarray] = field(default_factory=list)
    groups: list[np.ndarray] = field(default_factory=list)
    samples: list[np.ndarray] = field(default_factory=list)

    def cat(self, name: str) -> np.ndarray | None:
        parts: list[np.ndarray] = getattr(self, name)
        return np.concatenate(parts) if parts else None


def _config(root: Path) -> dict[str, Any]:
    return dict(RunDir(root).read_config().get("data") or {})


def _plan(root: Path) -> dict[str, Any]:
    run = RunDir(root)
    if not run.splits.is_file():
        raise InferenceError(
            f"{run.splits} is missing: --split and --splits-from need the run's {run.SPLITS}"
        )
    plan: dict[str, Any] = run.read(run.SPLITS)
    return plan


def _check_fold(root: Path, fold: int) -> None:
    n = len(_plan(root).get("folds") or [])
    if fold >= n:
        raise InferenceError(
            f"--fold {fold}: run {root} has {n} fold(s), numbered from 0; pick one of those"
        )


def select_split(split: str, plan_root: Path, fold: int, data: str | Path | Any) -> _Selection:
    """The samples of ``split`` (fold ``fold``) of the run at ``plan_root``, in ``data``."""
    if split not in SPLITS:
        raise InferenceError(f"--split must be one of {', '.join(SPLITS)}; got {split!r}")
    if split == "all":
        return _Selection()
    plan = _plan(plan_root)
    folds = plan.get("folds") or []
    if fold >= len(folds):
        raise InferenceError(
            f"{plan_root / 'splits.json'} has {len(folds)} fold(s); fold {fold} does not exist"
        )
    if split not in folds[fold]:
        have = ", ".join(sorted(folds[fold]))
        raise InferenceError(
            f"run {plan_root} has no {split!r} split (its splits: {have}); choose one of "
            "those with --split, or --split all"
        )
    index = np.asarray(folds[fold][split], dtype=np.int64)
    spec = _config(plan_root)
    if "ids" in plan:
        ids = np.asarray(plan["ids"], dtype=object)[index].astype(str)
        return _Selection(ids=set(ids.tolist()), id_key=spec.get("id"))
    _require_own_source(plan_root, spec, data)
    return _Selection(positions=index)


def _require_own_source(plan_root: Path, spec: dict[str, Any], data: Any) -> None:
    source = (spec.get("source") or {}).get("path")
    same = (
        isinstance(data, (str, Path))
        and source is not None
        and Path(data).expanduser().resolve() == Path(str(source)).expanduser().resolve()
    )
    if not same:
        raise InferenceError(
            f"the splits of run {plan_root} name samples by position (its spec has no data.id), "
            f"which select only from its own source {source!r}, not {str(data)!r}; evaluate "
            "that file, give the spec a data.id, or use --split all"
        )


def _add_chunk(
    scored: _Scored,
    models: Ensemble,
    chunks: Sequence[PreparedChunk],
    keep: np.ndarray,
    first: int,
    batch_size: int,
) -> None:
    from trainspec.data import IGNORE_INDEX, encode_labels

    if not keep.any():
        return
    run, chunk = models.run, chunks[0]
    scores = models.scores(chunks, batch_size)
    raw = _target(chunk, scores)
    if raw is None:
        raise InferenceError("the data's target does not line up with the predictions")
    kept = keep[scores.sample]
    if run.task == "classification":
        true = encode_labels(raw, run.transforms)
        kept &= true != IGNORE_INDEX
        assert scores.labels is not None
        scored.pred.append(scores.labels[kept])
        if scores.proba is not None:
            scored.proba.append(scores.proba[kept])
    else:
        true = raw.astype(np.float64)
        assert scores.values is not None
        scored.pred.append(np.asarray(scores.values)[kept])
    scored.true.append(true[kept])
    scored.samples.append(scores.sample[kept] + first)
    if chunk.groups is not None:
        scored.groups.append(np.asarray(chunk.groups).astype(str)[scores.sample[kept]])


def _check_labels(chunk: PreparedChunk, run: LoadedRun, data: Any) -> None:
    if chunk.target is None:
        target = run.job.data.target or "the target"
        raise InferenceError(
            f"{data} has no labels: {target!r} is not in it; evaluate needs labelled data "
            "(use 'trainspec predict' for unlabelled data)"
        )
    if chunk.target.ndim != 1:
        raise InferenceError(
            f"{data}: evaluate scores one target per sample or row; this target has shape "
            f"{chunk.target.shape}"
        )


def _check_by(by: str | None, names: Sequence[str], data: Any) -> None:
    if by is not None and by not in names:
        from trainspec.errors import closest

        near = closest(by, names)
        hint = f"; did you mean {near!r}?" if near else ""
        raise InferenceError(
            f"--by {by!r}: {data} has no such key{hint} (its keys: {', '.join(sorted(names))})"
        )


def _metrics_of(run: LoadedRun, true: Any, pred: Any, proba: Any) -> dict[str, float]:
    from trainspec.engine import resolve_metrics

    metrics = resolve_metrics(run.job.train.metrics, run.task, allow=run.allow_imports)
    return {m.name: m(true, pred, proba) for m in metrics}


def _confusion(run: LoadedRun, true: np.ndarray, pred: np.ndarray) -> list[list[int]]:
    k = len(run.class_names or []) or int(max(true.max(initial=0), pred.max(initial=0))) + 1
    matrix = np.zeros((k, k), dtype=np.int64)
    np.add.at(matrix, (true.astype(np.int64), pred.astype(np.int64)), 1)
    return [[int(v) for v in row] for row in matrix]


def _by_group(run: LoadedRun, scored: _Scored) -> dict[str, dict[str, Any]]:
    true, pred, proba = scored.cat("true"), scored.cat("pred"), scored.cat("proba")
    groups, samples = scored.cat("groups"), scored.cat("samples")
    assert true is not None and pred is not None and groups is not None and samples is not None
    out: dict[str, dict[str, Any]] = {}
    for name in sorted(set(groups.tolist())):
        at = groups == name
        part = None if proba is None else proba[at]
        out[name] = {
            "n": len(np.unique(samples[at])),
            "rows": int(at.sum()),
            "metrics": _metrics_of(run, true[at], pred[at], part),
        }
    return out


def evaluate_run(
    run: str | Path,
    data: str | Path | Any,
    *,
    split: str = "all",
    fold: int | None = None,
    by: str | None = None,
    splits_from: str | Path | None = None,
    checkpoint: str = "best",
    batch_size: int = 256,
    chunk_size: int = 10_000,
    allow_imports: Sequence[str] = (),
    ensemble: bool = False,
) -> Evaluation:
    """Score ``run`` on the labelled ``data`` (see the module docstring); ``ensemble`` scores
    the mean of every fold model of a cross-validated run (on ``all`` or the ``test`` split,
    which every fold shares)."""
    if ensemble and split in ("train", "val"):
        raise InferenceError(
            f"--split {split} with --ensemble: each fold has its own {split} split, so no "
            "sample is outside every fold model's training data; use --split test (the same "
            "in every fold) or --split all"
        )
    models = load_models(
        run, ensemble=ensemble, checkpoint=checkpoint, fold=fold, allow_imports=allow_imports
    )
    loaded = models.run
    if fold is not None:
        _check_fold(loaded.root, fold)
    plan_root = loaded.root if splits_from is None else resolve_run_dir(splits_from)[1]
    selection = select_split(split, plan_root, loaded.fold, data)
    meta = dict(loaded.transforms.info.get("meta") or {})
    scored, first = _Scored(), 0
    for table in iter_tables(data, loaded.job.data.source, chunk_size, meta):
        _check_by(by, table.names(), data)
        chunks = models.prepare(table, group=by, id_key=selection.id_key)
        _check_labels(chunks[0], loaded, data)
        keep = selection.keep(chunks[0], first)
        _add_chunk(scored, models, chunks, keep, first, batch_size)
        first += chunks[0].n_samples
    samples = scored.cat("samples")
    if samples is None or len(samples) == 0:
        where = f"split {split!r} of {plan_root}" if split != "all" else "the data"
        raise InferenceError(
            f"no labelled sample of {data} is in {where}: check that the file is the one that "
            "run was trained on (or holds its sample ids)"
        )
    true, pred = scored.cat("true"), scored.cat("pred")
    assert true is not None and pred is not None
    metrics = _metrics_of(loaded, true, pred, scored.cat("proba"))
    classification = loaded.task == "classification"
    return Evaluation(
        run=str(run),
        data=str(data),
        split=split,
        fold=None if ensemble else loaded.fold,
        checkpoint=loaded.checkpoint,
        n=len(np.unique(samples)),
        rows=len(samples),
        metrics=metrics,
        classes=loaded.class_names if classification else None,
        confusion=_confusion(loaded, true, pred) if classification else None,
        by=_by_group(loaded, scored) if by is not None else None,
        by_key=by,
        splits_from=None if splits_from is None else str(splits_from),
        ensemble=models.folds if ensemble else None,
    )
