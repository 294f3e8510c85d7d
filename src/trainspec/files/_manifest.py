"""Checksummed directories: ``manifest.json`` lists the sha256 of every file beside it.

A checkpoint (``checkpoints/ckpt-*``, ``best``, ``last``) and a saved model (``model/``) are
written with a manifest, last; every reader verifies it with ``verify_manifest`` before trusting
a byte, and a damaged directory is reported with the same sentence wherever it is read.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from trainspec.errors import IntegrityError
from trainspec.files._write import fsync

__all__ = [
    "MANIFEST",
    "MANIFEST_FORMAT",
    "fsync_dir",
    "sha256_file",
    "verify_manifest",
    "write_manifest",
]

MANIFEST = "manifest.json"
MANIFEST_FORMAT = 1


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fsync_dir(path: Path) -> None:
    """Make a rename or a new file in ``path`` durable (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_manifest(
    directory: Path, files: Iterable[str], extra: Mapping[str, Any] | None = None
) -> None:
    """Write ``directory/manifest.json`` with the sha256 of ``files``; fsync the files, the
    manifest and the folder. Call it once every file is written: it marks the folder done."""
    names = list(files)
    for name in names:
        with (directory / name).open("rb") as fh:
            fsync(fh.fileno())
    manifest = {"format": MANIFEST_FORMAT, "files": {n: sha256_file(directory / n) for n in names}}
    manifest.update(extra or {})
    with (directory / MANIFEST).open("w", encoding="utf-8") as fh:
        fh.write(json.dumps(manifest, sort_keys=True))
        fh.flush()
        fsync(fh.fileno())
    fsync_dir(directory)


def _damaged(what: str, directory: Path, detail: str) -> IntegrityError:
    return IntegrityError(
        f"{what} {directory} fails its integrity check: {detail}; its files cannot be trusted"
    )


def verify_manifest(directory: Path, *, what: str = "checkpoint") -> dict[str, Any]:
    """Check every file of ``directory`` against its manifest; the manifest when all match.

    ``IntegrityError`` (one sentence naming the folder, the file and the fault) when the
    manifest is missing (the folder was never finished), unreadable, of another format, or
    when a listed file is missing or its checksum differs (truncated or corrupted).
    """
    path = directory / MANIFEST
    if not path.is_file():
        raise _damaged(what, directory, f"it has no {MANIFEST} (it was never finished)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        files: dict[str, str] = dict(manifest["files"])
    except (ValueError, KeyError, TypeError) as exc:
        raise _damaged(what, directory, f"{MANIFEST} is unreadable ({exc})") from None
    if manifest.get("format") != MANIFEST_FORMAT:
        raise _damaged(
            what,
            directory,
            f"{MANIFEST} has format {manifest.get('format')!r}, this version reads "
            f"{MANIFEST_FORMAT}",
        )
    for name, expected in sorted(files.items()):
        file = directory / name
        if Path(name).name != name or not file.is_file():
            raise _damaged(what, directory, f"{name} is missing")
        if sha256_file(file) != expected:
            raise _damaged(
                what,
                directory,
                f"{name} does not match its checksum in {MANIFEST} (truncated or corrupted)",
            )
    return dict(manifest)
