"""Fitted transforms: learned on a fold's training rows only, saved without pickle."""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from typing import Any, Literal

import numpy as np

from trainspec.data._table import InputArray
from trainspec.data._tbase import FittedTransform, select_columns
from trainspec.errors import DataError
from trainspec.registry import instantiate, registry, untrusted_types

__all__ = ["Impute", "MinMax", "OneHot", "Ordinal", "SklearnTransform", "Standardize"]

_CHUNK = 4096  # rows per pass, so statistics of long signals need no full float64 copy
Per = Literal["feature", "channel", "global"]


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)


def _missing(col: np.ndarray) -> np.ndarray:
    if col.dtype.kind == "f":
        return np.asarray(np.isnan(col))
    if col.dtype.kind == "O":
        return np.asarray([v is None or (isinstance(v, float) and np.isnan(v)) for v in col])
    return np.zeros(len(col), dtype=bool)


def numeric_columns(values: np.ndarray) -> list[int]:
    """Columns of a 2-D array whose values are all numbers (or missing)."""
    if values.dtype.kind in "biuf":
        return list(range(values.shape[1]))
    out = []
    for j in range(values.shape[1]):
        col = values[:, j]
        if all(_is_number(v) or v is None for v in col):
            out.append(j)
    return out


def _table_block(x: InputArray, columns: list[str] | None, where: str) -> np.ndarray:
    """Column positions a table transform works on: named, else every numeric column."""
    if x.values.ndim != 2:
        raise DataError(f"{where}: needs a table input (rows x columns), got {x.values.shape[1:]}")
    if columns is not None:
        return select_columns(x, columns, where)
    return np.asarray(numeric_columns(x.values), dtype=np.int64)


def _reduce_axes(ndim: int, per: str) -> tuple[int, ...]:
    """Axes of a (R, *s) array that statistics are taken over."""
    if per == "global" or ndim == 1:
        return tuple(range(ndim))
    if per == "channel":
        return (0, *range(2, ndim))
    return tuple(range(ndim - 1))


def _chunks(values: np.ndarray) -> Iterator[np.ndarray]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK].astype(np.float64)


def _stat_shape(ndim: int, per: str, k: int) -> tuple[int, ...]:
    if per == "global" or ndim == 1:
        return (1,) * (ndim - 1) if ndim > 1 else ()
    if per == "channel":
        return (k, *(1,) * (ndim - 2))
    return (*(1,) * (ndim - 2), k)


