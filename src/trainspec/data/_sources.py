"""Built-in sources: each turns its ``source:`` spec into a ``KeyTable`` and hashes its content.

Registered under the registry kind ``source``; a plugin may add its own object with the same
two methods (``load`` and ``content``).
"""

from __future__ import annotations

import hashlib
import json
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from trainspec.data._files import hash_file, resolve_path
from trainspec.data._manifest import read_manifest
from trainspec.data._table import KeyTable
from trainspec.errors import DataError
from trainspec.registry import registry, resolve

__all__ = [
    "Source",
    "SourceContext",
    "common_rows",
    "get_source",
    "sklearn_source_keys",
]


@dataclass(frozen=True)
class SourceContext:
    """What a source may use beyond its spec: the allow-list, arrays from Python, where to
    keep decoded data (``cache_dir``), what to do with unreadable files and how many worker
    processes may decode them."""

    allow_imports: tuple[str, ...] = ()
    arrays: tuple[Any, Any] | None = None
    cache_dir: Path | None = None
    on_bad: str = "error"
    workers: int = 0


class Source(Protocol):
    def load(self, spec: Any, ctx: SourceContext) -> KeyTable: ...

    def content(self, spec: Any, ctx: SourceContext, digest: Any) -> None: ...


def get_source(kind: str) -> Source:
    """The registered source; a registered class is instantiated (it stores no state)."""
    found = resolve("source", kind, ("data", "source", "type"))
    source: Source = found() if isinstance(found, type) else found
    return source


def _frame_table(frame: Any, where: str, meta: dict[str, Any] | None = None) -> KeyTable:
    keys: dict[str, np.ndarray | Callable[[], np.ndarray]] = {
        str(c): frame[c].to_numpy() for c in frame.columns
    }
    return KeyTable(where=where, n_rows=len(frame), row_keys=keys, meta=meta or {})


def common_rows(arrays: dict[str, tuple[int, ...]]) -> int:
    """The most common first dimension: the row count of a keyed-array file."""
    firsts = [s[0] for s in arrays.values() if len(s) >= 1]
    if not firsts:
        return 0
    values, counts = np.unique(firsts, return_counts=True)
    return int(values[np.argmax(counts)])


class _FileSource:
    def content(self, spec: Any, ctx: SourceContext, digest: Any) -> None:
        hash_file(resolve_path(spec.path, f"{spec.type} source"), digest)


@registry.register("source", "csv")
class CsvLoader(_FileSource):
    def load(self, spec: Any, ctx: SourceContext) -> KeyTable:
        import pandas as pd

        path = resolve_path(spec.path, "csv source")
        try:
            frame = pd.read_csv(path, **spec.options)
        except (ValueError, TypeError, pd.errors.ParserError) as exc:
            raise DataError(f"csv source {str(path)!r} cannot be read: {exc}") from exc
        return _frame_table(frame, f"CSV file {str(path)!r}")


@registry.register("source", "parquet")
class ParquetLoader(_FileSource):
    def load(self, spec: Any, ctx: SourceContext) -> KeyTable:
        import pandas as pd

        path = resolve_path(spec.path, "parquet source")
        try:
            frame = pd.read_parquet(path)
        except ImportError as exc:
            raise DataError("parquet source needs pyarrow: pip install 'trainspec[data]'") from exc
        return _frame_table(frame, f"Parquet file {str(path)!r}")


@registry.register("source", "sklearn")
class SklearnLoader:
    def load(self, spec: Any, ctx: SourceContext) -> KeyTable:
        from sklearn import datasets

        bunch = getattr(datasets, f"load_{spec.name}")()
        names = [str(n) for n in bunch.feature_names]
        keys: dict[str, np.ndarray | Callable[[], np.ndarray]] = {
            n: bunch.data[:, j] for j, n in enumerate(names)
        }
        keys["target"] = bunch.target
        meta: dict[str, Any] = {"default_target": "target", "features": names}
        target_names = getattr(bunch, "target_names", None)
        if bunch.target.ndim == 2 and target_names is not None:
            meta["target_columns"] = [str(t) for t in target_names]
        elif target_names is not None:
            meta["class_names"] = [str(t) for t in target_names]
        return KeyTable(
            where=f"scikit-learn data set {spec.name!r}",
            n_rows=len(bunch.target),
            row_keys=keys,
            meta=meta,
        )

    def content(self, spec: Any, ctx: SourceContext, digest: Any) -> None:
        import sklearn

        digest.update(f"sklearn:{spec.name}:{sklearn.__version__}".encode())


def sklearn_source_keys() -> dict[str, list[str]]:
    """The keys of each scikit-learn data set a ``sklearn`` source may name."""
    from sklearn import datasets

    from trainspec.spec import SklearnSource

    out = {}
    for name in typing.get_args(SklearnSource.model_fields["name"].annotation):
        bunch = getattr(datasets, f"load_{name}")()
        out[name] = [*(str(n) for n in bunch.feature_names), "target"]
    return out


