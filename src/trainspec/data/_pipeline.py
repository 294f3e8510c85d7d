"""A fold's transforms, fitted on its training rows, saved and loaded without pickle."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from trainspec.data._fitted import numeric_columns
from trainspec.data._signal import Augmentation, SignalTransform
from trainspec.data._table import Assembled, InputArray
from trainspec.data._tbase import FittedTransform
from trainspec.data._transforms import Step, build_steps, names_after
from trainspec.errors import DataError
from trainspec.files import FORMAT_KEY, check_format
from trainspec.spec import TransformSpec

__all__ = ["FittedTransforms", "apply_signal", "to_float32", "to_model_input"]

_JSON = "transforms.json"
_ARRAYS = "transforms.safetensors"
FORMAT_VERSION = 1


def apply_signal(steps: Sequence[Step], data: Assembled) -> Assembled:
    for step in steps:
        if step.stage == "signal":
            template = step.template
            assert isinstance(template, SignalTransform)
            data = template.apply(data, step.inputs)
    return data


def to_float32(name: str, x: InputArray) -> np.ndarray:
    """The final model input; non-numeric columns left without an encoder are an error."""
    if x.values.dtype.kind in "biuf":
        return np.ascontiguousarray(x.values, dtype=np.float32)
    numeric = set(numeric_columns(x.values))
    bad = [j for j in range(x.values.shape[1]) if j not in numeric]
    if bad:
        names = [x.columns[j] if x.columns else str(j) for j in bad]
        example = next(v for v in x.values[:, bad[0]] if not isinstance(v, (int, float)))
        role = "data.features" if name == "x" else f"data.inputs.{name}"
        listed = ", ".join(repr(n) for n in names)
        raise DataError(
            f"{role}: column(s) {listed} hold non-numeric values (e.g. {example!r}); model "
            f"inputs must be numbers: add a transform {{type: one_hot, columns: [{names[0]}]}} "
            "(or ordinal), or drop the column"
        )
    return np.asarray(x.values.astype(np.float64), dtype=np.float32)


def to_model_input(name: str, x: InputArray) -> np.ndarray:
    """int64 for integer inputs (token ids, masks), float32 (times its scale) for others."""
    if x.integer:
        return np.ascontiguousarray(x.values, dtype=np.int64)
    out = to_float32(name, x)
    if x.scale is not None:
        out *= np.float32(x.scale)
    return out


def prescale(inputs: dict[str, InputArray], names: set[str]) -> dict[str, InputArray]:
    """Scaled floats for the inputs a fitted step reads (it must see [0, 1] pixels, not
    uint8); the others keep their scale for the batch to apply."""
    out = dict(inputs)
    for name in names:
        x = out.get(name)
        if x is not None and x.scale is not None:
            out[name] = InputArray(to_model_input(name, x), x.columns, x.integer)
    return out


class FittedTransforms:
    """The transforms of one fold: signal ones (stateless), fitted ones (with their learned
    state) and augmentations. ``apply`` maps new raw data the same way for inference.

    ``input_names`` are the data spec's inputs (what ``apply`` takes); ``model_inputs`` the
    batch keys the model reads, which differ when a signal transform replaces an input
    (``tokenize``: text -> ids and mask).
    """

    def __init__(
        self,
        specs: Sequence[TransformSpec],
        fitted: list[tuple[int, str, FittedTransform]],
        *,
        input_names: Sequence[str],
        info: dict[str, Any] | None = None,
        allow_imports: Sequence[str] = (),
    ) -> None:
        self.specs = list(specs)
        self.fitted = fitted
        self.input_names = list(input_names)
        self.info = dict(info or {})  # task, class names, input shapes, source meta
        self.steps = build_steps(self.specs, self.input_names, allow_imports)
        self.model_inputs = names_after(self.steps, self.input_names)

    @classmethod
    def fit(
        cls,
        steps: Sequence[Step],
        data: Assembled,
        train_rows: np.ndarray,
        *,
        allow_imports: Sequence[str] = (),
        input_names: Sequence[str] | None = None,
    ) -> tuple[FittedTransforms, dict[str, InputArray]]:
        """Fit the fitted steps in order on ``train_rows``; return them and all rows mapped.
        ``data`` is signal-transformed already; ``input_names`` are the spec's input names
        before that (default: the data's, when no signal step renames an input)."""
        touched = {n for s in steps if s.stage == "fit" for n in s.inputs}
        current = prescale(data.inputs, touched)
        fitted: list[tuple[int, str, FittedTransform]] = []
        for step in steps:
            if step.stage != "fit":
                continue
            for name in step.inputs:
                t = step.fresh()
                assert isinstance(t, FittedTransform)
                x = current[name]
                t.fit(InputArray(x.values[train_rows], x.columns))
                current[name] = t.transform(x)
                fitted.append((step.index, name, t))
        names = list(data.inputs) if input_names is None else list(input_names)
        out = cls([s.spec for s in steps], fitted, input_names=names, allow_imports=allow_imports)
        out.info["meta"] = _jsonable(data.meta)
        out.info["raw_columns"] = {
            n: data.inputs[n].columns if n in data.inputs else None for n in names
        }
        out.info["columns"] = {n: current[n].columns for n in out.model_inputs}
        out.info["input_scale"] = {n: x.scale for n, x in data.inputs.items() if x.scale}
        return out, current

    @property
    def augmentations(self) -> list[tuple[Augmentation, list[str]]]:
        return [(s.template, s.inputs) for s in self.steps if isinstance(s.template, Augmentation)]

    def transform(self, data: Assembled) -> dict[str, np.ndarray]:
        """Fitted steps on already signal-transformed data -> model inputs (float32, or int64
        for integer inputs such as token ids)."""
        current = prescale(data.inputs, {name for _, name, _ in self.fitted})
        for _, name, t in self.fitted:
            current[name] = t.transform(current[name])
        return {name: to_model_input(name, current[name]) for name in self.model_inputs}

    def apply(
        self,
        inputs: Mapping[str, Any],
        *,
        offsets: np.ndarray | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> dict[str, np.ndarray]:
        """Map new raw inputs (name -> (R, ...) array; a DataFrame / 1-D columns for a table)
        through the signal and fitted steps, as at training."""
        missing = [n for n in self.input_names if n not in inputs]
        if missing:
            raise DataError(f"inputs {missing} are missing; the model takes {self.input_names}")
        arrays: dict[str, InputArray] = {}
        scales = self.info.get("input_scale") or {}
        for name in self.input_names:
            arrays[name] = _raw_input(inputs[name], self.info.get("raw_columns", {}).get(name))
            arrays[name].scale = scales.get(name)
        n = len(next(iter(arrays.values())).values) if offsets is None else len(offsets) - 1
        merged_meta = {**self.info.get("meta", {}), **(meta or {})}
        data = Assembled(inputs=arrays, n_samples=n, offsets=offsets, meta=merged_meta)
        return self.transform(apply_signal(self.steps, data))

    def inverse_target(self, values: np.ndarray) -> np.ndarray:
        """Regression outputs back in the target's units (``data.target_transform``)."""
        doc = self.info.get("target_transform")
        if not doc:
            return values
        from trainspec.data._target import TargetTransform

        return TargetTransform.from_json(doc).inverse(values)

    def save(self, directory: Path) -> None:
        from safetensors.numpy import save_file

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, np.ndarray] = {}
        entries = []
        for k, (index, name, t) in enumerate(self.fitted):
            state, meta = t.state()
            for key, value in state.items():
                arrays[f"{k}.{key}"] = np.ascontiguousarray(value)
            entries.append({"index": index, "input": name, "state": meta, "keys": list(state)})
        # safetensors refuses empty tensors; record their shapes and dtypes in JSON instead.
        empty = {k: str(v.dtype) for k, v in arrays.items() if v.size == 0}
        save_file({k: v for k, v in arrays.items() if v.size}, str(directory / _ARRAYS))
        document = {
            FORMAT_KEY: FORMAT_VERSION,
            "transforms": [s.model_dump(mode="json") for s in self.specs],
            "inputs": self.input_names,
            "fitted": entries,
            "empty": empty,
            "info": _jsonable(self.info),
        }
        (directory / _JSON).write_text(json.dumps(document, indent=2))

    @classmethod
    def load(cls, directory: Path, *, allow_imports: Sequence[str] = ()) -> FittedTransforms:
        from safetensors.numpy import load_file

        directory = Path(directory)
        path = directory / _JSON
        if not path.is_file():
            raise DataError(f"no saved transforms in {str(directory)!r}: {_JSON} is missing")
        document = json.loads(path.read_text())
        check_format(document, FORMAT_VERSION, what="fitted transforms", where=path)
        arrays = load_file(str(directory / _ARRAYS))
        for key, dtype in document["empty"].items():
            arrays[key] = np.zeros(0, dtype=dtype)
        specs = [TransformSpec.model_validate(s) for s in document["transforms"]]
        steps = build_steps(specs, document["inputs"], allow_imports)
        by_index = {s.index: s for s in steps}
        fitted: list[tuple[int, str, FittedTransform]] = []
        for k, entry in enumerate(document["fitted"]):
            t = by_index[entry["index"]].fresh()
            assert isinstance(t, FittedTransform)
            t.load_state({key: arrays[f"{k}.{key}"] for key in entry["keys"]}, entry["state"])
            fitted.append((entry["index"], entry["input"], t))
        return cls(
            specs,
            fitted,
            input_names=document["inputs"],
            info=document["info"],
            allow_imports=allow_imports,
        )


def _raw_input(value: Any, columns: list[str] | None) -> InputArray:
    if hasattr(value, "columns") and hasattr(value, "to_numpy"):
        have = [str(c) for c in value.columns]
        if columns is not None:
            absent = [c for c in columns if c not in have]
            if absent:
                raise DataError(f"columns {absent} are missing from the new data; it has {have}")
            return InputArray(value[columns].to_numpy(), list(columns))
        return InputArray(value.to_numpy(), have)
    array = np.asarray(value)
    if array.ndim == 1:
        array = array[:, None]
    if columns is not None and (array.ndim != 2 or array.shape[1] != len(columns)):
        raise DataError(
            f"new data has shape {array.shape}; the model was trained on "
            f"{len(columns)} columns: {columns}"
        )
    return InputArray(array, columns)


def _jsonable(value: Any) -> Any:
    return json.loads(
        json.dumps(value, default=lambda v: v.tolist() if hasattr(v, "tolist") else str(v))
    )
