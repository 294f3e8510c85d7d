"""``trainspec data inspect`` as tables: the data set, its splits, class balance or target
statistics, and each input's columns. ``--json`` prints the report itself."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from trainspec.cli._console import err, out, render_table

__all__ = ["render_inspection"]

_STATS = ("mean", "std", "min", "max")


def render_inspection(report: Mapping[str, Any]) -> None:
    """Every part of ``inspect_data``'s report, each as a table (warnings on stderr)."""
    render_table("data", ["field", "value"], _overview(report))
    if report.get("fingerprint"):
        out.print(f"fingerprint: {report['fingerprint']}", markup=False)
    splits = report.get("splits") or {}
    _render_splits(splits)
    if report.get("class_counts") is not None:
        _render_classes(report["class_counts"], splits.get("folds") or [])
    if report.get("target_stats") is not None:
        stats = report["target_stats"]
        row = [report.get("target") or "target", *(stats.get(k) for k in _STATS), stats["nan"]]
        render_table("target", ["target", *_STATS, "missing"], [row])
    _render_inputs(report.get("inputs") or {})
    for warning in report.get("warnings", []):
        err.print(f"[yellow]warning[/]: {warning}", markup=True, highlight=False)


def _overview(report: Mapping[str, Any]) -> list[list[Any]]:
    rows: list[list[Any]] = [["source", report.get("source")], ["task", report.get("task")]]
    if report.get("target") is not None:
        rows.append(["target", report["target"]])
    if report.get("num_classes") is not None:
        rows.append(["classes", report["num_classes"]])
    rows.append(["samples", report.get("n_samples")])
    if report.get("sequence"):
        lengths = report.get("sequence_length") or {}
        rows.append(["rows", report.get("n_rows")])
        rows.append(
            [
                "sequence length",
                f"{lengths.get('min')} to {lengths.get('max')} (mean {lengths.get('mean', 0):.1f})",
            ]
        )
    groups = report.get("groups")
    if groups:
        rows.append(
            [
                "groups",
                f"{groups['count']} ({groups['samples_min']} to {groups['samples_max']} "
                f"samples each, median {groups['samples_median']:g})",
            ]
        )
    return rows


def _render_splits(splits: Mapping[str, Any]) -> None:
    folds: list[dict[str, Any]] = splits.get("folds") or []
    if not folds:
        return
    many = len(folds) > 1
    extra = [k for k in ("rows", "groups") if any(k in s for f in folds for s in f.values())]
    total = sum(folds[0][name]["samples"] for name in folds[0])
    rows = []
    for k, fold in enumerate(folds):
        for name, split in fold.items():
            label = f"fold {k} {name}" if many else name
            share = split["samples"] / total if total else 0.0
            rows.append([label, split["samples"], f"{share:.0%}", *(split.get(e) for e in extra)])
    title = f"splits: {splits.get('method')}, seed {splits.get('seed')}"
    render_table(title, ["split", "samples", "share", *extra], rows)


def _render_classes(counts: Mapping[str, int], folds: list[dict[str, Any]]) -> None:
    """Counts per class, overall and, with one fold, per split (a stratification check)."""
    total = sum(counts.values())
    per_split = folds[0] if len(folds) == 1 else {}
    names = [n for n, s in per_split.items() if "class_counts" in s]
    rows = [
        [
            cls,
            n,
            f"{n / total:.1%}" if total else "",
            *(per_split[s]["class_counts"].get(cls) for s in names),
        ]
        for cls, n in counts.items()
    ]
    render_table("class balance", ["class", "samples", "share", *names], rows)


def _render_inputs(inputs: Mapping[str, Any]) -> None:
    if not inputs:
        return
    rows = []
    for name, info in inputs.items():
        summary = info.get("summary") or {}
        stats = [summary.get(k) for k in _STATS]
        n_columns = len(info.get("columns") or []) + info.get("columns_omitted", 0)
        rows.append(
            [name, str(tuple(info.get("shape", ()))), info.get("dtype"), n_columns or None, *stats]
        )
    columns = ["input", "shape", "dtype", "columns", *_STATS]
    used = [i for i in range(len(columns)) if i == 0 or any(r[i] is not None for r in rows)]
    render_table(
        "inputs",
        [columns[i] for i in used],
        [[r[i] for i in used] for r in rows],
        drop=["max", "min", "std"],
    )
    for name, info in inputs.items():
        if info.get("columns"):
            _render_columns(name, info["columns"], info.get("columns_omitted", 0))


def _render_columns(name: str, columns: list[dict[str, Any]], omitted: int) -> None:
    """Per column: numeric (mean, std, min, max) or categorical (unique values); missing."""
    categorical = any("categories" in c for c in columns)
    numeric = any("mean" in c for c in columns)
    header = ["column", "type", "missing", *(["unique"] if categorical else [])]
    header += list(_STATS) if numeric else []
    rows = []
    for c in columns:
        kind = "categorical" if "categories" in c else "numeric"
        row = [c["name"], kind, c.get("nan")]
        row += [c.get("categories")] if categorical else []
        row += [c.get(k) for k in _STATS] if numeric else []
        rows.append(row)
    render_table(f"input {name}: columns", header, rows, drop=["max", "min", "std", "type"])
    if omitted:
        out.print(f"... and {omitted} more column(s), not listed", markup=False)