@registry.register("source", "arrays")
class ArraysLoader:
    def _arrays(self, ctx: SourceContext) -> dict[str, Any]:
        if ctx.arrays is None:
            raise DataError(
                "source type 'arrays' needs data handed over from Python, e.g. "
                "train_model(X, y, config); from a spec file use csv, parquet, npz or hdf5"
            )
        x, y = ctx.arrays
        out: dict[str, Any] = {}
        if isinstance(x, dict):
            out.update({str(k): v for k, v in x.items()})
        elif hasattr(x, "columns") and hasattr(x, "to_numpy"):
            out.update({str(c): x[c].to_numpy() for c in x.columns})
        else:
            out["x"] = np.asarray(x)
        if y is not None:
            out["target"] = y.to_numpy() if hasattr(y, "to_numpy") else np.asarray(y)
        return out

    def load(self, spec: Any, ctx: SourceContext) -> KeyTable:
        arrays = {k: np.asarray(v) for k, v in self._arrays(ctx).items()}
        n = common_rows({k: a.shape for k, a in arrays.items()})
        features = [k for k in arrays if k != "target"]
        meta: dict[str, Any] = {"features": features}
        if "target" in arrays:
            meta["default_target"] = "target"
        return KeyTable(where="the arrays passed in", n_rows=n, row_keys=dict(arrays), meta=meta)

    def content(self, spec: Any, ctx: SourceContext, digest: Any) -> None:
        for name, value in sorted(self._arrays(ctx).items()):
            arr = np.ascontiguousarray(np.asarray(value))
            digest.update(f"{name}:{arr.dtype.str}:{arr.shape}".encode())
            if arr.dtype.kind == "O":
                digest.update(json.dumps([str(v) for v in arr.ravel()]).encode())
            else:
                digest.update(arr.tobytes())


def records_table(
    where: str,
    names: Sequence[str],
    lengths: np.ndarray,
    read: Callable[[str], list[np.ndarray]],
    row_key_names: Sequence[str],
    attrs: dict[str, np.ndarray],
    unit: str,
    meta: dict[str, Any],
) -> KeyTable:
    """Record data: row keys concatenate each record's arrays; attributes are record keys."""
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)

    def loader(key: str) -> Callable[[], np.ndarray]:
        def load() -> np.ndarray:
            parts = read(key)
            for name, part, n in zip(names, parts, lengths, strict=True):
                if len(part) != n:
                    raise DataError(
                        f"{where}: record {name!r} has {len(part)} rows in {key!r} but {n} in "
                        "its other arrays; every array of a record needs one entry per row"
                    )
            return np.concatenate(parts) if parts else np.zeros(0)

        return load

    row_keys: dict[str, np.ndarray | Callable[[], np.ndarray]] = {
        k: loader(k) for k in row_key_names
    }
    record_keys = {**attrs, "record": np.asarray(names, dtype=str)}
    if unit == "rows":
        row_keys.update({k: np.repeat(v, lengths) for k, v in record_keys.items()})
        return KeyTable(where, int(offsets[-1]), row_keys, {}, None, meta)
    return KeyTable(where, int(offsets[-1]), row_keys, record_keys, offsets, meta)


