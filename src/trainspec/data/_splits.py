"""Split plans: which samples go to train / val / test in every fold. Seeded and exact.

The provider module of the ``split`` kind. A planner takes the split spec, what is known of the
samples (labels for stratifying, groups, an order key, predefined names) and a seeded NumPy
generator, and returns folds: ``[{split name: sorted sample indices}]``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from trainspec.data._files import resolve_path
from trainspec.data._labels import IGNORE_INDEX, Labels
from trainspec.data._table import Assembled
from trainspec.errors import DataError
from trainspec.registry import registry, resolve
from trainspec.spec import SplitSpec

__all__ = ["SplitInput", "SplitPlan", "plan_splits", "split_problems"]

Folds = list[dict[str, np.ndarray]]
Planner = Callable[[SplitSpec, "SplitInput", np.random.Generator], Folds]


@dataclass
class SplitInput:
    n: int
    labels: np.ndarray | None = None  # (N,) one class code per sample, for stratifying
    groups: np.ndarray | None = None  # (N,)
    order: np.ndarray | None = None  # (N,) time-ordering key
    names: np.ndarray | None = None  # (N,) predefined split names


@dataclass
class SplitPlan:
    """Every fold's split -> indices, plus what the run records in ``splits.json``."""

    method: str
    seed: int
    n_samples: int
    folds: Folds
    ids: np.ndarray | None = None
    groups: np.ndarray | None = None

    @property
    def split_names(self) -> list[str]:
        return list(self.folds[0])

    def refit_split(self) -> dict[str, np.ndarray]:
        """Every sample outside the test split as ``train``, plus ``test`` when there is one
        (the same in every fold): fold 0's splits joined, sorted."""
        first = self.folds[0]
        rest = [v for k, v in first.items() if k != "test"]
        out = {"train": np.unique(np.concatenate(rest)).astype(np.int64)}
        if "test" in first:
            out["test"] = np.asarray(first["test"], dtype=np.int64)
        return out

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "method": self.method,
            "seed": self.seed,
            "n_samples": self.n_samples,
            "folds": [{k: v.tolist() for k, v in fold.items()} for fold in self.folds],
        }
        if self.ids is not None:
            out["ids"] = self.ids.tolist()
        if self.groups is not None:
            out["groups"] = self.groups.tolist()
        return out


def _cuts(n: int, ratios: dict[str, float]) -> list[tuple[str, int, int]]:
    """(name, start, end) positions of each split when ``n`` ordered items are cut by ratio."""
    bounds = np.rint(np.cumsum([0.0, *ratios.values()]) * n).astype(int)
    bounds[-1] = n
    return [(name, int(bounds[i]), int(bounds[i + 1])) for i, name in enumerate(ratios)]


def _cut(items: np.ndarray, ratios: dict[str, float]) -> dict[str, np.ndarray]:
    return {name: items[a:b] for name, a, b in _cuts(len(items), ratios)}


