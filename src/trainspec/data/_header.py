"""Static checks of the ``data:`` section: the source's path is there and is a file or a
folder as its kind needs, and every key a role names (target, group, id, weight, features,
inputs, split column) is one of the source's keys, read from the header only (the first line
of a CSV, a Parquet schema, the names in an NPZ archive, the dataset names of an HDF5 file,
a folder's manifest and its first file), never the data.

Layouts are checked where that is cheap: an HDF5 file's records group, a folder source's
manifest column and the files it lists.
"""

from __future__ import annotations

import csv
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from trainspec.errors import Problem, closest
from trainspec.registry import builtin_table
from trainspec.spec import DataSpec, InputSpec, WeightSpec

__all__ = ["data_problems", "source_keys"]

KeyPath = tuple[str | int, ...]
_FILE_SOURCES = ("csv", "parquet", "npy", "npz", "hdf5")
# pandas.read_csv options that change which columns there are: the header cannot tell then.
_COLUMN_OPTIONS = ("header", "names", "usecols", "index_col", "skiprows", "comment")


def data_problems(data: DataSpec) -> list[Problem]:
    """Problems with the source's path and with the keys the roles name."""
    path_problems = _path_problems(data)
    if path_problems:
        return path_problems
    try:
        layout = layout_problems(data)
        if layout:
            return layout
        keys = source_keys(data)
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        return [
            Problem(
                f"the {data.source.type} file cannot be read: {exc}",
                ("data", "source", "path"),
                hint="check that the file is what its type says",
            )
        ]
    if keys is None:
        return []
    problems = []
    for path, key in _role_keys(data):
        if key not in keys:
            near = closest(key, keys)
            shown = ", ".join(keys[:20]) + (" ..." if len(keys) > 20 else "")
            hint = f"did you mean {near!r}? " if near else ""
            problems.append(
                Problem(
                    f"key {key!r} is not in the data ({_where(data)})",
                    path,
                    hint=f"{hint}Its keys: {shown}",
                )
            )
    return problems


def _where(data: DataSpec) -> str:
    path = getattr(data.source, "path", None)
    return f"{data.source.type} file {path!r}" if path else f"{data.source.type} source"


def _paths(data: DataSpec) -> list[tuple[KeyPath, str, str]]:
    """(key path, path as written, "file" or "folder") for every path the source names."""
    source: Any = data.source
    at: KeyPath = ("data", "source")
    if source.type in ("folder", "images"):
        out = [((*at, "path"), source.path, "folder")]
        if source.manifest is not None:
            manifest = str(Path(source.path) / source.manifest)
            out.append(((*at, "manifest"), manifest, "file"))
        return out
    if source.type not in _FILE_SOURCES:
        return []
    if getattr(source, "path", None) is not None:
        return [((*at, "path"), source.path, "file")]
    out = []
    for key in ("x", "y"):
        value = getattr(source, key, None)
        if value is not None:
            path = value if isinstance(value, str) else value.path
            where = (*at, key) if isinstance(value, str) else (*at, key, "path")
            out.append((where, path, "file"))
    return out


def _missing(source_type: str, written: str, path: Path, at: KeyPath) -> Problem:
    beside = path.parent if path.parent.is_dir() else None
    listing = sorted(c.name for c in beside.iterdir())[:15] if beside else []
    hint = (
        f"{str(beside)!r} holds: {', '.join(listing) or 'nothing'}"
        if beside
        else f"its folder {str(path.parent)!r} does not exist either"
    )
    relative = (
        ""
        if path.is_absolute()
        else f" (relative paths are taken from the working directory, {str(Path.cwd())!r}; "
        "write ${here}/... for a path beside the spec)"
    )
    message = f"{source_type} source: {written!r} does not exist{relative}"
    return Problem(message, at, hint=hint)


def _path_problems(data: DataSpec) -> list[Problem]:
    problems = []
    kind = data.source.type
    for at, written, wanted in _paths(data):
        path = Path(written).expanduser()
        if not path.exists():
            problems.append(_missing(kind, written, path, at))
            if wanted == "folder":
                break
        elif wanted == "folder" and not path.is_dir():
            problems.append(Problem(f"{kind} source: {written!r} is a file, not a folder", at))
            break  # what is named inside it cannot be looked for
        elif wanted == "file" and not path.is_file():
            problems.append(
                Problem(
                    f"{kind} source: {written!r} is a folder; this {kind} source reads a file here",
                    at,
                    hint="name the file, or use type: folder with a manifest for a folder of files",
                )
            )
    return problems


