"""Writing files so that a crash, a full disk or a refused permission loses nothing.

``atomic_write_text`` and ``atomic_write_bytes`` write beside the target and rename over it, so
a reader sees the old file or the new one. ``storage_errors`` turns the ``OSError`` of a full
disk, a read-only file system or a refused permission into a ``StorageError``: one sentence
naming the path and the free space there.

Each write is fsynced before its rename, so a power cut or an operating-system crash keeps it
too. ``skip_fsync()`` drops that for the files written inside it (in this thread or task):
for files that can be made again, such as a sweep trial's run directory, whose trial a
resumed sweep runs afresh. A write is still atomic there, and a crashed or killed process
loses nothing that it wrote: only the disk's own cache is not waited for.
"""

from __future__ import annotations

import errno
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

from trainspec.errors import StorageError

__all__ = [
    "atomic_write_bytes",
    "atomic_write_text",
    "free_space",
    "fsync",
    "is_storage_error",
    "skip_fsync",
    "storage_error",
    "storage_errors",
]

_DURABLE: ContextVar[bool] = ContextVar("trainspec_durable_writes", default=True)


@contextmanager
def skip_fsync() -> Iterator[None]:
    """Writes inside this block are not fsynced (see the module's docstring for when)."""
    token = _DURABLE.set(False)
    try:
        yield
    finally:
        _DURABLE.reset(token)


def fsync(fd: int) -> None:
    """``os.fsync(fd)``, unless inside ``skip_fsync()``."""
    if _DURABLE.get():
        os.fsync(fd)


_REASONS = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "the disk quota is exceeded",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "the operation is not permitted",
}


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a reader sees the old file or the new one, never
    half of one; fsynced before the rename (unless inside ``skip_fsync()``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:6]}")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def is_storage_error(exc: BaseException) -> bool:
    """Whether ``exc`` is a write refused for want of space or permission."""
    return isinstance(exc, OSError) and exc.errno in _REASONS


def free_space(path: Path) -> str:
    """The free space of the file system holding ``path`` (or its nearest existing parent)."""
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        free = float(shutil.disk_usage(probe).free)
    except OSError:
        return "unknown free space"
    if free < 1024:
        return f"{free:.0f} bytes free"
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        free /= 1024
        if free < 1024 or unit == "TiB":
            break
    return f"{free:.1f} {unit} free"


def storage_error(exc: OSError, path: Path | None = None) -> StorageError:
    """The ``StorageError`` for ``exc``: the path, the reason, the free space, the way out."""
    target = Path(exc.filename) if exc.filename else (path or Path.cwd())
    reason = _REASONS.get(exc.errno or 0, exc.strerror or str(exc))
    return StorageError(
        f"cannot write {target}: {reason} ({free_space(target)} there); free space or fix the "
        "permissions, or write elsewhere (--run-dir, run.root), then resume the run"
    )


@contextmanager
def storage_errors(path: Path | None = None) -> Iterator[None]:
    """Re-raise a full disk, a read-only file system or a refused permission met inside the
    block as a ``StorageError`` (other errors pass unchanged)."""
    try:
        yield
    except OSError as exc:
        if is_storage_error(exc):
            raise storage_error(exc, path) from exc
        raise
