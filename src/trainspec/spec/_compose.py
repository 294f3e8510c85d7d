"""Composition: ``extends``, file references, and the merge rule.

- **Merge**: mappings merge key by key, recursively; anything else (a list, a scalar) on the
  right replaces what is on the left. ``merge(a, {})`` is ``a``.
- **extends**: a spec's top-level ``extends: base.yaml`` (or a list of files) names specs it
  builds on. Paths are relative to the folder of the declaring file. The bases are merged in
  order, then the file itself on top; bases may extend others; a cycle is an error. The
  ``extends`` key never appears in the result.
- **File references**: a job spec's top-level ``model: net.yaml`` loads that architecture spec
  in place, and any key named ``params`` whose value is a file name (``params:
  net_params.json``) loads that file as a mapping. A file name is a string ending in ``.yaml``,
  ``.yml`` or ``.json``, relative to the declaring file (or, in an override or a mapping passed
  from Python, to the working directory). Referenced files may use ``extends`` themselves.

References are resolved before interpolation, so a file name may use ``${here}`` but not
``${a.b}`` or ``${env:...}``. Other relative paths in a spec (data files) are not rewritten:
the data layer opens them relative to the working directory; write ``${here}/data.csv`` for
a file beside the spec.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from trainspec.errors import SpecError, format_path
from trainspec.spec._interp import expand_here
from trainspec.spec._paths import (
    KeyPath,
    Origin,
    Origins,
    copy_subtree,
    display_path,
    drop_subtree,
    get_at,
    graft,
    lookup_origin,
    stamp,
    walk,
)
from trainspec.spec._read import SPEC_SUFFIXES, Document, read_spec_file

__all__ = [
    "Composer",
    "document_from_mapping",
    "is_file_ref",
    "merge",
    "merge_documents",
]

Role = Literal["spec", "arch", "params"]


def is_file_ref(value: Any) -> bool:
    """Whether a value names a spec file (``net.yaml``, ``params.json``)."""
    return isinstance(value, str) and value.lower().endswith(SPEC_SUFFIXES) and "\n" not in value


def merge(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """Deep merge: mappings merge key by key; anything else on the right replaces the left."""
    out = copy.deepcopy(dict(base))
    _merge_into(out, top, (), {}, {})
    return out


def merge_documents(base: Document, top: Document) -> Document:
    """``merge`` of the data, keeping the origin of every key that survives."""
    if not base.data:
        return Document(copy.deepcopy(top.data), dict(top.origins))
    data = copy.deepcopy(base.data)
    origins = dict(base.origins)
    _merge_into(data, top.data, (), origins, top.origins)
    if () in top.origins:
        origins[()] = top.origins[()]
    return Document(data, origins)


def _merge_into(
    dst: dict[str, Any],
    src: Mapping[str, Any],
    prefix: KeyPath,
    dst_origins: Origins,
    src_origins: Mapping[KeyPath, Origin],
) -> None:
    for key, value in src.items():
        path = (*prefix, key)
        old = dst.get(key)
        if isinstance(value, dict) and isinstance(old, dict):
            if path in src_origins:
                dst_origins[path] = src_origins[path]
            _merge_into(old, value, path, dst_origins, src_origins)
            continue
        if key in dst:
            drop_subtree(dst_origins, path, old)
        dst[key] = copy.deepcopy(value)
        copy_subtree(src_origins, dst_origins, path, value)


def _plain(value: Any, path: KeyPath, label: str, here: str) -> Any:
    """A value from Python as plain spec data: Paths become strings, tuples lists."""
    if isinstance(value, str):
        return expand_here(value, here)
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise SpecError.single(
                    f"keys must be strings; found {key!r} ({type(key).__name__})",
                    path=path,
                    file=label,
                )
            out[key] = _plain(item, (*path, key), label, here)
        return out
    if isinstance(value, list | tuple):
        return [_plain(item, (*path, i), label, here) for i, item in enumerate(value)]
    raise SpecError.single(
        f"a value of type {type(value).__name__} cannot be part of a spec",
        path=path,
        file=label,
        hint="specs hold strings, numbers, booleans, None, lists and mappings",
    )


def document_from_mapping(mapping: Mapping[str, Any], label: str) -> Document:
    """A mapping passed from Python as a Document; every key's origin is ``label``."""
    data = _plain(mapping, (), label, os.getcwd())
    origins: Origins = {}
    stamp(origins, (), data, Origin(label))
    return Document(data, origins)


