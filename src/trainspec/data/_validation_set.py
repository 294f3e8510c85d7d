"""A validation set of the caller's own, ``train_model(..., validation=(X_val, y_val))``.

The two sets are joined into one table of named arrays with a split-name column, which the
data layer's ``predefined`` split reads (``data.split.column``); that column is a role, not a
feature, so the model sees exactly the features of ``X``. The transforms are fitted on the
training rows only, and every epoch is scored on exactly the rows of ``X_val``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from trainspec.errors import TrainspecError

__all__ = [
    "SPLIT_KEY",
    "ValidationTypeError",
    "ValidationValueError",
    "join_validation",
    "validation_split",
]

# The key of the joined table holding each row's split name; not a name users give columns.
SPLIT_KEY = "__trainspec_split__"


class ValidationTypeError(TrainspecError, TypeError):
    """``validation`` is neither a fraction nor an ``(X_val, y_val)`` pair of X's kind."""


class ValidationValueError(TrainspecError, ValueError):
    """``validation`` has the right type but a bad value: range, rows, shapes, columns."""


def validation_split() -> dict[str, Any]:
    """The ``data.split`` that reads the joined table's split-name column."""
    return {"method": "predefined", "column": SPLIT_KEY}


def _kind(x: Any) -> str:
    if isinstance(x, dict):
        return "dict"
    if hasattr(x, "columns") and hasattr(x, "to_numpy"):
        return "frame"
    return "array"


def _named(x: Any, kind: str) -> dict[str, np.ndarray]:
    """Named arrays as the ``arrays`` source reads them (a DataFrame's columns by name)."""
    if kind == "dict":
        return {str(k): np.asarray(v) for k, v in x.items()}
    if kind == "frame":
        return {str(c): x[c].to_numpy() for c in x.columns}
    return {"x": np.asarray(x)}


def _target(y: Any) -> np.ndarray:
    return np.asarray(y.to_numpy() if hasattr(y, "to_numpy") else y)


def _rows(named: dict[str, np.ndarray], what: str) -> int:
    counts = {k: (len(v) if v.ndim else 0) for k, v in named.items()}
    if len(set(counts.values())) > 1:
        raise ValidationValueError(
            f"train_model: the arrays of {what} have different numbers of rows ({counts}); "
            "give every array one entry per row"
        )
    return next(iter(counts.values()), 0)


def _check_keys(train: dict[str, np.ndarray], val: dict[str, np.ndarray], kind: str) -> None:
    missing, extra = sorted(set(train) - set(val)), sorted(set(val) - set(train))
    if missing or extra:
        noun = "columns" if kind == "frame" else "keys"
        raise ValidationValueError(
            f"train_model: X_val must have the {noun} of X; it lacks {missing} and has extra "
            f"{extra}. Select the same {noun} for both (X's: {sorted(train)})"
        )


def _check_shape(name: str, a: np.ndarray, b: np.ndarray, what: str) -> None:
    if a.shape[1:] != b.shape[1:]:
        raise ValidationValueError(
            f"train_model: each row of {what} must have the shape of {name}'s rows, "
            f"{a.shape[1:]}; got {b.shape[1:]} (shape {b.shape}). Give the validation set "
            "the same features as the training set"
        )


def _check_dtype(name: str, a: np.ndarray, b: np.ndarray, what: str) -> None:
    numeric = {a.dtype.kind in "biuf", b.dtype.kind in "biuf"}
    if len(numeric) > 1:
        raise ValidationValueError(
            f"train_model: {what} holds {b.dtype} values where {name} holds {a.dtype}; give "
            "the validation set values of the training set's type (numbers, or labels)"
        )


def _unpack(validation: Any, x: Any) -> tuple[Any, Any]:
    if not isinstance(validation, tuple | list) or len(validation) != 2:
        raise ValidationTypeError(
            "train_model: validation must be a fraction of (X, y) such as 0.2, or a "
            f"validation set (X_val, y_val); got {type(validation).__name__}"
        )
    x_val, y_val = validation
    if _kind(x_val) != _kind(x):
        kinds = {"dict": "a dict of arrays", "frame": "a DataFrame", "array": "an array"}
        raise ValidationTypeError(
            f"train_model: X_val must be of X's kind, {kinds[_kind(x)]}; got "
            f"{type(x_val).__name__}. Pass the validation features as X was passed"
        )
    return x_val, y_val


def join_validation(x: Any, y: Any, validation: Any) -> tuple[dict[str, np.ndarray], Any]:
    """``(X, y)`` followed by ``validation``'s rows as one table of named arrays, with the
    split-name column ``SPLIT_KEY``, and the joined target (None where ``y`` is None: the
    target is then a key of ``X``)."""
    x_val, y_val = _unpack(validation, x)
    kind = _kind(x)
    train, val = _named(x, kind), _named(x_val, kind)
    _check_keys(train, val, kind)
    n_train, n_val = _rows(train, "X"), _rows(val, "X_val")
    if n_val == 0:
        raise ValidationValueError(
            "train_model: the validation set (X_val, y_val) has no rows; give it at least one "
            "row, or leave validation out"
        )
    for name in train:
        label = "X_val" if kind == "array" else f"X_val[{name!r}]"
        known = "X" if kind == "array" else f"X[{name!r}]"
        _check_shape(known, train[name], val[name], label)
        _check_dtype(known, train[name], val[name], label)
    joined = {k: np.concatenate([train[k], val[k]]) for k in train}
    joined[SPLIT_KEY] = np.array(["train"] * n_train + ["val"] * n_val)
    return joined, _join_target(y, y_val, n_val)


def _join_target(y: Any, y_val: Any, n_val: int) -> Any:
    if (y is None) != (y_val is None):
        raise ValidationTypeError(
            "train_model: y_val must be given exactly when y is: "
            f"y is {'None' if y is None else 'given'}, y_val is "
            f"{'None' if y_val is None else 'given'}"
        )
    if y is None:
        return None
    train, val = _target(y), _target(y_val)
    if val.ndim == 0 or len(val) != n_val:
        seen = "a scalar" if val.ndim == 0 else f"{len(val)} rows"
        raise ValidationValueError(
            f"train_model: y_val must have one entry per row of X_val ({n_val} rows); got {seen}"
        )
    _check_shape("y", train, val, "y_val")
    _check_dtype("y", train, val, "y_val")
    return np.concatenate([train, val])