def _sorted(split: dict[str, list[np.ndarray]] | dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    out = {}
    for name, parts in split.items():
        joined = np.concatenate(parts) if isinstance(parts, list) else parts
        out[name] = np.sort(np.asarray(joined, dtype=np.int64))
    return out


@registry.register("split", "holdout")
def holdout(spec: SplitSpec, info: SplitInput, rng: np.random.Generator) -> Folds:
    return [_sorted(_cut(rng.permutation(info.n), spec.ratios))]


def _stratified(
    ratios: dict[str, float], labels: np.ndarray, rng: np.random.Generator, pool: np.ndarray
) -> dict[str, np.ndarray]:
    # Cut each class by the same ratios, so each split's count of a class is within one of
    # its share.
    parts: dict[str, list[np.ndarray]] = {name: [] for name in ratios}
    for cls in np.unique(labels[pool]):
        members = rng.permutation(pool[labels[pool] == cls])
        for name, idx in _cut(members, ratios).items():
            parts[name].append(idx)
    return _sorted(parts)


def _need_labels(info: SplitInput, method: str) -> np.ndarray:
    if info.labels is None:
        raise DataError(
            f"split.method {method!r} needs one class label per sample; this data has none "
            "(a regression target, or labels per sequence step); use 'holdout' or 'group'"
        )
    return info.labels


@registry.register("split", "stratified")
def stratified(spec: SplitSpec, info: SplitInput, rng: np.random.Generator) -> Folds:
    labels = _need_labels(info, "stratified")
    return [_stratified(spec.ratios, labels, rng, np.arange(info.n))]


def _need_groups(info: SplitInput, method: str) -> np.ndarray:
    if info.groups is None:
        raise DataError(f"split.method {method!r} needs data.group to name the group key")
    return info.groups


def _group_holdout(
    ratios: dict[str, float], groups: np.ndarray, rng: np.random.Generator, pool: np.ndarray
) -> dict[str, np.ndarray]:
    uniques, inverse, counts = np.unique(groups[pool], return_inverse=True, return_counts=True)
    order = rng.permutation(len(uniques))
    ends = np.cumsum(counts[order])
    middles = (ends - counts[order] / 2) / max(len(pool), 1)
    bounds = np.cumsum(list(ratios.values()))
    which = np.minimum(np.searchsorted(bounds, middles), len(ratios) - 1)
    assigned = np.empty(len(uniques), dtype=np.int64)
    assigned[order] = which
    names = list(ratios)
    return _sorted({names[s]: pool[assigned[inverse] == s] for s in range(len(names))})


@registry.register("split", "group")
def group(spec: SplitSpec, info: SplitInput, rng: np.random.Generator) -> Folds:
    groups = _need_groups(info, "group")
    return [_group_holdout(spec.ratios, groups, rng, np.arange(info.n))]


@registry.register("split", "time")
def time(spec: SplitSpec, info: SplitInput, rng: np.random.Generator) -> Folds:
    order = np.arange(info.n) if info.order is None else np.argsort(info.order, kind="stable")
    return [_sorted(_cut(order, spec.ratios))]


def _test_holdout(
    spec: SplitSpec, info: SplitInput, rng: np.random.Generator, family: str
) -> tuple[np.ndarray, np.ndarray | None]:
    pool = np.arange(info.n)
    if "test" not in spec.ratios:
        return pool, None
    share = {"rest": 1.0 - spec.ratios["test"], "test": spec.ratios["test"]}
    if family == "group":
        cut = _group_holdout(share, _need_groups(info, spec.method), rng, pool)
    elif family == "stratified":
        cut = _stratified(share, _need_labels(info, spec.method), rng, pool)
    else:
        cut = _sorted(_cut(rng.permutation(info.n), share))
    return cut["rest"], cut["test"]


def _kfold_folds(rest: np.ndarray, test: np.ndarray | None, assign: np.ndarray, k: int) -> Folds:
    """Fold f validates on the pool items assigned to f and trains on the others."""
    folds = []
    for f in range(k):
        fold = {"train": np.sort(rest[assign != f]), "val": np.sort(rest[assign == f])}
        if test is not None:
            fold["test"] = test
        folds.append(fold)
    return folds


@registry.register("split", "kfold")
def kfold(spec: SplitSpec, info: SplitInput, rng: np.random.Generator) -> Folds:
    k = int(spec.folds or 5)
    rest, test = _test_holdout(spec, info, rng, "random")
    assign = np.empty(len(rest), dtype=np.int64)
    assign[rng.permutation(len(rest))] = np.arange(len(rest)) % k
    return _kfold_folds(rest, test, assign, k)


@registry.register("split", "stratified_kfold")
def stratified_kfold(spec: SplitSpec, info: SplitInput, rng: np.random.Generator) -> Folds:
    k = int(spec.folds or 5)
    labels = _need_labels(info, spec.method)
    rest, test = _test_holdout(spec, info, rng, "stratified")
    assign = np.empty(len(rest), dtype=np.int64)
    offset = 0
    for cls in np.unique(labels[rest]):
        members = np.nonzero(labels[rest] == cls)[0]
        # Deal each class round-robin, continuing where the last class stopped, so fold sizes
        # stay within one of each other.
        assign[rng.permutation(members)] = (np.arange(len(members)) + offset) % k
        offset += len(members)
    return _kfold_folds(rest, test, assign, k)


@registry.register("split", "group_kfold")
def group_kfold(spec: SplitSpec, info: SplitInput, rng: np.random.Generator) -> Folds:
    k = int(spec.folds or 5)
    groups = _need_groups(info, spec.method)
    rest, test = _test_holdout(spec, info, rng, "group")
    uniques, inverse, counts = np.unique(groups[rest], return_inverse=True, return_counts=True)
    if len(uniques) < k:
        raise DataError(
            f"split: group_kfold with {k} folds needs at least {k} groups; there are {len(uniques)}"
        )
    # Largest groups first (seeded tie order), each to the fold with fewest samples so far.
    shuffled = rng.permutation(len(uniques))
    order = shuffled[np.argsort(-counts[shuffled], kind="stable")]
    sizes = np.zeros(k, dtype=np.int64)
    fold_of = np.empty(len(uniques), dtype=np.int64)
    for g in order:
        f = int(np.argmin(sizes))
        fold_of[g] = f
        sizes[f] += counts[g]
    return _kfold_folds(rest, test, fold_of[inverse], k)


@registry.register("split", "predefined")
def predefined(spec: SplitSpec, info: SplitInput, rng: np.random.Generator) -> Folds:
    if spec.file is not None:
        return _from_file(spec.file, info.n)
    assert info.names is not None
    names = [str(v) for v in np.unique(info.names.astype(str))]
    names.sort(key=lambda s: (s != "train", s))
    text = info.names.astype(str)
    return [{name: np.nonzero(text == name)[0].astype(np.int64) for name in names}]


def _from_file(path: str, n: int) -> Folds:
    file = resolve_path(path, "split.file")
    try:
        loaded = json.loads(Path(file).read_text())
    except json.JSONDecodeError as exc:
        raise DataError(f"split.file {path!r} is not valid JSON: {exc}") from exc
    raw = loaded if isinstance(loaded, list) else [loaded]
    folds: Folds = []
    for i, fold in enumerate(raw):
        if not isinstance(fold, dict) or not all(isinstance(v, list) for v in fold.values()):
            raise DataError(f"split.file {path!r}: fold {i} must map split names to index lists")
        out = {str(k): np.sort(np.asarray(v, dtype=np.int64)) for k, v in fold.items()}
        every = np.concatenate(list(out.values())) if out else np.zeros(0, dtype=np.int64)
        if every.size and (every.min() < 0 or every.max() >= n):
            raise DataError(f"split.file {path!r}: fold {i} has indices outside 0..{n - 1}")
        if len(np.unique(every)) != len(every):
            raise DataError(f"split.file {path!r}: fold {i} puts a sample in two splits")
        folds.append(out)
    return folds


def plan_splits(spec: SplitSpec, info: SplitInput, seed: int) -> SplitPlan:
    method = spec.method
    if "method" not in spec.model_fields_set:  # the default depends on the data
        method = "group" if info.groups is not None else "stratified"
    if method == "stratified" and info.labels is None:
        method = "holdout"
    planner: Planner = resolve("split", method, ("data", "split", "method"))
    used_seed = spec.seed if spec.seed is not None else seed
    folds = planner(spec, info, np.random.default_rng(used_seed))
    return SplitPlan(method, used_seed, info.n, folds, groups=info.groups)


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