def _attr_value(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.ndarray):
        return [_attr_value(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _attr_columns(per_record: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    common = set.intersection(*(set(a) for a in per_record)) if per_record else set()
    out: dict[str, np.ndarray] = {}
    for key in sorted(common):
        values = [_attr_value(a[key]) for a in per_record]
        if all(isinstance(v, (int, float, bool)) for v in values):
            out[key] = np.asarray(values)
        elif all(isinstance(v, str) for v in values):
            out[key] = np.asarray(values, dtype=str)
    return out


@registry.register("source", "hdf5")
class Hdf5Loader(_FileSource):
    def _h5(self) -> Any:
        try:
            import h5py
        except ImportError as exc:
            raise DataError("hdf5 source needs h5py: pip install 'trainspec[data]'") from exc
        return h5py

    def load(self, spec: Any, ctx: SourceContext) -> KeyTable:
        h5py = self._h5()
        path = resolve_path(spec.path, "hdf5 source")
        where = f"HDF5 file {str(path)!r}"
        with h5py.File(path, "r") as f:
            meta = {k: _attr_value(v) for k, v in f.attrs.items()}
            if spec.records is None:
                return self._tabular(f, path, where, meta)
            if spec.records not in f:
                groups = [k for k in f if isinstance(f[k], h5py.Group)]
                raise DataError(
                    f"{where} has no group {spec.records!r} (source.records); its groups: "
                    f"{', '.join(groups) or 'none'}"
                )
            group = f[spec.records]
            names = list(group.keys())
            if not names:
                raise DataError(f"{where}: group {spec.records!r} holds no records")
            datasets = [
                {k for k, v in group[n].items() if isinstance(v, h5py.Dataset)} for n in names
            ]
            common = sorted(set.intersection(*datasets))
            if not common:
                raise DataError(f"{where}: the records of {spec.records!r} share no dataset")
            lengths = np.asarray([group[n][common[0]].shape[0] for n in names], dtype=np.int64)
            attrs = _attr_columns([dict(group[n].attrs) for n in names])

        records = spec.records

        def read(key: str) -> list[np.ndarray]:
            with h5py.File(path, "r") as f:
                return [np.asarray(f[records][n][key][()]) for n in names]

        where = f"records {spec.records!r} of {where}"
        return records_table(where, names, lengths, read, common, attrs, spec.unit, meta)

    def _tabular(self, f: Any, path: Path, where: str, meta: dict[str, Any]) -> KeyTable:
        h5py = self._h5()
        shapes: dict[str, tuple[int, ...]] = {}
        f.visititems(
            lambda name, obj: (
                shapes.__setitem__(name, obj.shape)
                if isinstance(obj, h5py.Dataset) and len(obj.shape) >= 1
                else None
            )
        )

        def loader(key: str) -> Callable[[], np.ndarray]:
            def load() -> np.ndarray:
                with h5py.File(path, "r") as fh:
                    return np.asarray(fh[key][()])

            return load

        keys: dict[str, np.ndarray | Callable[[], np.ndarray]] = {k: loader(k) for k in shapes}
        return KeyTable(where, common_rows(shapes), keys, meta=meta)


@registry.register("source", "folder")
class FolderLoader:
    def _manifest(self, spec: Any) -> tuple[Path, Any]:
        folder = resolve_path(spec.path, "folder source")
        _, table = read_manifest(folder, spec.manifest, spec.file_column, "folder source")
        return folder, table

    def _read(self, path: Path) -> dict[str, np.ndarray]:
        import pandas as pd

        suffix = path.suffix.lower()
        if suffix == ".csv":
            frame = pd.read_csv(path)
        elif suffix == ".parquet":
            frame = pd.read_parquet(path)
        elif suffix in (".npy", ".npz"):
            loaded = np.load(path, allow_pickle=False)
            if isinstance(loaded, np.ndarray):
                return {"x": loaded}
            with loaded:
                return {k: loaded[k] for k in loaded.files}
        else:
            raise DataError(
                f"folder source: {str(path)!r} has an unsupported extension; use .csv, "
                ".parquet, .npy or .npz"
            )
        return {str(c): frame[c].to_numpy() for c in frame.columns}

    def load(self, spec: Any, ctx: SourceContext) -> KeyTable:
        folder, table = self._manifest(spec)
        names = [str(n) for n in table[spec.file_column]]
        files = [
            resolve_path(str(folder / n), f"folder source ({spec.manifest} row {i})")
            for i, n in enumerate(names)
        ]
        contents = [self._read(p) for p in files]
        common = sorted(set.intersection(*(set(c) for c in contents))) if contents else []
        if not common:
            raise DataError(f"folder source {str(folder)!r}: the files share no column or array")
        lengths = np.asarray([len(c[common[0]]) for c in contents], dtype=np.int64)
        attr_frame = table.drop(columns=[spec.file_column])
        attrs = {str(c): attr_frame[c].to_numpy() for c in attr_frame.columns}
        attrs = {k: (v.astype(str) if v.dtype.kind == "O" else v) for k, v in attrs.items()}

        def read(key: str) -> list[np.ndarray]:
            return [c[key] for c in contents]

        where = f"folder {str(folder)!r}"
        return records_table(where, names, lengths, read, common, attrs, spec.unit, {})

    def content(self, spec: Any, ctx: SourceContext, digest: Any) -> None:
        folder, table = self._manifest(spec)
        hash_file(folder / spec.manifest, digest)
        for name in table[spec.file_column]:
            digest.update(str(name).encode())
            hash_file(resolve_path(str(folder / str(name)), "folder source"), digest)


@registry.register("source", "dataset")
class DatasetLoader:
    """A user's Dataset is served as is; ``trainspec.data._dataset`` handles it."""

    def load(self, spec: Any, ctx: SourceContext) -> KeyTable:
        raise DataError("a 'dataset' source is not a table; use trainspec.data.prepare_data")

    def content(self, spec: Any, ctx: SourceContext, digest: Any) -> None:
        digest.update(
            json.dumps(
                [spec.target, spec.params, spec.collate_fn], sort_keys=True, default=str
            ).encode()
        )


def content_hash(spec: Any, ctx: SourceContext) -> str:
    digest = hashlib.sha256()
    digest.update(spec.model_dump_json().encode())
    get_source(spec.type).content(spec, ctx, digest)
    return digest.hexdigest()
