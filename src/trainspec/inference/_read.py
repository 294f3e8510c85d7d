"""New data for prediction, read in chunks so that memory stays bounded on large files.

Each chunk is a ``KeyTable`` (the data layer's view of a source: named arrays sharing their
first axis). Tables (CSV, Parquet, NPY, NPZ, tabular HDF5, DataFrames, arrays) are cut every
``chunk_size`` rows; record files (HDF5 ``records`` groups) every few whole records, about
``chunk_size`` rows in all, never splitting a record.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from trainspec.data import KeyTable  # the data layer's source table (see report)
from trainspec.inference._run import InferenceError

__all__ = ["FORMATS", "file_format", "iter_tables"]

FORMATS = {
    ".csv": "csv",
    ".tsv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".npy": "npy",
    ".npz": "npz",
    ".h5": "hdf5",
    ".hdf5": "hdf5",
    ".hdf": "hdf5",
}
Loader = Callable[[], np.ndarray]


def file_format(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InferenceError(
            f"{path}: unknown file type {path.suffix!r}; prediction reads "
            f"{', '.join(sorted(set(FORMATS)))} files"
        )
    return fmt


def iter_tables(
    data: Any,
    source: Any,
    chunk_size: int,
    meta: Mapping[str, Any] | None = None,
    *,
    on_bad: str = "error",
) -> Iterator[KeyTable]:
    """Chunks of ``data`` (a path, a DataFrame, a dict of arrays or an array) as key tables.

    ``source`` is the run's ``data.source`` spec: its options (CSV separator, HDF5 records
    group, NPY column names) apply when the new file has the same type. ``meta`` is the
    training data's metadata (sampling rate, feature names), under the file's own.
    """
    if chunk_size < 1:
        raise InferenceError(f"chunk_size must be at least 1; got {chunk_size}")
    base = dict(meta or {})
    if not isinstance(data, (str, Path)):
        yield from _memory_tables(data, chunk_size, base)
        return
    path = Path(data).expanduser()
    kind = getattr(source, "type", None)
    if kind == "images":
        yield from _image_tables(data, source, chunk_size, base, on_bad)
        return
    if not path.exists():
        raise InferenceError(f"input file {str(path)!r} does not exist")
    if kind == "edf" and (path.is_dir() or path.suffix.lower() in (".edf", ".rec")):
        yield from _edf_tables(path, source, meta=base, on_bad=on_bad)
        return
    if path.is_dir():
        yield _whole_source(path, source, on_bad)
        return
    fmt = file_format(path)
    if fmt == "csv":
        options = dict(source.options) if kind == "csv" else {}
        if path.suffix.lower() == ".tsv":
            options.setdefault("sep", "\t")
        yield from _csv_tables(path, chunk_size, options, base)
    elif fmt == "parquet":
        yield from _parquet_tables(path, chunk_size, base)
    elif fmt == "npy":
        columns = source.columns if kind == "npy" else None
        yield from _npy_tables(path, chunk_size, columns, base)
    elif fmt == "npz":
        yield from _npz_tables(path, chunk_size, base)
    else:
        records = source.records if kind == "hdf5" else None
        unit = source.unit if kind == "hdf5" else "records"
        yield from _hdf5_tables(path, chunk_size, records, unit, base)


def _image_tables(
    data: Any, source: Any, chunk_size: int, meta: dict[str, Any], on_bad: str
) -> Iterator[KeyTable]:
    """Image files, folders or globs, decoded as the run's images source decoded its own."""
    from trainspec.data import iter_image_tables

    size = source.size or (meta.get("image") or {}).get("size")
    if isinstance(size, int):
        size = [size, size]
    if size is None:
        raise InferenceError("the run's training data records no image size; retrain it")
    for table in iter_image_tables(data, source, size=size, chunk_size=chunk_size, on_bad=on_bad):
        table.meta = {**meta, **table.meta}
        yield table


