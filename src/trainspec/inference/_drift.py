"""Per-feature data drift: population stability index (PSI) and the Kolmogorov-Smirnov
statistic of new data against a reference of the training inputs.

Features are taken from the model-ready inputs, one value per row (per epoch of a record):
each column of an input with at most ``MAX_COLUMNS`` values per row, else the row's mean and
standard deviation (an ECG epoch of 3,840 samples gives two features). Both statistics are
unchanged by the per-feature monotone maps of the fitted transforms (standardize, minmax), so
they read the same as on the raw columns.

The reference keeps, per feature, its decile edges with the training share in each bin (for
PSI) and a sorted sample of up to ``SAMPLE_SIZE`` training values (for KS). New data is
accumulated bin counts and counts at the sample's points, so it may stream chunk by chunk.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from trainspec.inference._run import InferenceError

__all__ = [
    "DEFAULT_KS",
    "DEFAULT_PSI",
    "DriftAccumulator",
    "DriftReport",
    "FeatureDrift",
    "Reference",
    "feature_matrix",
    "ks_statistic",
    "psi",
]

MAX_COLUMNS = 256
SAMPLE_SIZE = 5_000
BINS = 10
EPS = 1e-4  # floor on bin shares, so an empty bin gives a large but finite PSI
DEFAULT_PSI = 0.2  # the usual reading: < 0.1 stable, 0.1-0.2 moderate, > 0.2 shifted
DEFAULT_KS = 0.2
_JSON = "reference.json"
_ARRAYS = "reference.safetensors"


def _columns_of(name: str, width: int, columns: Sequence[str] | None) -> list[str]:
    if columns is not None and len(columns) == width:
        return [str(c) if name == "x" else f"{name}.{c}" for c in columns]
    return [f"{name}[{j}]" for j in range(width)]


def feature_matrix(
    inputs: Mapping[str, np.ndarray],
    *,
    columns: Mapping[str, Sequence[str] | None] | None = None,
    mask: np.ndarray | None = None,
) -> tuple[np.ndarray, list[str]]:
    """``(values (R, F) float64, names)`` from model-ready inputs with rows first.

    Batches of records (B, T, ...) pass ``mask`` (B, T): only the real rows count.
    """
    parts, names = [], []
    for name, x in inputs.items():
        rows = np.asarray(x)
        if mask is not None:
            rows = rows[np.asarray(mask, dtype=bool)]
        flat = rows.reshape(len(rows), -1).astype(np.float64)
        if flat.shape[1] <= MAX_COLUMNS and rows.ndim <= 2:
            parts.append(flat)
            names += _columns_of(name, flat.shape[1], (columns or {}).get(name))
        else:
            parts.append(np.stack([flat.mean(axis=1), flat.std(axis=1)], axis=1))
            names += [f"{name}.mean", f"{name}.std"]
    if not parts:
        return np.zeros((0, 0)), []
    return np.concatenate(parts, axis=1), names


def psi(expected: ArrayLike, actual: ArrayLike) -> float:
    """Population stability index of two share vectors over the same bins."""
    e = np.clip(np.asarray(expected, dtype=np.float64), EPS, None)
    a = np.clip(np.asarray(actual, dtype=np.float64), EPS, None)
    e, a = e / e.sum(), a / a.sum()
    return float(np.sum((a - e) * np.log(a / e)))


def ks_statistic(reference: ArrayLike, values: ArrayLike) -> float:
    """Two-sample Kolmogorov-Smirnov statistic: the largest gap between the two ECDFs."""
    ref = np.sort(np.asarray(reference, dtype=np.float64))
    new = np.sort(np.asarray(values, dtype=np.float64))
    if len(ref) == 0 or len(new) == 0:
        return float("nan")
    grid = np.concatenate([ref, new])
    f_ref = np.searchsorted(ref, grid, side="right") / len(ref)
    f_new = np.searchsorted(new, grid, side="right") / len(new)
    return float(np.max(np.abs(f_ref - f_new)))


@dataclass
class Reference:
    """Training-input reference: per feature, bin edges and shares, and a sorted sample."""

    names: list[str]
    edges: list[np.ndarray]  # inner bin edges per feature (bins: (-inf, e0], (e0, e1], ...]
    shares: list[np.ndarray]  # training share of each bin
    samples: np.ndarray  # (S, F) sorted per column
    n_rows: int
    info: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_values(
        cls, values: np.ndarray, names: Sequence[str], *, seed: int = 0, **info: Any
    ) -> Reference:
        values = np.asarray(values, dtype=np.float64)
        if values.ndim != 2 or values.shape[1] != len(names):
            raise InferenceError(f"reference values {values.shape} do not match {len(names)} names")
        if len(values) == 0:
            raise InferenceError("cannot build a drift reference from no rows")
        if len(values) > SAMPLE_SIZE:
            pick = np.random.default_rng(seed).choice(len(values), SAMPLE_SIZE, replace=False)
            sample = values[np.sort(pick)]
        else:
            sample = values
        edges, shares = [], []
        for j in range(values.shape[1]):
            col = values[:, j][np.isfinite(values[:, j])]
            inner = (
                np.unique(np.quantile(col, np.linspace(0, 1, BINS + 1)[1:-1]))
                if len(col)
                else np.zeros(0)
            )
            counts = np.bincount(np.searchsorted(inner, col, side="left"), minlength=len(inner) + 1)
            edges.append(inner)
            shares.append(counts / max(counts.sum(), 1))
        return cls(list(names), edges, shares, np.sort(sample, axis=0), len(values), dict(info))

    def save(self, directory: Path) -> None:
        from safetensors.numpy import save_file

        directory.mkdir(parents=True, exist_ok=True)
        arrays = {"samples": np.ascontiguousarray(self.samples)}
        for j, (e, s) in enumerate(zip(self.edges, self.shares, strict=True)):
            arrays[f"edges.{j}"] = e if e.size else np.full(1, np.nan)
            arrays[f"shares.{j}"] = s
        save_file(arrays, str(directory / _ARRAYS))
        doc = {"format": 1, "names": self.names, "n_rows": self.n_rows, "info": self.info}
        (directory / _JSON).write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, directory: Path) -> Reference:
        from safetensors.numpy import load_file

        path = directory / _JSON
        if not path.is_file():
            raise InferenceError(f"{directory} holds no drift reference ({_JSON} is missing)")
        doc = json.loads(path.read_text(encoding="utf-8"))
        arrays = load_file(str(directory / _ARRAYS))
        n = len(doc["names"])
        edges = [arrays[f"edges.{j}"] for j in range(n)]
        edges = [np.zeros(0) if e.size == 1 and np.isnan(e[0]) else e for e in edges]
        shares = [arrays[f"shares.{j}"] for j in range(n)]
        return cls(doc["names"], edges, shares, arrays["samples"], int(doc["n_rows"]), doc["info"])


@dataclass
class FeatureDrift:
    feature: str
    psi: float
    ks: float
    drifted: bool


@dataclass
class DriftReport:
    features: list[FeatureDrift]
    n_rows: int
    psi_threshold: float
    ks_threshold: float

    @property
    def drifted(self) -> list[str]:
        return [f.feature for f in self.features if f.drifted]

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_rows": self.n_rows,
            "psi_threshold": self.psi_threshold,
            "ks_threshold": self.ks_threshold,
            "drifted": self.drifted,
            "features": [vars(f) for f in self.features],
        }


class DriftAccumulator:
    """New-data counts against a reference, updated chunk by chunk."""

    def __init__(self, reference: Reference) -> None:
        self.ref = reference
        f = len(reference.names)
        self.bins = [np.zeros(len(e) + 1, dtype=np.int64) for e in reference.edges]
        s = len(reference.samples)
        self.at_most = np.zeros((s, f), dtype=np.int64)  # new values <= each sample point
        self.below = np.zeros((s, f), dtype=np.int64)  # new values < each sample point
        self.n = np.zeros(f, dtype=np.int64)

    def update(self, values: np.ndarray, names: Sequence[str]) -> None:
        if list(names) != self.ref.names:
            extra = sorted(set(names) ^ set(self.ref.names))
            raise InferenceError(
                f"the new data's features differ from the reference's: {extra[:10]}; was the "
                "reference built for another model?"
            )
        for j in range(values.shape[1]):
            col = values[:, j][np.isfinite(values[:, j])]
            if not len(col):
                continue
            col = np.sort(col)
            self.n[j] += len(col)
            idx = np.searchsorted(self.ref.edges[j], col, side="left")
            self.bins[j] += np.bincount(idx, minlength=len(self.bins[j]))
            points = self.ref.samples[:, j]
            self.at_most[:, j] += np.searchsorted(col, points, side="right")
            self.below[:, j] += np.searchsorted(col, points, side="left")

    def _ks(self, j: int) -> float:
        """Exact KS against the reference sample: the reference ECDF is flat between its
        points, so the gap peaks at a point or just before one."""
        if self.n[j] == 0:
            return float("nan")
        points = self.ref.samples[:, j]
        s = len(points)
        f_ref = np.searchsorted(points, points, side="right") / s
        f_ref_before = np.searchsorted(points, points, side="left") / s
        at = np.abs(f_ref - self.at_most[:, j] / self.n[j])
        before = np.abs(f_ref_before - self.below[:, j] / self.n[j])
        tails = max(self.below[0, j] / self.n[j], 1 - self.at_most[-1, j] / self.n[j])
        return float(max(at.max(), before.max(), tails))

    def report(
        self, *, psi_threshold: float = DEFAULT_PSI, ks_threshold: float = DEFAULT_KS
    ) -> DriftReport:
        features = []
        for j, name in enumerate(self.ref.names):
            if self.n[j] == 0:
                features.append(FeatureDrift(name, float("nan"), float("nan"), False))
                continue
            p = psi(self.ref.shares[j], self.bins[j] / self.n[j])
            k = self._ks(j)
            features.append(FeatureDrift(name, p, k, p > psi_threshold or k > ks_threshold))
        return DriftReport(features, int(self.n.max(initial=0)), psi_threshold, ks_threshold)
