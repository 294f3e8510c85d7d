"""``prepare_data``: source -> roles -> signal transforms (cached) -> labels -> split plan.

Everything a user can get wrong is checked here, before any training: missing keys, NaNs,
wrong dtypes, empty splits, classes absent from a training split.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from trainspec.data._assemble import assemble
from trainspec.data._batch import BatchSource
from trainspec.data._cache import digest, load_cached, save_cached
from trainspec.data._fitted import Impute, _missing
from trainspec.data._labels import (
    IGNORE_INDEX,
    Labels,
    ResolvedTask,
    balance_weights,
    encode_target,
    resolve_task,
)
from trainspec.data._mapped import release_pages
from trainspec.data._pipeline import FittedTransforms, apply_signal
from trainspec.data._sources import SourceContext, content_hash, get_source
from trainspec.data._splits import SplitInput, SplitPlan, plan_splits
from trainspec.data._table import Assembled
from trainspec.data._transforms import Step, build_steps
from trainspec.errors import DataError
from trainspec.spec import DataSpec, WeightSpec

if TYPE_CHECKING:
    import torch

__all__ = ["FoldData", "Loaded", "PreparedData", "load_assembled", "prepare_data"]

log = logging.getLogger(__name__)
Task = Literal["auto", "classification", "regression"]


def input_names(spec: DataSpec) -> list[str]:
    return list(spec.inputs) if spec.inputs else ["x"]


@dataclass
class Loaded:
    data: Assembled
    labels: Labels
    steps: list[Step]
    fingerprint: str
    cache_hit: bool


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


def split_problems(plan: SplitPlan, data: Assembled, labels: Labels) -> tuple[list[str], list[str]]:
    """(errors, warnings): empty splits and classes absent from a training split are errors."""
    errors: list[str] = []
    warnings: list[str] = []
    names = labels.class_names or []
    for k, fold in enumerate(plan.folds):
        where = f"fold {k}" if len(plan.folds) > 1 else "the split"
        if "train" not in fold:
            errors.append(f"{where} has no 'train' split; it has {sorted(fold)}")
        for name, idx in fold.items():
            if len(idx) == 0:
                errors.append(
                    f"split {name!r} of {where} is empty ({plan.method}, {data.n_samples} "
                    "samples); change split.ratios or add data"
                )
        if labels.task != "classification":
            continue
        # A class named by the source but found nowhere in the data is not a split's fault.
        everywhere = np.bincount(labels.values[labels.values != IGNORE_INDEX], minlength=len(names))
        unused = [names[c] for c in np.nonzero(everywhere == 0)[0]]
        if unused and k == 0:
            warnings.append(f"class(es) {unused} are named by the source but have no sample")
        for name, idx in fold.items():
            codes = labels.values[data.rows_of(idx) if data.target_per_row() else idx]
            counts = np.bincount(codes[codes != IGNORE_INDEX], minlength=len(names))
            absent = [names[c] for c in np.nonzero(counts == 0)[0] if names[c] not in unused]
            if absent and name == "train" and len(idx):
                errors.append(
                    f"class(es) {absent} are absent from the training split of {where}; "
                    "use a stratified split, fewer folds, or drop those classes"
                )
            elif absent and len(idx):
                warnings.append(f"class(es) {absent} are absent from split {name!r} of {where}")
    return errors, warnings


@dataclass
class FoldData:
    """One fold: its splits' indices, transforms fitted on its training split, batch sources."""

    split_names: list[str]
    indices: dict[str, np.ndarray]
    transforms: FittedTransforms
    _make: Callable[[str, bool], BatchSource]
    _train_labels: np.ndarray | None = None
    num_classes: int | None = None

    def source(
        self, name: str, *, train: bool = False, device: torch.device | None = None
    ) -> BatchSource:
        """Split ``name``'s batches; with ``train`` augmented, on ``device`` (the training
        device) when given, so whole-batch augmentations run there."""
        if name not in self.indices:
            raise DataError(f"no split {name!r}; this fold has {', '.join(self.split_names)}")
        made = self._make(name, train)
        if train and device is not None and hasattr(made, "augment_device"):
            made.augment_device = device
        return made

    def class_weights(self, kind: str = "balanced") -> np.ndarray:
        """Per-class loss weights from the training split: n / (K * count), 'balanced'."""
        if kind != "balanced" or self._train_labels is None or not self.num_classes:
            raise DataError("class weights need a classification target and kind 'balanced'")
        labels = self._train_labels[self._train_labels != IGNORE_INDEX]
        counts = np.bincount(labels, minlength=self.num_classes).astype(np.float64)
        weights = len(labels) / (self.num_classes * np.maximum(counts, 1))
        return np.asarray(weights, dtype=np.float32)


@dataclass
class PreparedData:
    """What a job trains on: the task, labels, input shapes, fingerprint and split plan."""

    task: ResolvedTask
    num_classes: int | None
    class_names: list[str] | None
    input_shapes: dict[str, tuple[int | None, ...]]
    fingerprint: str
    n_samples: int
    splits: SplitPlan
    cache_hit: bool
    _build: Callable[[int], FoldData]
    _folds: dict[int, FoldData] = field(default_factory=dict)
    bad_files: list[dict[str, str]] = field(default_factory=list)  # left out (on_bad: skip)
    # Batch fields besides the inputs (mask, lengths, weight) -> shape without the batch axis;
    # None: not known (a user's Dataset).
    batch_fields: dict[str, tuple[int | None, ...]] | None = None
    _pending: list[Callable[[], None]] = field(default_factory=list)

    def commit_cache(self) -> None:
        """Write the cache entry that ``prepare_data(defer_cache=True)`` held back."""
        while self._pending:
            self._pending.pop(0)()

    def fold(self, k: int = 0) -> FoldData:
        if not 0 <= k < len(self.splits.folds):
            raise DataError(f"fold {k} does not exist; there are {len(self.splits.folds)}")
        if k not in self._folds:
            self._folds[k] = self._build(k)
        return self._folds[k]


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
        from trainspec.data._dataset import prepare_dataset

        prepared: PreparedData = prepare_dataset(spec, ctx, seed=seed, task=task)
        return prepared
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
    from trainspec.data._folds import fold_builder

    build = fold_builder(spec, loaded, plan, ctx.allow_imports)
    first = build(0)
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
    )
    prepared._folds[0] = first
    return prepared
