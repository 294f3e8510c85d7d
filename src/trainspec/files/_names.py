"""Names that become paths: one rule for every name a spec or a command gives.

A job, run, sweep, experiment, pipeline step or artifact name may come from a spec, an override
or a command line; where it becomes a file or folder name it goes through ``safe_name`` first.
Paths the user gives as paths (``--run-dir``, ``--out``, ``run.root``) are used as given.
"""

from __future__ import annotations

import hashlib
import logging
import re
from pathlib import Path

from trainspec.errors import TrainspecError

__all__ = ["MAX_NAME_LENGTH", "path_under", "safe_name", "safe_relpath"]

log = logging.getLogger(__name__)

# Room for the ``-YYYYmmdd-HHMMSS-HASH6-N`` a run directory adds, within 255-byte file names.
MAX_NAME_LENGTH = 96
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")
_DOTS = re.compile(r"\.{2,}")


def _clean(text: str) -> str:
    cleaned = _DOTS.sub(".", _UNSAFE.sub("-", text))
    # No leading dot (hidden files, '.' and '..'), no trailing dot (refused on Windows).
    cleaned = cleaned.strip("-._")
    if len(cleaned) > MAX_NAME_LENGTH:
        # Keep long names apart: two that share a prefix must not share a folder.
        digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]
        cleaned = cleaned[: MAX_NAME_LENGTH - 9].rstrip("-._") + "-" + digest
    return cleaned


def safe_name(name: str, *, what: str, fallback: str) -> str:
    """``name`` as a safe file or folder name: letters, digits, ``_``, ``-`` and ``.`` only,
    no ``..``, no leading dot, at most ``MAX_NAME_LENGTH`` characters.

    Every other run of characters (``/``, ``\\``, NUL, spaces...) becomes ``-``; an empty result
    becomes ``fallback``. When the name changes, the cleaned name is logged as a warning naming
    ``what`` it is (``"job name"``), so the user sees the folder that is used.
    """
    cleaned = _clean(name) or _clean(fallback) or "unnamed"
    if cleaned != name:
        log.warning("%s %r is not a safe folder name; using %r", what, name, cleaned)
    return cleaned


def safe_relpath(path: str, *, what: str) -> str:
    """A relative ``a/b/c`` path (an artifact path) with every part made a ``safe_name``."""
    parts = [p for p in re.split(r"[/\\]+", path) if p and p != "."]
    cleaned = [_clean(p) for p in parts]
    result = "/".join(c for c in cleaned if c)
    if result != path:
        log.warning("%s %r is not a safe relative path; using %r", what, path, result)
    return result


def path_under(root: Path, *names: str) -> Path:
    """``root / names...``, refused unless it stays inside ``root`` (symlinks resolved).

    The names should already be ``safe_name``s; this is the check that nothing derived from a
    name is ever written outside the folder it belongs in.
    """
    candidate = root.joinpath(*names)
    base = root.resolve()
    resolved = candidate.resolve()
    if resolved != base and base not in resolved.parents:
        raise TrainspecError(
            f"refusing to write {candidate}: it resolves to {resolved}, outside {base}; "
            "give the name letters, digits, '_', '-' or '.' only"
        )
    return candidate
