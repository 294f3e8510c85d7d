"""``inspect_data``: what ``trainspec data inspect`` shows, as a JSON-able dict.

Problems that stop ``prepare_data`` (NaNs, empty splits, classes absent from training) are
listed here as warnings instead, so one look shows all of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from trainspec.data._fitted import _missing, numeric_columns
from trainspec.data._labels import IGNORE_INDEX, Labels
from trainspec.data._prepare import Task, load, nan_problems, split_input
from trainspec.data._sources import SourceContext
from trainspec.data._splits import SplitPlan, plan_splits, split_problems
from trainspec.data._table import Assembled, InputArray
from trainspec.spec import DataSpec

__all__ = ["inspect_data"]

_MAX_COLUMNS = 50


def _num(v: float) -> float | None:
    return float(v) if np.isfinite(v) else None


def _stats(values: np.ndarray) -> dict[str, Any]:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return {"mean": None, "std": None, "min": None, "max": None, "nan": int(values.size)}
    return {
        "mean": _num(finite.mean()),
        "std": _num(finite.std()),
        "min": _num(finite.min()),
        "max": _num(finite.max()),
        "nan": int(values.size - finite.size),
    }


def _input_report(name: str, x: InputArray, warnings: list[str]) -> dict[str, Any]:
    report: dict[str, Any] = {"shape": list(x.values.shape[1:]), "dtype": str(x.values.dtype)}
    if x.values.ndim != 2:
        report["summary"] = _stats(np.asarray(x.values, dtype=np.float64).ravel())
        return report
    names = x.columns or [str(j) for j in range(x.values.shape[1])]
    numeric = set(numeric_columns(x.values))
    columns, constant = [], []
    for j, col_name in enumerate(names):
        col = x.values[:, j]
        if j in numeric:
            entry = {"name": col_name, **_stats(col.astype(np.float64))}
            if entry["std"] == 0.0:
                constant.append(col_name)
        else:
            present = col[~_missing(col)].astype(str)
            uniques = np.unique(present)
            entry = {
                "name": col_name,
                "categories": len(uniques),
                "nan": int(len(col) - len(present)),
            }
            if len(uniques) <= 1:
                constant.append(col_name)
        columns.append(entry)
    report["columns"] = columns[:_MAX_COLUMNS]
    if len(columns) > _MAX_COLUMNS:
        report["columns_omitted"] = len(columns) - _MAX_COLUMNS
    if constant:
        shown = ", ".join(repr(c) for c in constant[:10]) + (" ..." if len(constant) > 10 else "")
        warnings.append(f"input {name!r}: {len(constant)} constant column(s): {shown}")
    return report


def _class_counts(codes: np.ndarray, names: list[str]) -> dict[str, int]:
    counts = np.bincount(codes[codes != IGNORE_INDEX], minlength=len(names))
    return {n: int(c) for n, c in zip(names, counts, strict=True)}


def _split_report(plan: SplitPlan, data: Assembled, labels: Labels) -> list[dict[str, Any]]:
    folds = []
    for fold in plan.folds:
        entry: dict[str, Any] = {}
        for name, idx in fold.items():
            rows = data.rows_of(idx)
            split: dict[str, Any] = {"samples": len(idx)}
            if data.is_sequence:
                split["rows"] = len(rows)
            if data.groups is not None:
                split["groups"] = len(np.unique(data.groups[idx]))
            if labels.class_names is not None:
                codes = labels.values[rows if data.target_per_row() else idx]
                split["class_counts"] = _class_counts(codes, labels.class_names)
            entry[name] = split
        folds.append(entry)
    return folds


def inspect_data(
    spec: DataSpec,
    *,
    seed: int,
    task: Task = "auto",
    allow_imports: Sequence[str] = (),
    arrays: tuple[Any, Any] | None = None,
    cache_dir: Path | None = None,
) -> dict[str, Any]:
    """Sizes per split and fold, class balance, group counts, feature statistics, warnings."""
    ctx = SourceContext(tuple(allow_imports), arrays)
    if spec.source.type == "dataset":
        return _inspect_dataset(spec, ctx, seed=seed, task=task)
    loaded = load(spec, ctx, task, cache_dir)
    data, labels = loaded.data, loaded.labels
    warnings = nan_problems(data, loaded.steps)
    plan = plan_splits(spec.split, split_input(spec, data, labels), seed)
    errors, split_warnings = split_problems(plan, data, labels)
    warnings += errors + split_warnings
    if any(s.name == "window" for s in loaded.steps) and plan.method not in (
        "group",
        "group_kfold",
        "predefined",
        "time",
    ):
        warnings.append(
            "windows of one sample may land in different splits; set data.group "
            "and a group split to keep them together"
        )
    report: dict[str, Any] = {
        "source": spec.source.type,
        "fingerprint": loaded.fingerprint,
        "task": labels.task,
        "target": data.target_name,
        "n_samples": data.n_samples,
        "sequence": data.is_sequence,
    }
    if data.is_sequence:
        lengths = np.diff(data.offsets) if data.offsets is not None else np.zeros(0)
        report["n_rows"] = data.n_rows
        report["sequence_length"] = {
            "min": int(lengths.min()),
            "max": int(lengths.max()),
            "mean": float(lengths.mean()),
        }
    if labels.class_names is not None:
        report["num_classes"] = labels.num_classes
        report["class_counts"] = _class_counts(labels.values, labels.class_names)
    else:
        report["target_stats"] = _stats(labels.values.astype(np.float64).ravel())
    if data.groups is not None:
        _, per_group = np.unique(data.groups, return_counts=True)
        report["groups"] = {
            "count": len(per_group),
            "samples_min": int(per_group.min()),
            "samples_median": float(np.median(per_group)),
            "samples_max": int(per_group.max()),
        }
    report["inputs"] = {n: _input_report(n, x, warnings) for n, x in data.inputs.items()}
    report["splits"] = {
        "method": plan.method,
        "seed": plan.seed,
        "folds": _split_report(plan, data, labels),
    }
    report["warnings"] = warnings
    return report


def _inspect_dataset(spec: DataSpec, ctx: SourceContext, *, seed: int, task: str) -> dict[str, Any]:
    from trainspec.data._dataset import _labels, _shapes, load_dataset
    from trainspec.data._splits import SplitInput

    info = load_dataset(spec, ctx)
    labels = _labels(info, task)
    n = len(info.targets)
    per_sample = labels.task == "classification" and labels.values.ndim == 1
    plan = plan_splits(
        spec.split, SplitInput(n, labels.values if per_sample else None, info.groups), seed
    )
    stub = Assembled(inputs={}, n_samples=n, groups=info.groups)
    errors, warns = split_problems(plan, stub, labels)
    report: dict[str, Any] = {
        "source": "dataset",
        "task": labels.task,
        "n_samples": n,
        "inputs": {k: {"shape": list(v)} for k, v in _shapes(info.first).items()},
        "splits": {
            "method": plan.method,
            "seed": plan.seed,
            "folds": _split_report(plan, stub, labels),
        },
        "warnings": errors + warns,
    }
    if labels.class_names is not None:
        report["num_classes"] = labels.num_classes
        report["class_counts"] = _class_counts(labels.values, labels.class_names)
    return report
