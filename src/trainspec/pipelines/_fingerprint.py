"""Content fingerprints of files and folders, and of the user code a step runs.

A fingerprint is a SHA-256 over content, never over times: a file rewritten with the same
bytes keeps its fingerprint, as DVC's and Kedro's checksums do. A folder's fingerprint covers
every file under it (relative name and content), so a new, removed or changed file changes it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

__all__ = ["code_files", "digest", "fingerprint", "module_files"]

_CHUNK = 1 << 20
_DOTTED = re.compile(r"^([A-Za-z_]\w*)(\.[A-Za-z_]\w*)+$")


def _file_sha(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(_CHUNK):
            h.update(block)
    return h.hexdigest()


def fingerprint(path: str | Path) -> str | None:
    """``sha256:...`` of a file's bytes or a folder's files; None when nothing is there."""
    p = Path(path)
    if p.is_file():
        return "sha256:" + _file_sha(p)
    if not p.is_dir():
        return None
    h = hashlib.sha256()
    for item in sorted(q for q in p.rglob("*") if q.is_file()):
        rel = item.relative_to(p).as_posix()
        if any(part.startswith(".") and ".tmp-" in part for part in item.parts):
            continue  # a writer's temporary file, not yet part of the output
        h.update(f"{rel}\0{_file_sha(item)}\n".encode())
    return "sha256:" + h.hexdigest()


def digest(data: Any) -> str:
    """SHA-256 of canonical JSON: the cache key of everything that decides a step's result."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def module_files(module: str, folders: Iterable[Path]) -> list[Path]:
    """The files of a user's top-level module ``module`` found in ``folders`` (not installed
    packages: those are versioned, not the user's working code)."""
    found: list[Path] = []
    for folder in folders:
        single = folder / f"{module}.py"
        package = folder / module
        if single.is_file():
            found.append(single)
        elif (package / "__init__.py").is_file():
            found += sorted(package.rglob("*.py"))
        if found:
            break
    return found


def code_files(values: Iterable[str], folders: Iterable[Path]) -> list[Path]:
    """Users' modules named by dotted import paths among ``values`` or by ``.py`` file names."""
    folders = list(dict.fromkeys(folders))
    found: list[Path] = []
    for value in values:
        if value.endswith(".py") and Path(value).is_file():
            found.append(Path(value))
            continue
        match = _DOTTED.match(value)
        if match:
            found += module_files(match.group(1), folders)
    return list(dict.fromkeys(p.resolve() for p in found))


def fingerprints(paths: Mapping[str, str]) -> dict[str, str | None]:
    return {name: fingerprint(path) for name, path in paths.items()}
