"""The data's shapes from its first rows or first record, for checking a model before a run
(``validate --deep``, a sweep's pre-flight) without loading the data.

The first rows go through the same roles, signal transforms, labels and fitted transforms as
a full preparation (``fold_builder`` on a one-split plan), so the shapes are the ones the run
will see. How little is read, by source kind:

- csv: the header and the first rows (``nrows``); parquet: the first record batch;
- npy / npz: the arrays memory-mapped (uncompressed), only the first rows touched;
- hdf5: the first rows of each dataset of a tabular file, or the first record of a records
  group (names, shapes and attributes come from the file's metadata);
- folder: the manifest and the first file it lists;
- dataset: the user's Dataset built and its first item read (its targets are not read);
- sklearn: the (small, in-memory) data set itself.

No cheaper path exists, and ``sample_shapes`` returns None (the caller prepares the data in
full), for: images (decoding and the size policy's cache), edf (the hypnogram and night
alignment), arrays handed over from Python, and fitted transforms whose output width depends
on the values seen (``one_hot``, scikit-learn and users' own transforms). The shapes of a
sample never replace the checks of the full data (missing values, classes per split), which
a run still makes before it writes anything.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from trainspec.data._assemble import assemble
from trainspec.data._folds import fold_builder
from trainspec.data._labels import ResolvedTask, balance_weights, encode_target, resolve_task
from trainspec.data._pipeline import FittedTransforms, apply_signal
from trainspec.data._sources import (
    SourceContext,
    _attr_columns,
    _attr_value,
    common_rows,
    get_source,
    records_table,
)
from trainspec.data._table import KeyTable
from trainspec.data._transforms import build_steps
from trainspec.data._types import Loaded, input_names
from trainspec.errors import DataError
from trainspec.spec import DataSpec, WeightSpec

__all__ = ["SAMPLE_ROWS", "DataShapes", "sample_shapes"]

log = logging.getLogger(__name__)

SAMPLE_ROWS = 64
# Fitted transforms that keep an input's width whatever values they are fitted on.
_WIDTH_KEEPING = frozenset({"standardize", "minmax", "impute", "ordinal"})
_DIRECT = ("csv", "parquet", "npy", "npz", "hdf5", "folder", "sklearn")


@dataclass(frozen=True)
class DataShapes:
    """What building a model needs from the data: the task, each input's shape without the
    batch axis (None: a variable axis) and the other batch fields (mask, weight)."""

    task: ResolvedTask
    input_shapes: dict[str, tuple[int | None, ...]]
    batch_fields: dict[str, tuple[int | None, ...]] | None
    read: str  # what was read, for messages ("the first 64 rows of ...")


def sample_shapes(
    spec: DataSpec, *, task: str = "auto", allow_imports: Sequence[str] = ()
) -> DataShapes | None:
    """The shapes a run would build its model on, from the first rows or record; None when
    only a full preparation can tell (see the module's notes)."""
    if spec.source.type not in (*_DIRECT, "dataset") or not _width_keeping(spec, allow_imports):
        return None
    ctx = SourceContext(tuple(allow_imports), on_bad=spec.on_bad)
    try:
        if spec.source.type == "dataset":
            return _dataset_shapes(spec, ctx, task)
        table = _head_table(spec.source, ctx, SAMPLE_ROWS)
        return _shapes_of(spec, table, task, ctx)
    except (DataError, OSError, ValueError, KeyError) as exc:
        # The full preparation gives the definitive message (or passes where a few rows
        # cannot tell: a class that appears later, say).
        log.debug("data shapes from the first rows failed (%s); preparing all the data", exc)
        return None


def _width_keeping(spec: DataSpec, allow_imports: Sequence[str]) -> bool:
    if spec.source.type == "dataset":
        return True  # augmentations only
    steps = build_steps(spec.transforms, input_names(spec), allow_imports)
    return all(s.stage != "fit" or s.spec.type in _WIDTH_KEEPING for s in steps)


def _shapes_of(spec: DataSpec, table: KeyTable, task: str, ctx: SourceContext) -> DataShapes:
    from trainspec.data._prepare import _batch_fields

    steps = build_steps(spec.transforms, input_names(spec), ctx.allow_imports)
    data = apply_signal(steps, assemble(spec, table))
    if data.target is None:
        raise DataError("data.target is not set and the source has no default target")
    ignore = [*spec.ignore_labels, *data.meta.get("ignore_labels", [])]
    labels = encode_target(data, resolve_task(data.target, task, ignore), ignore)
    if isinstance(spec.weight, WeightSpec) and spec.weight.balance:
        data.weights = balance_weights(data, labels, spec.weight.balance)
    every = np.arange(data.n_samples)
    loaded = Loaded(data, labels, list(steps), "", False)
    first = fold_builder(spec, loaded, ctx.allow_imports)({"train": every}, "the sample")
    shapes = first.transforms.info["input_shapes"]
    return DataShapes(
        task=labels.task,
        input_shapes={k: tuple(v) for k, v in shapes.items()},
        batch_fields=_batch_fields(data),
        read=f"{data.n_samples} sample(s) of {table.where}",
    )


def _head_table(source: Any, ctx: SourceContext, n: int) -> KeyTable:
    kind = source.type
    if kind == "csv":
        return _csv_head(source, n)
    if kind == "parquet":
        return _parquet_head(source, n)
    if kind == "hdf5":
        return _hdf5_head(source, n)
    if kind == "folder":
        return _folder_head(source, ctx)
    return _head_rows(get_source(kind).load(source, ctx), n)  # mapped arrays; sklearn


def _head_rows(table: KeyTable, n: int) -> KeyTable:
    """The first ``n`` rows of a row table, or the first record of a record table."""
    if table.offsets is not None:
        end = int(table.offsets[1]) if len(table.offsets) > 1 else 0
        rows = {k: _first(v, end) for k, v in table.row_keys.items()}
        records = {k: v[:1] for k, v in table.record_keys.items()}
        return KeyTable(table.where, end, rows, records, table.offsets[:2], table.meta)
    end = min(table.n_rows, n)
    rows = {k: _first(v, end) for k, v in table.row_keys.items()}
    return KeyTable(table.where, end, rows, dict(table.record_keys), None, table.meta)


def _first(value: np.ndarray | Callable[[], np.ndarray], n: int) -> Any:
    if callable(value):
        return lambda: np.asarray(value()[:n])
    return np.asarray(value[:n])


def _frame(frame: Any, where: str) -> KeyTable:
    keys: dict[str, Any] = {str(c): frame[c].to_numpy() for c in frame.columns}
    return KeyTable(where=where, n_rows=len(frame), row_keys=keys)


def _csv_head(source: Any, n: int) -> KeyTable:
    import pandas as pd

    options = dict(source.options)
    options["nrows"] = min(int(options.get("nrows", n)), n)
    frame = pd.read_csv(Path(source.path), **options)
    return _frame(frame, f"CSV file {source.path!r}")


def _parquet_head(source: Any, n: int) -> KeyTable:
    import pyarrow.parquet as pq

    batches = pq.ParquetFile(source.path).iter_batches(batch_size=n)
    batch = next(batches, None)
    if batch is None:
        raise DataError(f"Parquet file {source.path!r} holds no rows")
    return _frame(batch.to_pandas(), f"Parquet file {source.path!r}")


def _hdf5_head(source: Any, n: int) -> KeyTable:
    import h5py

    where = f"HDF5 file {source.path!r}"
    with h5py.File(source.path, "r") as f:
        meta = {k: _attr_value(v) for k, v in f.attrs.items()}
        if source.records is None:
            shapes: dict[str, tuple[int, ...]] = {}
            f.visititems(
                lambda name, obj: (
                    shapes.__setitem__(name, obj.shape)
                    if isinstance(obj, h5py.Dataset) and obj.ndim >= 1
                    else None
                )
            )
            rows = min(common_rows(shapes), n)
            keys: dict[str, Any] = {k: np.asarray(f[k][:rows]) for k in shapes}
            return KeyTable(where, rows, keys, meta=meta)
        return _hdf5_first_record(f, source, where, meta)


def _hdf5_first_record(f: Any, source: Any, where: str, meta: dict[str, Any]) -> KeyTable:
    import h5py

    group = f[source.records]
    names = list(group.keys())
    if not names:
        raise DataError(f"{where}: group {source.records!r} holds no records")
    members = [group[n] for n in names]
    datasets = [{k for k, v in m.items() if isinstance(v, h5py.Dataset)} for m in members]
    common = sorted(set.intersection(*datasets))
    if not common:
        raise DataError(f"{where}: the records of {source.records!r} share no dataset")
    # Attributes are metadata: every record's are read, as the loader does, to agree on keys.
    attrs = {k: v[:1] for k, v in _attr_columns([dict(m.attrs) for m in members]).items()}
    lengths = np.asarray([members[0][common[0]].shape[0]], dtype=np.int64)
    path, first = source.path, f"{source.records}/{names[0]}"

    def read(key: str) -> list[np.ndarray]:  # only the datasets the roles use are read
        with h5py.File(path, "r") as fh:
            return [np.asarray(fh[first][key][()])]

    return records_table(
        f"the first record of {where}", names[:1], lengths, read, common, attrs, source.unit, meta
    )


def _folder_head(source: Any, ctx: SourceContext) -> KeyTable:
    loader: Any = get_source("folder")
    folder, table = loader._manifest(source)
    table = table.iloc[:1]
    names = [str(n) for n in table[source.file_column]]
    content = loader._read(folder / names[0])
    keys = sorted(content)
    lengths = np.asarray([len(content[keys[0]])], dtype=np.int64)
    attr_frame = table.drop(columns=[source.file_column])
    attrs = {str(c): attr_frame[c].to_numpy() for c in attr_frame.columns}
    attrs = {k: (v.astype(str) if v.dtype.kind == "O" else v) for k, v in attrs.items()}

    def read(key: str) -> list[np.ndarray]:
        return [content[key]]

    where = f"the first file of folder {str(folder)!r}"
    return records_table(where, names, lengths, read, keys, attrs, source.unit, {})


def _dataset_shapes(spec: DataSpec, ctx: SourceContext, task: str) -> DataShapes | None:
    """A user's Dataset: built, and its first item's shapes taken (after augmentations)."""
    from trainspec.data._dataset import _instantiate, _item_target, _shapes

    steps = build_steps(spec.transforms, ["x"], ctx.allow_imports)
    if any(s.stage != "augment" for s in steps):
        return None  # refused by the full preparation, with its message
    source: Any = spec.source
    dataset = _instantiate(source, ctx.allow_imports)
    if len(dataset) == 0:
        return None
    first = dataset[0]
    shapes = _shapes(first)
    transforms = FittedTransforms(
        spec.transforms, [], input_names=list(shapes), allow_imports=ctx.allow_imports
    )
    for aug, names in transforms.augmentations:
        for name in names:
            shapes[name] = aug.out_shape(shapes[name])
    if task in ("classification", "regression"):
        resolved: ResolvedTask = "classification" if task == "classification" else "regression"
    else:
        target = np.asarray(_item_target(first))
        resolved = resolve_task(target.reshape(-1), "auto")
    return DataShapes(resolved, shapes, None, f"the first item of {source.target!r}")
