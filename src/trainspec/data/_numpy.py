"""The ``npy`` / ``npz`` source: one array or archive, or separate X and y files.

``.npy`` files, and arrays stored uncompressed in an ``.npz`` (``np.savez``), are
memory-mapped: a batch reads only its rows, so arrays larger than memory train, and
data-parallel processes share the operating system's one cached copy of the file.
Compressed archive members (``np.savez_compressed``) are read whole.
"""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from trainspec.data._files import hash_file, resolve_path
from trainspec.data._sources import SourceContext, common_rows
from trainspec.data._table import KeyTable
from trainspec.errors import DataError
from trainspec.registry import registry

__all__ = ["NumpyLoader", "load_array", "npz_arrays"]


def _read_npy(path: Path, where: str) -> np.ndarray:
    try:
        array: np.ndarray = np.load(path, mmap_mode="r", allow_pickle=False)
        return array
    except ValueError as exc:
        raise DataError(
            f"{where} cannot be read without pickle (object arrays): {exc}; save numbers or "
            "strings (np.save(path, array.astype(...)))"
        ) from exc
    except OSError as exc:
        raise DataError(f"{where} is not a NumPy .npy file: {exc}") from exc


def _mapped_member(path: Path, info: zipfile.ZipInfo) -> np.ndarray | None:
    """An uncompressed ``.npy`` member of a zip, memory-mapped in place; None if compressed."""
    if info.compress_type != zipfile.ZIP_STORED:
        return None
    with path.open("rb") as fh:
        fh.seek(info.header_offset)
        local = fh.read(30)
        name_len, extra_len = struct.unpack("<HH", local[26:30])
        fh.seek(info.header_offset + 30 + name_len + extra_len)
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
        else:
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
        if dtype.hasobject:
            return None
        offset = fh.tell()
    if int(np.prod(shape)) == 0:
        return np.zeros(shape, dtype=dtype)
    mapped: np.ndarray = np.memmap(
        path,
        dtype=dtype,
        mode="r",
        offset=offset,
        shape=tuple(shape),
        order="F" if fortran else "C",
    )
    return mapped


def npz_arrays(path: Path, where: str) -> dict[str, np.ndarray]:
    """Every array of an ``.npz``: mapped when stored uncompressed, else read."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise DataError(f"{where} is not an .npz archive: {exc}") from exc
    out: dict[str, np.ndarray] = {}
    with archive:
        members = [i for i in archive.infolist() if i.filename.endswith(".npy")]
    for info in members:
        name = info.filename[: -len(".npy")]
        mapped = _mapped_member(path, info)
        if mapped is None:
            with np.load(path, allow_pickle=False) as z:
                try:
                    mapped = z[name]
                except ValueError as exc:
                    raise DataError(
                        f"{where}: array {name!r} cannot be read without pickle: {exc}"
                    ) from exc
        out[name] = mapped
    return out


def load_array(path: Path, key: str | None, role: str) -> np.ndarray:
    """The array a ``source.x`` / ``source.y`` entry names (an npz needs ``key`` unless it
    holds one array)."""
    suffix = path.suffix.lower()
    where = f"{role} file {str(path)!r}"
    if suffix != ".npz":
        if key is not None:
            raise DataError(
                f"{role}: {str(path)!r} is one array; 'key' applies to .npz archives only"
            )
        return _read_npy(path, where)
    arrays = npz_arrays(path, where)
    if key is None and len(arrays) == 1:
        return next(iter(arrays.values()))
    if key is None or key not in arrays:
        listed = ", ".join(repr(k) for k in arrays) or "none"
        first = next(iter(arrays), "NAME")
        said = f"has no array {key!r}" if key is not None else "holds several arrays"
        raise DataError(
            f"{where} {said}; its arrays: {listed}. Name one: "
            f"{role.split('.')[-1]}: {{path: {path.name}, key: {first}}}"
        )
    return arrays[key]


class NumpyLoader:
    def _files(self, spec: Any) -> list[tuple[str, Path, str | None]]:
        """(key, path, npz key) of every file the spec names."""
        if spec.path is not None:
            return [("", resolve_path(spec.path, f"{spec.type} source"), None)]
        out = []
        for name in ("x", "y"):
            entry = getattr(spec, name)
            if entry is None:
                continue
            path, key = (entry, None) if isinstance(entry, str) else (entry.path, entry.key)
            out.append((name, resolve_path(path, f"{spec.type} source.{name}"), key))
        return out

    def content(self, spec: Any, ctx: SourceContext, digest: Any) -> None:
        for _, path, _ in self._files(spec):
            hash_file(path, digest)

    def load(self, spec: Any, ctx: SourceContext) -> KeyTable:
        if spec.path is None:
            return self._pair(spec)
        path = resolve_path(spec.path, f"{spec.type} source")
        where = f"{spec.type} file {str(path)!r}"
        if path.suffix.lower() == ".npz":
            arrays = npz_arrays(path, where)
        else:
            loaded = _read_npy(path, where)
            arrays = {"x": loaded}
            if spec.columns is not None:
                if loaded.ndim != 2 or loaded.shape[1] != len(spec.columns):
                    raise DataError(
                        f"{where}: columns names {len(spec.columns)} columns but the array has "
                        f"shape {loaded.shape}"
                    )
                arrays.update({c: loaded[:, j] for j, c in enumerate(spec.columns)})
        rows = {k: a for k, a in arrays.items() if a.ndim >= 1}
        meta = {k: a.tolist() for k, a in arrays.items() if a.ndim == 0}
        n = common_rows({k: a.shape for k, a in rows.items()})
        return KeyTable(where=where, n_rows=n, row_keys=dict(rows), meta=meta)

    def _pair(self, spec: Any) -> KeyTable:
        arrays: dict[str, np.ndarray] = {}
        paths: dict[str, Path] = {}
        for name, path, key in self._files(spec):
            arrays[name] = load_array(path, key, f"source.{name}")
            paths[name] = path
            if arrays[name].ndim == 0:
                raise DataError(f"source.{name}: {str(path)!r} holds a scalar, not rows")
        x = arrays["x"]
        if "y" in arrays and len(arrays["y"]) != len(x):
            raise DataError(
                f"source.y: {str(paths['y'])!r} has {len(arrays['y'])} rows but source.x "
                f"{str(paths['x'])!r} has {len(x)}; they need one target per input row"
            )
        meta: dict[str, Any] = {"features": ["x"]}
        if "y" in arrays:
            meta["default_target"] = "y"
        if spec.columns is not None:
            if x.ndim != 2 or x.shape[1] != len(spec.columns):
                raise DataError(
                    f"source.columns names {len(spec.columns)} columns but source.x has shape "
                    f"{x.shape}"
                )
            meta["feature_names"] = list(spec.columns)
        where = f"arrays {', '.join(str(p) for p in paths.values())}"
        return KeyTable(where=where, n_rows=len(x), row_keys=dict(arrays), meta=meta)


registry.add("source", "npy", NumpyLoader)
registry.add("source", "npz", NumpyLoader)
