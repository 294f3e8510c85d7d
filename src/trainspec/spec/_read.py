"""Reading one spec file: size and encoding checks, then the YAML or JSON reader."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trainspec.errors import SpecError
from trainspec.spec._json import parse_json
from trainspec.spec._limits import MAX_FILE_BYTES
from trainspec.spec._paths import Origins, display_path
from trainspec.spec._yaml import parse_yaml

__all__ = ["SPEC_SUFFIXES", "Document", "decode", "read_spec_file"]

SPEC_SUFFIXES = (".yaml", ".yml", ".json")


@dataclass
class Document:
    """Plain data and the origin of each key path in it."""

    data: dict[str, Any] = field(default_factory=dict)
    origins: Origins = field(default_factory=dict)


def decode(raw: bytes, source: str) -> str:
    """UTF-8 text (a leading byte-order mark is allowed), or a SpecError at the bad byte."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise SpecError.single(
            f"the file is not UTF-8 text: byte 0x{raw[exc.start]:02x} at byte offset "
            f"{exc.start} (line {line}) cannot be decoded",
            file=source,
            hint="save the file as UTF-8",
        ) from None


def _missing(path: Path, source: str, referenced_by: str | None) -> SpecError:
    where = f"; named by {referenced_by}" if referenced_by else ""
    hint = (
        "paths in a spec are relative to the folder of the file that names them"
        if referenced_by
        else "check the path"
    )
    return SpecError.single(
        f"spec file not found: {source} (looked for {path.absolute()}){where}",
        file=source,
        hint=hint,
    )


def read_spec_file(path: Path, *, referenced_by: str | None = None) -> Document:
    """Read a ``.yaml``/``.yml``/``.json`` file whose top level must be a mapping.

    ``referenced_by`` says who named the file (for the message when it is missing).
    """
    source = display_path(path)
    if not path.exists():
        raise _missing(path, source, referenced_by)
    if not path.is_file():
        raise SpecError.single(f"{source} is a folder, not a spec file", file=source)
    suffix = path.suffix.lower()
    if suffix not in SPEC_SUFFIXES:
        raise SpecError.single(
            f"unsupported spec file type {suffix or '(none)'!r}",
            file=source,
            hint="specs are .yaml, .yml or .json files",
        )
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise SpecError.single(
            f"the file is {size:,} bytes, over the limit of {MAX_FILE_BYTES:,} bytes "
            f"({MAX_FILE_BYTES // 1024} KiB) for a spec: reading YAML is slow (about 2 s at "
            "this size), and a spec is a few kilobytes",
            file=source,
            hint="is this a data file? Keep data in the data section's source, not in a spec",
        )
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SpecError.single(f"cannot read the file: {exc.strerror}", file=source) from None
    here = os.path.abspath(path.parent)
    return parse_document(decode(raw, source), source, here=here, json=suffix == ".json")


def parse_document(text: str, source: str, *, here: str, json: bool) -> Document:
    """Parse the text of one spec; the top level must be a non-empty mapping."""
    if not text.strip():
        raise SpecError.single("the file is empty", file=source, hint="a spec is a mapping")
    parse = parse_json if json else parse_yaml
    value, origins = parse(text, source, here)
    if value is None:
        raise SpecError.single(
            "the file has no content (only comments or an empty document)",
            file=source,
            hint="a spec is a mapping of keys to values",
        )
    if not isinstance(value, dict):
        found = "a list" if isinstance(value, list) else f"{value!r} ({type(value).__name__})"
        raise SpecError.single(
            f"the top level must be a mapping of keys to values; found {found}",
            file=source,
            line=1,
            hint="write 'key: value' lines at the top level",
        )
    return Document(value, origins)