def _frame_chunk(frame: Any, where: str, meta: dict[str, Any]) -> KeyTable:
    keys: dict[str, np.ndarray | Loader] = {str(c): frame[c].to_numpy() for c in frame.columns}
    return KeyTable(where=where, n_rows=len(frame), row_keys=keys, meta=dict(meta))


def _memory_tables(data: Any, chunk_size: int, meta: dict[str, Any]) -> Iterator[KeyTable]:
    if hasattr(data, "columns") and hasattr(data, "iloc"):
        for start in range(0, max(len(data), 1), chunk_size):
            yield _frame_chunk(data.iloc[start : start + chunk_size], "the DataFrame", meta)
        return
    arrays = dict(data) if isinstance(data, Mapping) else {"x": data}
    arrays = {str(k): np.asarray(v) for k, v in arrays.items()}
    lengths = {k: len(v) for k, v in arrays.items() if v.ndim >= 1}
    if len(set(lengths.values())) > 1:
        raise InferenceError(f"the arrays hold different numbers of rows: {lengths}")
    n = next(iter(lengths.values()), 0)
    for start in range(0, max(n, 1), chunk_size):
        part: dict[str, np.ndarray | Loader] = {
            k: v[start : start + chunk_size] for k, v in arrays.items() if v.ndim >= 1
        }
        rows = min(chunk_size, max(n - start, 0))
        yield KeyTable(where="the arrays passed in", n_rows=rows, row_keys=part, meta=dict(meta))


def _csv_tables(
    path: Path, chunk_size: int, options: dict[str, Any], meta: dict[str, Any]
) -> Iterator[KeyTable]:
    import pandas as pd

    where = f"CSV file {str(path)!r}"
    try:
        reader = pd.read_csv(path, chunksize=chunk_size, **options)
        empty = True
        with reader:
            for frame in reader:
                empty = False
                yield _frame_chunk(frame, where, meta)
    except (ValueError, TypeError, pd.errors.ParserError) as exc:
        raise InferenceError(f"{where} cannot be read: {exc}") from exc
    if empty:
        yield _frame_chunk(pd.read_csv(path, nrows=0, **options), where, meta)


def _parquet_tables(path: Path, chunk_size: int, meta: dict[str, Any]) -> Iterator[KeyTable]:
    import pyarrow.parquet as pq

    where = f"Parquet file {str(path)!r}"
    with pq.ParquetFile(path) as f:
        empty = True
        for batch in f.iter_batches(batch_size=chunk_size):
            empty = False
            yield _frame_chunk(batch.to_pandas(), where, meta)
        if empty:
            yield _frame_chunk(f.schema_arrow.empty_table().to_pandas(), where, meta)


def _npy_tables(
    path: Path, chunk_size: int, columns: list[str] | None, meta: dict[str, Any]
) -> Iterator[KeyTable]:
    array = np.load(path, mmap_mode="r", allow_pickle=False)  # rows are read as sliced
    where = f"npy file {str(path)!r}"
    if columns is not None and (array.ndim != 2 or array.shape[1] != len(columns)):
        raise InferenceError(
            f"{where} has shape {array.shape}; the run's source names {len(columns)} columns"
        )
    for start in range(0, max(len(array), 1), chunk_size):
        part = np.array(array[start : start + chunk_size])  # this chunk only, writable
        keys: dict[str, np.ndarray | Loader] = {"x": part}
        if columns is not None:
            keys.update({c: part[:, j] for j, c in enumerate(columns)})
        yield KeyTable(where=where, n_rows=len(part), row_keys=keys, meta=dict(meta))