class Composer:
    """Reads spec files and resolves ``extends`` and file references, recording every file."""

    def __init__(self) -> None:
        self.files: list[str] = []

    def load_file(
        self,
        path: Path,
        *,
        role: Role = "spec",
        chain: tuple[Path, ...] = (),
        named_by: tuple[str, Origin | None] | None = None,
    ) -> Document:
        """Read ``path`` and compose it. ``chain`` is the files being composed (for cycles);
        ``named_by`` is the key and place that named this file (for error messages)."""
        path = Path(os.path.abspath(path.expanduser()))
        ident = path.resolve()
        if ident in chain:
            raise self._cycle(chain[chain.index(ident) :], ident, named_by)
        if named_by is not None and not path.exists():
            raise self._missing(path, named_by)
        doc = read_spec_file(path)
        shown = display_path(path)
        if shown not in self.files:
            self.files.append(shown)
        return self.compose(doc, path.parent, role=role, chain=(*chain, ident))

    def compose(
        self, doc: Document, folder: Path, *, role: Role = "spec", chain: tuple[Path, ...] = ()
    ) -> Document:
        """Apply ``doc``'s ``extends`` and file references; paths are relative to ``folder``."""
        bases = self._extends(doc)
        self.resolve_refs(doc, folder, role=role, chain=chain)
        result = Document()
        for name, origin in bases:
            base = self.load_file(
                folder / name, role=role, chain=chain, named_by=("'extends'", origin)
            )
            result = merge_documents(result, base)
        return merge_documents(result, doc)

    def resolve_refs(
        self, doc: Document, folder: Path, *, role: Role = "spec", chain: tuple[Path, ...] = ()
    ) -> None:
        """Replace file references in ``doc`` (in place) by the files' contents."""
        if role == "spec" and is_file_ref(doc.data.get("model")):
            self._replace(doc, ("model",), folder, "arch", chain)
        refs = [p for p, v in walk(doc.data, ()) if p[-1] == "params" and is_file_ref(v)]
        for path in refs:
            self._replace(doc, path, folder, "params", chain)

    def _replace(
        self, doc: Document, path: KeyPath, folder: Path, role: Role, chain: tuple[Path, ...]
    ) -> None:
        name = get_at(doc.data, path)
        named_by = (f"'{format_path(path)}'", lookup_origin(doc.origins, path))
        sub = self.load_file(folder / name, role=role, chain=chain, named_by=named_by)
        get_at(doc.data, path[:-1])[path[-1]] = sub.data
        drop_subtree(doc.origins, path, name)
        graft(doc.origins, path, sub.origins)

    @staticmethod
    def _extends(doc: Document) -> list[tuple[str, Origin | None]]:
        if "extends" not in doc.data:
            return []
        value = doc.data.pop("extends")
        origins = doc.origins
        key_origin = origins.get(("extends",))
        names = value if isinstance(value, list) else [value]
        bases: list[tuple[str, Origin | None]] = []
        for i, name in enumerate(names):
            if not isinstance(name, str) or not name:
                raise _at(
                    key_origin,
                    f"'extends' takes a file path or a list of file paths; found {value!r}",
                    ("extends",),
                    "write extends: base.yaml or extends: [a.yaml, b.yaml]",
                )
            item_origin = origins.get(("extends", i)) if isinstance(value, list) else None
            bases.append((name, item_origin or key_origin))
        drop_subtree(origins, ("extends",), value)
        return bases

    @staticmethod
    def _missing(path: Path, named_by: tuple[str, Origin | None]) -> SpecError:
        key, origin = named_by
        return _at(
            origin,
            f"{key} names a file that does not exist: {display_path(path)} (looked for {path})",
            (),
            "paths in a spec are relative to the folder of the file that names them",
        )

    @staticmethod
    def _cycle(
        loop: tuple[Path, ...], again: Path, named_by: tuple[str, Origin | None] | None
    ) -> SpecError:
        shown = " -> ".join(display_path(p) for p in (*loop, again))
        origin = named_by[1] if named_by else None
        return _at(
            origin,
            f"spec files include each other in a cycle: {shown}",
            (),
            "remove one of the 'extends' or file references in the loop",
        )


def _at(origin: Origin | None, message: str, path: KeyPath, hint: str | None) -> SpecError:
    return SpecError.single(
        message,
        path=path,
        file=origin.source if origin else None,
        line=origin.line if origin else None,
        column=origin.column if origin else None,
        hint=hint,
    )
