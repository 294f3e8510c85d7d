"""Files a data spec names: found (or an error listing what is there instead) and hashed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from trainspec.errors import DataError

__all__ = ["hash_file", "resolve_path"]


def resolve_path(path: str, what: str) -> Path:
    """An existing file or folder, or an error naming it and listing what is beside it."""
    p = Path(path).expanduser()
    if p.exists():
        return p
    parent = p.parent if p.parent.exists() else None
    if parent is None:
        raise DataError(f"{what}: {str(p)!r} does not exist, nor does its folder {str(p.parent)!r}")
    listing = sorted(c.name for c in parent.iterdir())
    shown = ", ".join(listing[:30]) + (" ..." if len(listing) > 30 else "")
    raise DataError(
        f"{what}: {str(p)!r} does not exist; {str(parent.resolve())!r} holds: {shown or 'nothing'}"
    )


def hash_file(path: Path, digest: Any) -> None:
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
