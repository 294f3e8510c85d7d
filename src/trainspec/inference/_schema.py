"""The HTTP request schema of a run, derived from its inputs without loading the model.

A model with one table input takes rows as objects keyed by the training columns:
``{"instances": [{"age": 41, "sex": 1, ...}, ...]}``. Any other model (several inputs, array
inputs, records) takes each instance as arrays by input name, shaped as the data spec
assembles them before the fitted transforms: ``{"instances": [{"ecgs": [[[...]]],
"additional": [[...]]}]}``, where an instance that is a record has one entry per epoch.
Everything is read from the run's JSON and YAML files, so the schema (and the OpenAPI docs)
exist before the model is loaded.
"""

from __future__ import annotations

import functools
import json
import math
import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, create_model

from trainspec.files import RunDir
from trainspec.inference._run import InferenceError, resolve_run_dir

__all__ = [
    "InputField",
    "RequestShapeError",
    "RunInputs",
    "check_finite",
    "describe_inputs",
    "float32_message",
    "request_model",
    "to_inputs",
]

_CATEGORICAL = {"one_hot", "ordinal"}
_SIGNAL = {"window", "resample", "filter"}


class RequestShapeError(ValueError):
    """An instance's array does not have the shape the model takes; becomes a 422."""

    def __init__(self, loc: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.loc = loc
        self.message = message


@dataclass
class InputField:
    name: str
    row_shape: tuple[int | None, ...]  # one row's shape before the fitted transforms
    columns: list[str] | None  # a table input's training columns


@dataclass
class RunInputs:
    """What a request must carry, from the run's files."""

    inputs: list[InputField]
    records: bool  # an instance is a sequence of rows (epochs)
    task: str
    class_names: list[str] | None
    categorical: set[str] = field(default_factory=set)  # columns that may be strings
    nullable: bool = False  # an impute transform fills missing values
    has_signal: bool = False  # signal transforms change sizes: only the nesting is checked
    images: bool = False  # trained on an images source: image files may be uploaded

    @property
    def named_rows(self) -> bool:
        """One table input of named columns, samples are rows: instances are objects."""
        only = self.inputs[0] if len(self.inputs) == 1 else None
        return only is not None and only.columns is not None and not self.records


def describe_inputs(run: str | Path, *, fold: int | None = None) -> RunInputs:
    fold_dir, root, _, _ = resolve_run_dir(run, fold=fold)
    path = RunDir(fold_dir).transforms / "transforms.json"
    if not path.is_file():
        raise InferenceError(f"{path} is missing: the run did not finish setup")
    doc = json.loads(path.read_text(encoding="utf-8"))
    data = RunDir(root).read(RunDir.DATA)
    info = doc.get("info") or {}
    shapes = {k: tuple(v) for k, v in (data.get("input_shapes") or {}).items()}
    records = any(len(s) > 0 and s[0] is None for s in shapes.values())
    raw = info.get("raw_columns") or {}
    fields = []
    for name in doc.get("inputs") or list(shapes):
        shape = shapes.get(name, ())
        row = shape[1:] if records else shape
        columns = raw.get(name)
        fields.append(InputField(name, (len(columns),) if columns else tuple(row), columns))
    categorical: set[str] = set()
    types = {t.get("type") for t in doc.get("transforms", [])}
    for t in doc.get("transforms", []):
        if t.get("type") in _CATEGORICAL:
            chosen = t.get("columns")
            categorical |= set(chosen) if chosen else {c for f in fields for c in f.columns or []}
    return RunInputs(
        fields,
        records,
        str(data.get("task") or "classification"),
        data.get("class_names"),
        categorical,
        "impute" in types,
        bool(types & _SIGNAL),
        "image" in (info.get("meta") or {}),
    )


def _nested(depth: int) -> Any:
    kind: Any = float
    for _ in range(depth):
        kind = list[kind]
    return kind


FLOAT32_MAX = float(np.finfo(np.float32).max)


# A number the model's float32 inputs can hold (the 422 says so: see float32_message).
IN_FLOAT32 = Annotated[float, Field(ge=-FLOAT32_MAX, le=FLOAT32_MAX)]


def float32_message(error: dict[str, Any]) -> str:
    """A validation error's message, in the model's terms where the bound was float32's."""
    bound = (error.get("ctx") or {}).get("le", (error.get("ctx") or {}).get("ge"))
    if isinstance(bound, float) and abs(bound) == FLOAT32_MAX:
        return f"beyond the model's float32 range (+-{FLOAT32_MAX:.3g})"
    return str(error.get("msg", ""))


def _nan_is_missing(value: Any) -> Any:
    """Where the run imputes, NaN is a missing value, as it was in the training data."""
    return None if isinstance(value, float) and math.isnan(value) else value


def _in_float32(value: Any) -> Any:
    if isinstance(value, float) and math.isfinite(value) and abs(value) > FLOAT32_MAX:
        raise ValueError(f"{value:g} is beyond the model's float32 range (+-{FLOAT32_MAX:.3g})")
    return value


def instance_model(spec: RunInputs, *, coerce: bool = False) -> type[BaseModel]:
    """One instance of a request. Strict unless ``coerce``: JSON numbers only (no booleans or
    numeric strings); NaN and infinities are refused except NaN as missing where the run
    imputes."""
    if spec.named_rows:
        columns = spec.inputs[0].columns or []
        fields: dict[str, Any] = {}
        for j, col in enumerate(columns):
            kind: Any = IN_FLOAT32  # checked in pydantic-core: no Python call per value
            if col in spec.categorical:
                kind = Annotated[float | str, BeforeValidator(_in_float32)]
            if spec.nullable:
                kind = Annotated[kind | None, BeforeValidator(_nan_is_missing)]
            fields[f"c{j}"] = (kind, Field(alias=col))
        config = ConfigDict(
            extra="ignore", populate_by_name=False, allow_inf_nan=False, strict=not coerce
        )
        return create_model("Instance", __config__=config, **fields)
    fields = {}
    for f in spec.inputs:
        depth = len(f.row_shape) + (1 if spec.records else 0)
        what = "rows (epochs) of " if spec.records else ""
        shape = [d if d is not None else "any" for d in f.row_shape]
        desc = f"{what}arrays of shape {shape}" + (f"; columns {f.columns}" if f.columns else "")
        fields[f"f_{f.name}"] = (_nested(depth), Field(alias=f.name, description=desc))
    config = ConfigDict(extra="forbid", allow_inf_nan=False, strict=not coerce)
    return create_model("Instance", __config__=config, **fields)


def request_model(
    spec: RunInputs, max_batch: int, *, coerce: bool = False
) -> tuple[type[BaseModel], type[BaseModel]]:
    """``(PredictRequest, Instance)`` pydantic models for this run."""
    instance = instance_model(spec, coerce=coerce)
    request = create_model(
        "PredictRequest",
        __config__=ConfigDict(extra="forbid"),
        instances=(list[instance], Field(max_length=max_batch)),  # type: ignore[valid-type]
    )
    return request, instance


def _array(value: Any, loc: tuple[str | int, ...]) -> np.ndarray:
    try:
        return np.asarray(value, dtype=np.float32)
    except ValueError:  # ragged nested lists
        raise RequestShapeError(
            loc, "the nested lists are ragged: every row needs one shape"
        ) from None


def _check(x: np.ndarray, f: InputField, loc: tuple[str | int, ...], fixed: bool) -> None:
    row = x.shape[1:] if x.ndim >= 1 else ()
    if len(row) != len(f.row_shape):
        raise RequestShapeError(loc, f"expected rows of shape {list(f.row_shape)}; got {list(row)}")
    if fixed:
        for got, want in zip(row, f.row_shape, strict=True):
            if want is not None and got != want:
                raise RequestShapeError(
                    loc, f"expected rows of shape {list(f.row_shape)}; got {list(row)}"
                )


def check_finite(ready: dict[str, np.ndarray], offsets: np.ndarray | None) -> None:
    """Model-ready values must be finite: numbers beyond float32's range become infinite."""
    for name, x in ready.items():
        bad = ~np.isfinite(x.reshape(len(x), -1)).all(axis=1)
        if bad.any():
            row = int(np.argmax(bad))
            where = row if offsets is None else int(np.searchsorted(offsets, row, side="right") - 1)
            raise RequestShapeError(
                ("body", "instances", where, name),
                "holds a value that is not finite once converted to float32 (beyond +-3.4e38?)",
            )


@functools.cache
def _row_getter(n: int) -> Callable[[Any], Any]:
    """An instance's ``n`` column values in one C-level call rather than a getattr per value
    (one column: the value itself, which ``to_inputs`` reshapes into a row)."""
    return operator.attrgetter(*(f"c{j}" for j in range(n)))


def _frame(values: np.ndarray, columns: list[str]) -> Any:
    import pandas as pd  # here: rows by column name never need it, and it takes seconds to load

    return pd.DataFrame(values, columns=columns)


def to_inputs(
    spec: RunInputs, instances: list[BaseModel]
) -> tuple[dict[str, Any], np.ndarray | None]:
    """Raw inputs by name for ``FittedTransforms.apply``, and the record offsets."""
    if spec.named_rows:
        columns = spec.inputs[0].columns or []
        rows: list[Any] = [() for _ in instances]
        if columns:
            row = _row_getter(len(columns))
            rows = [row(inst) for inst in instances]
        plain = not spec.categorical and not spec.nullable
        table = np.asarray(rows, dtype=np.float64 if plain else object)
        return {spec.inputs[0].name: table.reshape(len(rows), len(columns))}, None
    fixed = not spec.has_signal
    out: dict[str, Any] = {}
    lengths: list[int] = []
    for f in spec.inputs:
        parts = []
        for i, inst in enumerate(instances):
            loc = ("body", "instances", i, f.name)
            x = _array(getattr(inst, f"f_{f.name}"), loc)
            if not spec.records:
                x = x[None]
            _check(x, f, loc, fixed)
            parts.append(x)
        if spec.records:
            sizes = [len(p) for p in parts]
            if lengths and sizes != lengths:
                bad = next(i for i, (a, b) in enumerate(zip(sizes, lengths, strict=True)) if a != b)
                raise RequestShapeError(
                    ("body", "instances", bad, f.name),
                    f"has {sizes[bad]} rows (epochs) but the instance's other inputs have "
                    f"{lengths[bad]}",
                )
            lengths = sizes
        empty = np.zeros((0, *(d or 0 for d in f.row_shape)), dtype=np.float32)
        values = np.concatenate(parts) if parts else empty
        out[f.name] = _frame(values, f.columns) if f.columns else values
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64) if spec.records else None
    return out, offsets