class _Scaler(FittedTransform):
    """Shared by standardize and minmax: per-axis (shift, scale) on numbers."""

    def __init__(self, per: Per = "feature", columns: list[str] | None = None) -> None:
        if per not in ("feature", "channel", "global"):
            raise ValueError(f"per must be 'feature', 'channel' or 'global', got {per!r}")
        self.per = per
        self.columns = columns

    def _stats(self, values: np.ndarray, axes: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def fit(self, x: InputArray) -> None:
        table = x.values.ndim == 2 and self.per == "feature"
        if table:
            self.cols_ = _table_block(x, self.columns, type(self).__name__)
            block = x.values[:, self.cols_].astype(np.float64)
            self.shift_, self.scale_ = self._stats(block, (0,))
        else:
            if self.columns is not None:
                raise DataError(f"{type(self).__name__}: 'columns' needs per: feature on a table")
            self.cols_ = np.zeros(0, dtype=np.int64)
            self.shift_, self.scale_ = self._stats(x.values, _reduce_axes(x.values.ndim, self.per))
        self.scale_ = np.where(self.scale_ > 0, self.scale_, 1.0)
        self.table_ = table

    def transform(self, x: InputArray) -> InputArray:
        if self.table_:
            values = x.values.copy() if x.values.dtype == object else x.values.astype(np.float64)
            block = x.values[:, self.cols_].astype(np.float64)
            values[:, self.cols_] = (block - self.shift_) / self.scale_
            return InputArray(values, x.columns)
        shape = _stat_shape(x.values.ndim, self.per, self.shift_.size)
        shift = self.shift_.reshape(shape).astype(np.float32)
        scale = self.scale_.reshape(shape).astype(np.float32)
        return InputArray((x.values.astype(np.float32) - shift) / scale, x.columns)

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        arrays = {"shift": self.shift_, "scale": self.scale_, "cols": self.cols_}
        return arrays, {"table": self.table_}

    def load_state(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        self.shift_, self.scale_, self.cols_ = arrays["shift"], arrays["scale"], arrays["cols"]
        self.table_ = bool(meta["table"])


def _moments(values: np.ndarray, axes: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation over ``axes``, NaN-aware, one chunk of rows at a time."""
    shift: np.ndarray | None = None
    count: Any = 0
    total: Any = 0.0
    sq: Any = 0.0
    for c in _chunks(values):
        if shift is None:  # shifted sums keep the variance exact for data far from 0
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                shift = np.nan_to_num(np.nanmean(c, axis=axes, keepdims=True))
        d = c - shift
        count = count + np.sum(~np.isnan(d), axis=axes, keepdims=True)
        total = total + np.nansum(d, axis=axes, keepdims=True)
        sq = sq + np.nansum(d * d, axis=axes, keepdims=True)
    if shift is None:
        raise DataError("cannot fit a transform on an empty training split")
    count = np.maximum(count, 1)
    mean = total / count
    std = np.sqrt(np.maximum(sq / count - mean * mean, 0.0))
    return np.ravel(shift + mean).astype(np.float64), np.ravel(std).astype(np.float64)


@registry.register("transform", "standardize")
class Standardize(_Scaler):
    """(x - mean) / std with training statistics, per feature (last axis; table columns),
    per channel (first axis after the row), or global."""

    def _stats(self, values: np.ndarray, axes: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        return _moments(values, axes)


registry.add("transform", "standardise", Standardize)


@registry.register("transform", "minmax")
class MinMax(_Scaler):
    """(x - min) / (max - min) with the training split's min and max: [0, 1] on training."""

    def _stats(self, values: np.ndarray, axes: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        low = high = None
        for c in _chunks(values):
            lo, hi = np.nanmin(c, axis=axes), np.nanmax(c, axis=axes)
            low = lo if low is None else np.minimum(low, lo)
            high = hi if high is None else np.maximum(high, hi)
        if low is None or high is None:
            raise DataError("cannot fit minmax on an empty training split")
        return np.ravel(low), np.ravel(high - low)


@registry.register("transform", "impute")
class Impute(FittedTransform):
    """Fill missing values of table columns with a training statistic or a constant."""

    def __init__(
        self,
        strategy: Literal["mean", "median", "most_frequent", "constant"] = "mean",
        fill_value: float | str | None = None,
        columns: list[str] | None = None,
    ) -> None:
        if strategy not in ("mean", "median", "most_frequent", "constant"):
            raise ValueError(
                f"unknown strategy {strategy!r}: mean, median, most_frequent, constant"
            )
        if strategy == "constant" and fill_value is None:
            raise ValueError("strategy 'constant' needs fill_value")
        self.strategy = strategy
        self.fill_value = fill_value
        self.columns = columns

    def fit(self, x: InputArray) -> None:
        if x.values.ndim != 2:
            raise DataError(
                f"impute needs a table input (rows x columns), got {x.values.shape[1:]}"
            )
        cols = (
            select_columns(x, self.columns, "impute")
            if self.columns is not None
            else np.arange(x.values.shape[1])
        )
        fills: list[Any] = []
        for j in cols:
            col = x.values[:, j]
            present = col[~_missing(col)]
            fills.append(self._fill(present, int(j), x))
        self.cols_ = cols
        self.fills_ = fills

    def _fill(self, present: np.ndarray, j: int, x: InputArray) -> Any:
        if self.strategy == "constant":
            return self.fill_value
        if len(present) == 0:
            name = x.columns[j] if x.columns else str(j)
            raise DataError(f"impute: column {name!r} has no value in the training split")
        if self.strategy == "most_frequent":
            values, counts = np.unique(present.astype(str), return_counts=True)
            best = values[np.argmax(counts)]
            numeric = [v for v in present if str(v) == best]
            return numeric[0].item() if isinstance(numeric[0], np.generic) else numeric[0]
        try:
            numbers = present.astype(np.float64)
        except (TypeError, ValueError):
            name = x.columns[j] if x.columns else str(j)
            raise DataError(
                f"impute: column {name!r} is not numeric, so strategy {self.strategy!r} cannot "
                "fill it; name the numeric columns in the transform's 'columns', or use "
                "strategy most_frequent or constant for this one"
            ) from None
        return float(np.mean(numbers) if self.strategy == "mean" else np.median(numbers))

    def transform(self, x: InputArray) -> InputArray:
        values = x.values.copy()
        if values.dtype.kind in "iub":
            return InputArray(values, x.columns)
        for j, fill in zip(self.cols_, self.fills_, strict=True):
            col = values[:, j]
            col[_missing(col)] = fill
        return InputArray(values, x.columns)

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        return {"cols": np.asarray(self.cols_, dtype=np.int64)}, {"fills": list(self.fills_)}

    def load_state(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        self.cols_, self.fills_ = arrays["cols"], list(meta["fills"])


class _Categorical(FittedTransform):
    def __init__(self, columns: list[str] | None = None) -> None:
        self.columns = columns

    def fit(self, x: InputArray) -> None:
        name = type(self).__name__
        if x.values.ndim != 2:
            raise DataError(f"{name}: needs a table input (rows x columns)")
        if self.columns is not None:
            cols = select_columns(x, self.columns, name)
        else:
            numeric = set(numeric_columns(x.values))
            cols = np.asarray([j for j in range(x.values.shape[1]) if j not in numeric])
        self.cols_ = cols.astype(np.int64)
        self.categories_ = []
        for j in self.cols_:
            col = x.values[:, j]
            self.categories_.append(sorted({str(v) for v in col[~_missing(col)]}))

    def _codes(self, x: InputArray, k: int) -> np.ndarray:
        col = x.values[:, self.cols_[k]]
        lookup = {c: i for i, c in enumerate(self.categories_[k])}
        missing = _missing(col)
        return np.asarray(
            [-1 if m else lookup.get(str(v), -1) for v, m in zip(col, missing, strict=True)]
        )

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        return {"cols": self.cols_}, {"categories": self.categories_}

    def load_state(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        self.cols_, self.categories_ = arrays["cols"], meta["categories"]


def _names(x: InputArray) -> list[str]:
    return x.columns or [str(j) for j in range(x.values.shape[1])]


@registry.register("transform", "one_hot")
class OneHot(_Categorical):
    """Each category column becomes one 0/1 column per training category (``col=value``);
    unseen or missing values give all zeros. Default columns: the non-numeric ones."""

    def transform(self, x: InputArray) -> InputArray:
        names = _names(x)
        keep = [j for j in range(x.values.shape[1]) if j not in set(self.cols_.tolist())]
        parts, columns = [x.values[:, keep]], [names[j] for j in keep]
        for k, j in enumerate(self.cols_):
            codes = self._codes(x, k)
            onehot = np.zeros((len(codes), len(self.categories_[k])), dtype=np.float64)
            rows = np.nonzero(codes >= 0)[0]
            onehot[rows, codes[rows]] = 1.0
            parts.append(onehot)
            columns += [f"{names[j]}={c}" for c in self.categories_[k]]
        dtype = object if parts[0].dtype == object else np.float64
        return InputArray(np.concatenate([p.astype(dtype) for p in parts], axis=1), columns)


@registry.register("transform", "ordinal")
class Ordinal(_Categorical):
    """Each category column becomes its index among the sorted training categories (-1 if
    unseen or missing)."""

    def transform(self, x: InputArray) -> InputArray:
        values = x.values.copy()
        for k, j in enumerate(self.cols_):
            values[:, j] = self._codes(x, k)
        return InputArray(values, x.columns)


class SklearnTransform(FittedTransform):
    """A scikit-learn style transformer (fit / transform) named by import path.

    Saved with skops (no pickle); on load only types from scikit-learn, NumPy, SciPy and the
    packages in ``allow`` are trusted (``trainspec.registry.untrusted_types``), so a file that
    asks for anything else is refused.
    """

    def __init__(
        self,
        factory: Any,
        path: str,
        params: dict[str, Any],
        index: int,
        allow: Sequence[str] = (),
    ) -> None:
        self.factory_ = factory
        self.allow = tuple(allow)
        self.path = path
        self.where = f"data.transforms[{index}] ({path})"
        self.columns: list[str] | None = params.pop("columns", None)
        self.kwargs = params
        self.estimator_ = instantiate(
            "transform", {"type": path, **params}, ("data", "transforms", index), target=factory
        )

    def fit(self, x: InputArray) -> None:
        self.cols_ = (
            select_columns(x, self.columns, self.where) if self.columns is not None else None
        )
        self.estimator_.fit(self._block(x))

    def _block(self, x: InputArray) -> np.ndarray:
        if self.cols_ is not None:
            return np.asarray(x.values[:, self.cols_], dtype=np.float64)
        return np.asarray(x.values.reshape(len(x.values), -1), dtype=np.float64)

    def transform(self, x: InputArray) -> InputArray:
        out = np.asarray(self.estimator_.transform(self._block(x)))
        out = out.reshape(len(out), -1)
        stem = self.path.rsplit(".", 1)[-1].lower()
        if self.cols_ is None:
            if out.shape[1] == int(np.prod(x.values.shape[1:])):
                return InputArray(out.reshape(x.values.shape), x.columns)
            return InputArray(out, [f"{stem}{j}" for j in range(out.shape[1])])
        names = _names(x)
        if out.shape[1] == len(self.cols_):
            values = x.values.astype(object if x.values.dtype == object else np.float64)
            values[:, self.cols_] = out
            return InputArray(values, x.columns)
        keep = [j for j in range(x.values.shape[1]) if j not in set(self.cols_.tolist())]
        values = np.concatenate([x.values[:, keep], out.astype(x.values.dtype)], axis=1)
        return InputArray(
            values, [names[j] for j in keep] + [f"{stem}{j}" for j in range(out.shape[1])]
        )

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        import skops.io as sio

        blob = np.frombuffer(sio.dumps(self.estimator_), dtype=np.uint8).copy()
        cols = self.cols_ if self.cols_ is not None else np.zeros(0, dtype=np.int64)
        return {"skops": blob, "cols": cols}, {"all_columns": self.cols_ is None}

    def load_state(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        import skops.io as sio

        data = arrays["skops"].tobytes()
        untrusted = sio.get_untrusted_types(data=data)
        refused = untrusted_types(untrusted, self.allow)
        if refused:
            raise DataError(
                f"{self.where}: the saved transformer holds types that are not trusted "
                f"({', '.join(refused)}); loading it could run their code. If you trust it and "
                "the types are your own package's, add the package to allow_imports"
            )
        self.estimator_ = sio.loads(data, trusted=untrusted)
        self.cols_ = None if meta["all_columns"] else arrays["cols"]