def source_keys(data: DataSpec) -> list[str] | None:
    """The source's keys from its header, or None when only loading it could tell."""
    source = data.source
    if source.type == "csv":
        if any(k in source.options for k in _COLUMN_OPTIONS):
            return None
        return _csv_header(Path(source.path), source.options)
    if source.type == "parquet":
        try:
            import pyarrow.parquet as pq
        except ImportError:
            return None
        return [str(n) for n in pq.read_schema(source.path).names]
    if source.type in ("npy", "npz") and source.path is None:
        return ["x", *(["y"] if source.y is not None else []), *(source.columns or [])]
    if source.type == "npz":
        with zipfile.ZipFile(str(source.path)) as archive:
            return [n.removesuffix(".npy") for n in archive.namelist()]
    if source.type == "npy":
        return ["x", *(source.columns or [])]
    if source.type == "images":
        base = ["image", "label", "path"]
        if source.manifest is None:
            return base
        manifest = Path(source.path) / source.manifest
        if manifest.suffix.lower() != ".csv":
            return None
        return [*base, *_csv_header(manifest, {})]
    if source.type == "sklearn":
        keys: dict[str, list[str]] = builtin_table()["kinds"]["source"]["sklearn"]["info"]["keys"]
        return keys.get(source.name)
    if source.type == "hdf5":
        return hdf5_keys(Path(source.path), source.records)
    if source.type == "folder":
        return _folder_keys(source)
    return None


def _h5py() -> Any:
    try:
        import h5py
    except ImportError:  # the loader says how to install it
        return None
    return h5py


def hdf5_keys(path: Path, records: str | None) -> list[str] | None:
    """An HDF5 file's keys from its metadata (no dataset is read): the datasets of a tabular
    file, or the datasets every record of ``records`` shares, their common attributes and
    ``record``. None without h5py; a missing records group is for ``layout_problems``."""
    h5py = _h5py()
    if h5py is None:
        return None
    with h5py.File(path, "r") as f:
        if records is None:
            found: list[str] = []
            f.visititems(
                lambda name, obj: (
                    found.append(name) if isinstance(obj, h5py.Dataset) and obj.ndim >= 1 else None
                )
            )
            return found
        group = f.get(records)
        if not isinstance(group, h5py.Group) or not len(group):
            return None
        members = [group[n] for n in group if isinstance(group[n], h5py.Group)]
        datasets = [{k for k, v in m.items() if isinstance(v, h5py.Dataset)} for m in members]
        attrs = [set(m.attrs) for m in members]
        shared = set.intersection(*datasets) if datasets else set()
        common = set.intersection(*attrs) if attrs else set()
        return [*sorted(shared), *sorted(common), "record"]


def layout_problems(data: DataSpec) -> list[Problem]:
    """A layout that cannot hold the data: an HDF5 records group that is not there or holds no
    records; a folder manifest without its file column, or listing files that do not exist."""
    source: Any = data.source
    if source.type == "hdf5" and source.records is not None:
        return _records_problems(Path(source.path), source.records)
    if source.type == "folder" and Path(source.path, source.manifest).suffix.lower() == ".csv":
        return _manifest_problems(source)
    return []


def _records_problems(path: Path, records: str) -> list[Problem]:
    h5py = _h5py()
    if h5py is None:
        return []
    at: KeyPath = ("data", "source", "records")
    with h5py.File(path, "r") as f:
        group = f.get(records)
        groups = sorted(k for k in f if isinstance(f[k], h5py.Group))
        if not isinstance(group, h5py.Group):
            near = closest(records, groups)
            return [
                Problem(
                    f"the HDF5 file {str(path)!r} has no group {records!r}",
                    at,
                    hint=(f"did you mean {near!r}? " if near else "")
                    + f"Its groups: {', '.join(groups) or 'none'}",
                )
            ]
        if not any(isinstance(group[n], h5py.Group) for n in group):
            return [
                Problem(
                    f"group {records!r} of {str(path)!r} holds no records (one subgroup each)",
                    at,
                    hint="name the group whose subgroups are the records, or leave records out "
                    "for a tabular file",
                )
            ]
    return []