class _NpyMember:
    """One array of an .npz archive, read row block by row block from the zip stream."""

    def __init__(self, archive: zipfile.ZipFile, name: str) -> None:
        self.stream = archive.open(name)
        version = np.lib.format.read_magic(self.stream)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(self.stream)
        else:
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(self.stream)
        if dtype.hasobject:
            raise InferenceError(f"{name} holds Python objects; it cannot be read without pickle")
        self.shape, self.fortran, self.dtype = tuple(shape), bool(fortran), dtype
        self.row = int(np.prod(self.shape[1:], dtype=np.int64)) if len(self.shape) > 1 else 1

    def read(self, rows: int) -> np.ndarray:
        data = self.stream.read(rows * self.row * self.dtype.itemsize)
        part = np.frombuffer(data, dtype=self.dtype)
        return part.reshape(-1, *self.shape[1:]).copy()

    def whole(self) -> np.ndarray:
        count = int(np.prod(self.shape, dtype=np.int64))
        data = self.stream.read(count * self.dtype.itemsize)
        flat = np.frombuffer(data, dtype=self.dtype)
        shaped = flat.reshape(self.shape, order="F") if self.fortran else flat.reshape(self.shape)
        return np.array(shaped)


def _npz_tables(path: Path, chunk_size: int, meta: dict[str, Any]) -> Iterator[KeyTable]:
    where = f"npz file {str(path)!r}"
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise InferenceError(f"{where} is not an npz archive: {exc}") from exc
    with archive:
        members = {n[: -len(".npy")]: _NpyMember(archive, n) for n in archive.namelist()}
        scalars = {k: m.whole().item() for k, m in members.items() if len(m.shape) == 0}
        firsts = [m.shape[0] for m in members.values() if len(m.shape) >= 1]
        n = max(set(firsts), key=firsts.count) if firsts else 0
        rows = {k: m for k, m in members.items() if len(m.shape) >= 1 and m.shape[0] == n}
        whole = {k: m.whole() for k, m in rows.items() if m.fortran}  # rare: not streamable
        info = {**meta, **scalars}
        for start in range(0, max(n, 1), chunk_size):
            count = min(chunk_size, n - start)
            keys: dict[str, np.ndarray | Loader] = {
                k: whole[k][start : start + count] if k in whole else m.read(count)
                for k, m in rows.items()
            }
            yield KeyTable(where=where, n_rows=max(count, 0), row_keys=keys, meta=dict(info))


