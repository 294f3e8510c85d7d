"""From a source's keys to inputs, target and roles, as the ``data:`` spec names them."""

from __future__ import annotations

from typing import Any

import numpy as np

from trainspec.data._table import Assembled, InputArray, KeyTable
from trainspec.errors import DataError
from trainspec.spec import DataSpec, InputSpec, WeightSpec

__all__ = ["assemble", "role_keys"]


def role_keys(spec: DataSpec, table_meta: dict[str, Any]) -> dict[str, str]:
    """Role -> key for every role that is set (the target may default from the source)."""
    roles: dict[str, str] = {}
    target = spec.target or table_meta.get("default_target")
    if target:
        roles["target"] = target
    if spec.group:
        roles["group"] = spec.group
    if spec.id:
        roles["id"] = spec.id
    if isinstance(spec.weight, str):
        roles["weight"] = spec.weight
    elif isinstance(spec.weight, WeightSpec) and spec.weight.key:
        roles["weight"] = spec.weight.key
    if spec.split.column:
        roles["split.column"] = spec.split.column
    return roles


def _input_specs(spec: DataSpec, table: KeyTable, roles: dict[str, str]) -> dict[str, InputSpec]:
    if spec.inputs is not None:
        out: dict[str, InputSpec] = {}
        for name, value in spec.inputs.items():
            if isinstance(value, InputSpec):
                out[name] = value
            elif isinstance(value, str):
                out[name] = InputSpec(key=value)
            else:
                out[name] = InputSpec(columns=list(value))
        return out
    if isinstance(spec.features, str):
        return {"x": InputSpec(key=spec.features)}
    if isinstance(spec.features, list):
        return {"x": InputSpec(columns=spec.features)}
    used = set(roles.values())
    default = table.meta.get("features")
    candidates = [
        k for k in (default or table.row_keys) if k not in used and not table.is_record_key(k)
    ]
    if default is None and table.offsets is None:
        candidates = [k for k in candidates if k != "record"]
    if not candidates:
        raise DataError(
            f"no feature keys are left in {table.where} once the roles take theirs "
            f"({', '.join(sorted(used))}); name them with data.features or data.inputs"
        )
    if len(candidates) == 1:
        return {"x": InputSpec(key=candidates[0])}
    multi = [k for k in candidates if np.ndim(table.get(k, "data.features")) > 1]
    if multi:
        raise DataError(
            f"{table.where} has several array keys ({', '.join(candidates)}), some with more "
            "than one axis per row; say which to use with data.features or data.inputs"
        )
    return {"x": InputSpec(columns=candidates)}


def _build_input(name: str, ispec: InputSpec, table: KeyTable) -> InputArray:
    role = f"data.inputs.{name}" if name != "x" else "data.features"
    if ispec.key is not None:
        if table.is_record_key(ispec.key):
            raise DataError(
                f"{role}: {ispec.key!r} is a record attribute (one value per record), not an "
                "array with one entry per row; list it among columns ({name}: "
                f"[{ispec.key}, ...]) or use source.unit: rows to repeat it onto its rows"
            )
        values = table.get(ispec.key, role)
        columns = None
        if values.ndim == 1:
            values, columns = values[:, None], [ispec.key]
        elif values.ndim == 2:  # e.g. an HDF5 file's ``feature_names`` attribute
            names = table.meta.get(f"{ispec.key}_names", table.meta.get("feature_names"))
            if isinstance(names, list) and len(names) == values.shape[1]:
                columns = [str(n) for n in names]
    else:
        parts, columns = [], []
        for col in ispec.columns or []:
            part = table.get(col, role)
            if table.is_record_key(col) and table.offsets is not None:
                # A record attribute among per-row columns (age beside time of night): the
                # night's value on each of its rows.
                part = np.repeat(part, np.diff(table.offsets))
            if part.ndim > 2:
                raise DataError(f"{role}: column {col!r} has shape {part.shape}; name it as a key")
            parts.append(part[:, None] if part.ndim == 1 else part)
            columns += [col] if part.ndim == 1 else [f"{col}[{j}]" for j in range(part.shape[1])]
        kinds = {p.dtype.kind for p in parts}
        dtype = object if kinds - set("biuf") else np.float64
        values = np.concatenate([p.astype(dtype) for p in parts], axis=1)
    if ispec.shape is not None:
        try:
            values = values.reshape(len(values), *ispec.shape)
        except ValueError as exc:
            raise DataError(
                f"{role}: cannot reshape rows of shape {values.shape[1:]} to {ispec.shape}"
            ) from exc
        columns = None
    if values.dtype.kind not in "biufO":
        kind = "strings" if values.dtype.kind in "US" else f"dtype {values.dtype}"
        if values.ndim == 2 and columns is not None:
            values = values.astype(object)
        else:
            raise DataError(f"{role}: {ispec.key!r} holds {kind}; model inputs must be numbers")
    scale = (table.meta.get("input_scale") or {}).get(ispec.key) if ispec.key else None
    return InputArray(values=values, columns=columns, scale=scale)


def _per_sample(table: KeyTable, key: str, role: str) -> np.ndarray:
    values = table.get(key, role)
    if table.offsets is not None and not table.is_record_key(key):
        first = values[table.offsets[:-1]]
        lengths = np.diff(table.offsets)
        if np.any(np.repeat(first, lengths) != values):
            raise DataError(
                f"{role}: {key!r} changes within a record; a record-level role needs one value "
                "per record (a record attribute)"
            )
        values = first
    if values.ndim != 1:
        raise DataError(f"{role}: {key!r} has shape {values.shape}; it needs one value per sample")
    return values.astype(str) if values.dtype.kind == "O" else values


def _weights(table: KeyTable, key: str) -> np.ndarray:
    """Per-sample weights, or per-row (per-step) weights when a key of records changes within
    a record (one weight per epoch of a night)."""
    if table.offsets is not None and not table.is_record_key(key):
        values = table.get(key, "data.weight")
        first = values[table.offsets[:-1]]
        if values.ndim == 1 and np.any(np.repeat(first, np.diff(table.offsets)) != values):
            return values
    return _per_sample(table, key, "data.weight")


def assemble(spec: DataSpec, table: KeyTable) -> Assembled:
    roles = role_keys(spec, table.meta)
    inputs = {
        name: _build_input(name, ispec, table)
        for name, ispec in _input_specs(spec, table, roles).items()
    }
    n = table.n_rows if table.offsets is None else len(table.offsets) - 1
    data = Assembled(inputs=inputs, n_samples=n, offsets=table.offsets, meta=dict(table.meta))
    if "target" in roles:
        key = roles["target"]
        target = table.get(key, "data.target")
        data.target = target.astype(str) if target.dtype.kind == "O" else target
        data.target_name = key
        if target.ndim == 2:
            data.target_columns = table.meta.get("target_columns") or [
                f"{key}[{j}]" for j in range(target.shape[1])
            ]
    if "group" in roles:
        data.groups = _per_sample(table, roles["group"], "data.group")
    if "id" in roles:
        data.ids = _per_sample(table, roles["id"], "data.id")
    if "weight" in roles:
        weights = _weights(table, roles["weight"])
        if weights.dtype.kind not in "biuf" or not np.all(np.isfinite(weights)):
            raise DataError(f"data.weight: {roles['weight']!r} must hold finite numbers")
        if np.any(weights < 0):
            raise DataError(f"data.weight: {roles['weight']!r} has negative weights")
        data.weights = weights.astype(np.float32)
    if "split.column" in roles:
        data.extra["split.column"] = _per_sample(table, roles["split.column"], "split.column")
    return data