def _manifest_rows(source: Any) -> tuple[list[str], list[str]]:
    """(the manifest's columns, its file names) from the CSV, read as text."""
    with Path(source.path, source.manifest).open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        columns = next(reader, [])
        if source.file_column not in columns:
            return columns, []
        j = columns.index(source.file_column)
        return columns, [row[j] for row in reader if len(row) > j]


def _manifest_problems(source: Any) -> list[Problem]:
    columns, files = _manifest_rows(source)
    if source.file_column not in columns:
        near = closest(source.file_column, columns)
        return [
            Problem(
                f"the manifest {source.manifest!r} has no column {source.file_column!r}",
                ("data", "source", "file_column"),
                hint=(f"did you mean {near!r}? " if near else "")
                + f"Its columns: {', '.join(columns) or 'none'}",
            )
        ]
    missing = [f for f in files if not Path(source.path, f).is_file()]
    if not missing:
        return []
    shown = ", ".join(repr(m) for m in missing[:5]) + (" ..." if len(missing) > 5 else "")
    return [
        Problem(
            f"{len(missing)} of the {len(files)} files the manifest {source.manifest!r} lists "
            f"are not in {source.path!r}: {shown}",
            ("data", "source", "manifest"),
            hint="file names are relative to the folder (source.path)",
        )
    ]


def _folder_keys(source: Any) -> list[str] | None:
    """A folder source's keys: the first listed file's (header only) and the manifest's
    other columns. None when the manifest is not a CSV or the file's keys need a full read."""
    if Path(source.path, source.manifest).suffix.lower() != ".csv":
        return None
    columns, files = _manifest_rows(source)
    if not files:
        return None
    first = Path(source.path, files[0])
    suffix = first.suffix.lower()
    if suffix == ".csv":
        own = _csv_header(first, {})
    elif suffix == ".npz":
        with zipfile.ZipFile(first) as archive:
            own = [n.removesuffix(".npy") for n in archive.namelist()]
    elif suffix == ".npy":
        own = ["x"]
    else:
        return None
    return [*own, *(c for c in columns if c != source.file_column), "record"]


def _csv_header(path: Path, options: dict[str, Any]) -> list[str]:
    sep = options.get("sep", options.get("delimiter", ","))
    encoding = options.get("encoding", "utf-8-sig")
    with path.open(newline="", encoding=encoding) as fh:
        if not isinstance(sep, str) or len(sep) != 1:
            line = fh.readline().rstrip("\r\n")
            return [c.strip() for c in line.split(sep if isinstance(sep, str) else ",")]
        row = next(csv.reader(fh, delimiter=sep), [])
    return [c for c in row]


def _role_keys(data: DataSpec) -> Iterator[tuple[KeyPath, str]]:
    for role in ("target", "group", "id"):
        value = getattr(data, role)
        if isinstance(value, str):
            yield ("data", role), value
    if isinstance(data.weight, str):
        yield ("data", "weight"), data.weight
    elif isinstance(data.weight, WeightSpec) and data.weight.key is not None:
        yield ("data", "weight", "key"), data.weight.key
    if isinstance(data.features, str):
        yield ("data", "features"), data.features
    elif isinstance(data.features, list):
        for i, key in enumerate(data.features):
            yield ("data", "features", i), key
    for name, spec in (data.inputs or {}).items():
        yield from _input_keys(("data", "inputs", name), spec)
    if data.split.column is not None:
        yield ("data", "split", "column"), data.split.column


def _input_keys(path: KeyPath, spec: InputSpec | list[str] | str) -> Iterator[tuple[KeyPath, str]]:
    if isinstance(spec, str):
        yield path, spec
    elif isinstance(spec, list):
        for i, key in enumerate(spec):
            yield (*path, i), key
    else:
        if spec.key is not None:
            yield (*path, "key"), spec.key
        for i, key in enumerate(spec.columns or []):
            yield (*path, "columns", i), key