def _attr(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.ndarray):
        return [_attr(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _hdf5_tables(
    path: Path, chunk_size: int, records: str | None, unit: str, meta: dict[str, Any]
) -> Iterator[KeyTable]:
    try:
        import h5py
    except ImportError as exc:
        raise InferenceError("HDF5 input needs h5py: pip install 'trainspec[data]'") from exc
    where = f"HDF5 file {str(path)!r}"
    with h5py.File(path, "r") as f:
        info = {**meta, **{k: _attr(v) for k, v in f.attrs.items()}}
        if records is None and "records" in f and isinstance(f["records"], h5py.Group):
            records = "records"
        if records is None:
            yield from _hdf5_rows(f, where, chunk_size, info)
            return
        if records not in f:
            raise InferenceError(f"{where} has no group {records!r} (the run's source.records)")
        yield from _hdf5_records(
            f[records], f"records {records!r} of {where}", chunk_size, unit, info
        )


def _hdf5_rows(f: Any, where: str, chunk_size: int, meta: dict[str, Any]) -> Iterator[KeyTable]:
    import h5py

    datasets: dict[str, Any] = {}
    f.visititems(
        lambda name, obj: (
            datasets.__setitem__(name, obj)
            if isinstance(obj, h5py.Dataset) and obj.ndim >= 1
            else None
        )
    )
    firsts = [d.shape[0] for d in datasets.values()]
    n = max(set(firsts), key=firsts.count) if firsts else 0
    datasets = {k: d for k, d in datasets.items() if d.shape[0] == n}
    for start in range(0, max(n, 1), chunk_size):
        stop = min(start + chunk_size, n)
        keys: dict[str, np.ndarray | Loader] = {
            k: _slice_loader(d, start, stop) for k, d in datasets.items()
        }
        yield KeyTable(where, max(stop - start, 0), keys, meta=dict(meta))


def _text(values: np.ndarray) -> np.ndarray:
    """HDF5 strings come back as bytes: decode them, as categories are compared as text."""
    if values.dtype.kind == "S":
        return values.astype(str)
    if values.dtype.kind == "O" and len(values) and isinstance(values.flat[0], bytes):
        decoded = [v.decode() if isinstance(v, bytes) else v for v in values.ravel()]
        return np.asarray(decoded, dtype=str).reshape(values.shape)
    return values


def _slice_loader(dataset: Any, start: int, stop: int) -> Loader:
    return lambda: _text(np.asarray(dataset[start:stop]))


def _concat_loader(members: list[Any], key: str) -> Loader:
    return lambda: _text(np.concatenate([np.asarray(m[key][()]) for m in members]))


def _record_attrs(groups: list[Any]) -> dict[str, np.ndarray]:
    common = set.intersection(*(set(g.attrs) for g in groups)) if groups else set()
    out: dict[str, np.ndarray] = {}
    for key in sorted(common):
        values = [_attr(g.attrs[key]) for g in groups]
        if all(isinstance(v, (int, float, bool)) for v in values):
            out[key] = np.asarray(values)
        elif all(isinstance(v, str) for v in values):
            out[key] = np.asarray(values, dtype=str)
    return out


def _hdf5_records(
    group: Any, where: str, chunk_size: int, unit: str, meta: dict[str, Any]
) -> Iterator[KeyTable]:
    import h5py

    names = list(group.keys())
    if not names:
        raise InferenceError(f"{where} holds no records")
    common = sorted(
        set.intersection(
            *({k for k, v in group[n].items() if isinstance(v, h5py.Dataset)} for n in names)
        )
    )
    if not common:
        raise InferenceError(f"{where}: the records share no dataset")
    batch: list[str] = []
    rows = 0
    for name in names:
        batch.append(name)
        rows += int(group[name][common[0]].shape[0])
        if rows >= chunk_size:
            yield _records_chunk(group, batch, common, where, unit, meta)
            batch, rows = [], 0
    if batch:
        yield _records_chunk(group, batch, common, where, unit, meta)


def _records_chunk(
    group: Any, names: list[str], keys: list[str], where: str, unit: str, meta: dict[str, Any]
) -> KeyTable:
    members = [group[n] for n in names]
    lengths = np.asarray([m[keys[0]].shape[0] for m in members], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    # Read on first use (the file stays open while the caller works on this chunk).
    row_keys: dict[str, np.ndarray | Loader] = {k: _concat_loader(members, k) for k in keys}
    record_keys = {**_record_attrs(members), "record": np.asarray(names, dtype=str)}
    if unit == "rows":
        row_keys.update({k: np.repeat(v, lengths) for k, v in record_keys.items()})
        return KeyTable(where, int(offsets[-1]), row_keys, {}, None, dict(meta))
    return KeyTable(where, int(offsets[-1]), row_keys, record_keys, offsets, dict(meta))


_FOLDER_SOURCES = ("folder", "edf")


def _edf_tables(
    path: Path, source: Any, *, meta: dict[str, Any], on_bad: str
) -> Iterator[KeyTable]:
    """A folder of EDF nights (or one night's file: the run's edf source pointed at it, its
    hypnogram found beside it), one table per night: memory holds one night's signals."""
    from trainspec.data import SourceContext, iter_edf_records, single_recording

    narrowed = (
        source.model_copy(update={"path": str(path)})
        if path.is_dir()
        else single_recording(source, path)
    )
    for table in iter_edf_records(narrowed, SourceContext(on_bad=on_bad)):
        table.meta = {**meta, **table.meta}
        yield table


def _whole_source(path: Path, source: Any, on_bad: str = "error") -> KeyTable:
    """A folder of records: the run's own source type, pointed at the new folder, read whole."""
    from trainspec.data import SourceContext, get_source

    kind = getattr(source, "type", None)
    if kind not in _FOLDER_SOURCES:
        raise InferenceError(
            f"{path} is a folder; the run was trained on a {kind or '?'} "
            "source: pass a file (csv, parquet, npy, npz, hdf5)"
        )
    ctx = SourceContext(on_bad=on_bad)
    return get_source(kind).load(source.model_copy(update={"path": str(path)}), ctx)
