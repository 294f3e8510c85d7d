"""``prepare_data``: source -> roles -> signal transforms (cached) -> labels -> split plan.

Everything a user can get wrong is checked here, before any training: missing keys, NaNs,
wrong dtypes, empty splits, classes absent from a training split.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from trainspec.data._assemble import assemble
from trainspec.data._cache import digest, load_cached, save_cached
from trainspec.data._dataset import prepare_dataset
from trainspec.data._example import input_example
from trainspec.data._fitted import Impute, _missing
from trainspec.data._folds import fold_builder
from trainspec.data._labels import (
    Labels,
    balance_weights,
    encode_target,
    resolve_task,
)
from trainspec.data._mapped import release_pages
from trainspec.data._pipeline import apply_signal
from trainspec.data._sources import SourceContext, content_hash, get_source
from trainspec.data._splits import SplitInput, plan_splits, split_problems
from trainspec.data._table import Assembled
from trainspec.data._transforms import Step, build_steps
from trainspec.data._types import Loaded, PreparedData, input_names
from trainspec.errors import DataError
from trainspec.spec import DataSpec, WeightSpec

if TYPE_CHECKING:
    pass

__all__ = ["load_assembled", "prepare_data"]

log = logging.getLogger(__name__)
Task = Literal["auto", "classification", "regression"]


def load_assembled(
    spec: DataSpec,
    ctx: SourceContext,
    steps: Sequence[Step],
    cache_dir: Path | None,
    pending: list[Callable[[], None]] | None = None,
) -> tuple[Assembled, str, bool]:
    """Assembled, signal-transformed data, from the cache when its fingerprint matches.

    With ``pending``, a new cache entry is not written but its writer appended there, to be
    run once every check has passed."""
    content = content_hash(spec.source, ctx)
    roles = spec.model_dump(
        mode="json", include={"features", "inputs", "target", "group", "weight", "id"}
    )
    signal = [s.spec.model_dump(mode="json") for s in steps if s.stage == "signal"]
    key = digest("assembled", content, roles, spec.split.column, signal, spec.on_bad)
    every = [s.model_dump(mode="json") for s in spec.transforms]
    fingerprint = digest("data", content, roles, spec.ignore_labels, every)
    use_cache = cache_dir is not None and spec.cache
    if use_cache:
        assert cache_dir is not None
        cached = load_cached(Path(cache_dir), key)
        if cached is not None:
            log.info("data cache hit %s", key[:12])
            return cached, fingerprint, True
    table = get_source(spec.source.type).load(spec.source, ctx)
    data = apply_signal(steps, assemble(spec, table))
    # Memory-mapped inputs are read from their file (or the decoded-image cache) in place.
    if use_cache and not any(x.is_mapped for x in data.inputs.values()):
        assert cache_dir is not None
        directory = Path(cache_dir)
        if pending is None:
            save_cached(directory, key, data)
        else:
            pending.append(lambda: save_cached(directory, key, data))
    return data, fingerprint, False


def load(
    spec: DataSpec,
    ctx: SourceContext,
    task: str,
    cache_dir: Path | None,
    pending: list[Callable[[], None]] | None = None,
) -> Loaded:
    steps = build_steps(spec.transforms, input_names(spec), ctx.allow_imports)
    data, fingerprint, hit = load_assembled(spec, ctx, steps, cache_dir, pending)
    if data.target is None:
        raise DataError(
            "data.target is not set and the source has no default target; name the target key "
            "(a column, array or record dataset)"
        )
    # A source may name its own "unscored" value (the edf source's -100 for unscored epochs).
    ignore = [*spec.ignore_labels, *data.meta.get("ignore_labels", [])]
    resolved = resolve_task(data.target, task, ignore)
    labels = encode_target(data, resolved, ignore)
    if isinstance(spec.weight, WeightSpec) and spec.weight.balance:
        data.weights = balance_weights(data, labels, spec.weight.balance)
    return Loaded(data, labels, list(steps), fingerprint, hit)


def split_input(spec: DataSpec, data: Assembled, labels: Labels) -> SplitInput:
    per_sample = labels.task == "classification" and not data.target_per_row()
    extra = data.extra.get("split.column")
    return SplitInput(
        n=data.n_samples,
        labels=labels.values if per_sample else None,
        groups=data.groups,
        order=extra if spec.split.method == "time" else None,
        names=extra if spec.split.method == "predefined" else None,
    )


def _covered(name: str, steps: Sequence[Step]) -> set[str] | None:
    """Columns of input ``name`` an impute step fills (None: all of them)."""
    covered: set[str] | None = set()
    for s in steps:
        if isinstance(s.template, Impute) and name in s.inputs:
            cols = s.template.columns
            covered = None if cols is None or covered is None else covered | set(cols)
    return covered


def _listed(bad: np.ndarray, columns: Sequence[str] | None, skip: set[str] | None) -> str | None:
    """``'a' (3 rows), 'b' (1 rows); 4 rows in all`` for the columns hit, None when none is."""
    if columns is not None and bad.shape[1] == len(columns):
        per_col = bad.sum(axis=0)
        hit = [(c, int(n)) for c, n in zip(columns, per_col, strict=True) if n]
        hit = [(c, n) for c, n in hit if skip is None or c not in skip]
        if not hit:
            return None
        rows = int(bad[:, [list(columns).index(c) for c, _ in hit]].any(axis=1).sum())
        return ", ".join(f"{c!r} ({n} rows)" for c, n in hit) + f"; {rows} rows in all"
    if skip is None or not bad.any():
        return None
    return f"{int(bad.any(axis=1).sum())} rows"


def nan_problems(data: Assembled, steps: Sequence[Step]) -> list[str]:
    """Non-finite inputs that would reach the model: NaN that no impute step covers, and
    infinities anywhere (imputation does not replace them), naming the columns and rows."""
    problems = []
    for name, x in data.inputs.items():
        covered = _covered(name, steps)
        role = "data.features" if name == "x" else f"data.inputs.{name}"
        values = x.values
        if x.is_mapped:
            problems += _mapped_nan_problems(name, values, check_nan=covered is not None)
            continue
        if values.dtype.kind == "O":
            if covered is None:
                continue
            nan = np.stack([_missing(values[:, j]) for j in range(values.shape[1])], axis=1)
            inf = np.zeros_like(nan)
        elif values.dtype.kind == "f":
            flat = values.reshape(len(values), -1)
            nan, inf = np.isnan(flat), np.isinf(flat)
        else:
            continue
        columns = x.columns if values.ndim == 2 else None
        where = _listed(nan, columns, set() if covered is None else covered)
        if covered is not None and where is not None and nan.any():
            what = where if columns is not None else f"input {name!r} ({where})"
            problems.append(
                f"{role}: NaN in {what}. Add a transform {{type: impute, strategy: median}} "
                "or clean the source"
            )
        where = _listed(inf, columns, set()) if inf.any() else None
        if where is not None:
            what = where if columns is not None else f"input {name!r} ({where})"
            problems.append(
                f"{role}: infinite values in {what}; imputation does not replace them: clean "
                "or clip the source"
            )
    return problems


def _mapped_nan_problems(name: str, values: np.ndarray, *, check_nan: bool = True) -> list[str]:
    """Non-finite rows of a memory-mapped input, counted block by block (never read whole)."""
    if values.dtype.kind != "f" or not len(values):
        return []
    step = max(1, (16 << 20) // max(values[0].nbytes, 1))  # about 16 MB per block
    rows = 0
    for start in range(0, len(values), step):
        block = np.asarray(values[start : start + step]).reshape(-1, *values.shape[1:])
        flat = block.reshape(len(block), -1)
        bad = ~np.isfinite(flat) if check_nan else np.isinf(flat)
        rows += int(bad.any(axis=1).sum())
        release_pages(values)
    if not rows:
        return []
    role = "data.features" if name == "x" else f"data.inputs.{name}"
    what = "NaN or infinite values" if check_nan else "infinite values"
    return [f"{role}: {what} in {rows} rows of a memory-mapped array; clean the source file"]


def _batch_fields(data: Assembled) -> dict[str, tuple[int | None, ...]]:
    fields: dict[str, tuple[int | None, ...]] = {}
    if data.offsets is not None:
        fields.update(mask=(None,), lengths=())
    if data.weights is not None:
        fields["weight"] = (None,) if data.has_row_weights else ()
    return fields


def prepare_data(
    spec: DataSpec,
    *,
    seed: int,
    task: Task = "auto",
    allow_imports: Sequence[str] = (),
    cache_dir: Path | None = None,
    arrays: tuple[Any, Any] | None = None,
    defer_cache: bool = False,
) -> PreparedData:
    """Load, check and split the data; fit fold 0's transforms (so shapes are known).

    ``defer_cache`` writes no cache entry until ``PreparedData.commit_cache()``: a run checks
    its model against the data before anything is written."""
    ctx = SourceContext(
        tuple(allow_imports),
        arrays,
        cache_dir=Path(cache_dir) if cache_dir is not None and spec.cache else None,
        on_bad=spec.on_bad,
        workers=spec.loader.num_workers,
    )
    if spec.source.type == "dataset":
        return prepare_dataset(spec, ctx, seed=seed, task=task)
    pending: list[Callable[[], None]] | None = [] if defer_cache else None
    loaded = load(spec, ctx, task, cache_dir, pending)
    data, labels = loaded.data, loaded.labels
    bad_files = list(data.meta.pop("bad_files", []))
    problems = nan_problems(data, loaded.steps)
    plan = plan_splits(spec.split, split_input(spec, data, labels), seed)
    plan.ids = data.ids
    errors, _ = split_problems(plan, data, labels)
    if problems or errors:
        raise DataError("\n".join(["the data cannot be used as configured:", *problems, *errors]))
    build = fold_builder(spec, loaded, ctx.allow_imports)
    first = build(plan.folds[0], "fold 0")
    shapes = first.transforms.info["input_shapes"]
    prepared = PreparedData(
        task=labels.task,
        num_classes=labels.num_classes,
        class_names=labels.class_names,
        input_shapes={k: tuple(v) for k, v in shapes.items()},
        fingerprint=loaded.fingerprint,
        n_samples=data.n_samples,
        splits=plan,
        cache_hit=loaded.cache_hit,
        _build=build,
        bad_files=bad_files,
        batch_fields=_batch_fields(data),
        _pending=pending or [],
        example=input_example(data, plan.folds[0].get("train", np.arange(0))),
    )
    prepared._folds[0] = first
    return prepared
