"""``last`` and ``best``: names that always point at a complete checkpoint.

Publishing is one atomic step: a new relative symbolic link is made under a temporary name and
renamed over the old one (``rename(2)`` replaces it atomically), so at every instant ``last``
and ``best`` name either the previous checkpoint or the new one. Where the file system has no
symbolic links, the checkpoint's files are hard-linked (or copied) into a new folder that
replaces the old one, which leaves a short window where only ``.old-<name>-*`` exists;
``repair`` restores from it.

``repair`` runs before a resume: it removes unfinished temporaries and puts ``last`` and
``best`` back when a crash, a set-aside corrupt checkpoint or an older version left them
missing, dangling or stale.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import uuid
from pathlib import Path

from trainspec.files import MANIFEST, checkpoint_step, find_checkpoints, fsync_dir, storage_errors

from ._checkpoint import STATE_JSON

__all__ = ["prune", "publish", "repair"]

log = logging.getLogger(__name__)

_NAMES = ("last", "best")


def publish(source: Path, name: str) -> Path:
    """Point ``source.parent/name`` (``last`` or ``best``) at checkpoint ``source``."""
    root = source.parent
    with storage_errors(root):
        tmp = root / f".tmp-{name}-{uuid.uuid4().hex}"
        try:
            os.symlink(source.name, tmp, target_is_directory=True)
        except (OSError, NotImplementedError):
            return _publish_copy(source, name)
        try:
            _swap(tmp, root / name)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        fsync_dir(root)
    return root / name


def _swap(tmp: Path, final: Path) -> None:
    """Rename ``tmp`` over ``final``; a real folder there (an older layout) is moved aside."""
    if final.is_dir() and not final.is_symlink():
        old = final.with_name(f".old-{final.name}-{uuid.uuid4().hex[:8]}")
        os.rename(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
        return
    os.replace(tmp, final)


def _publish_copy(source: Path, name: str) -> Path:
    root = source.parent
    tmp = root / f".tmp-{name}-{uuid.uuid4().hex}"
    os.mkdir(tmp)
    try:
        for item in source.iterdir():
            try:
                os.link(item, tmp / item.name)
            except OSError:
                shutil.copy2(item, tmp / item.name)
        fsync_dir(tmp)
        final = root / name
        if final.exists() or final.is_symlink():
            old = root / f".old-{name}-{uuid.uuid4().hex[:8]}"
            os.rename(final, old)
            os.rename(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, final)
        fsync_dir(root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return root / name


def _target(root: Path, name: str) -> Path | None:
    """The checkpoint folder ``name`` points at (itself, for a copy), if complete."""
    link = root / name
    if link.is_symlink():
        target = root / os.readlink(link)
        return target if (target / MANIFEST).is_file() else None
    return link if (link / MANIFEST).is_file() else None


def _remove(path: Path) -> None:
    """Delete a folder so that a crash midway leaves no half folder under a real name."""
    doomed = path.with_name(f".del-{path.name}-{uuid.uuid4().hex[:8]}")
    os.rename(path, doomed)
    shutil.rmtree(doomed, ignore_errors=True)


def prune(root: Path, keep: int) -> None:
    """Delete all but the newest ``keep`` ``ckpt-*`` folders (never the ones ``last`` and
    ``best`` point at), and leftovers of finished operations."""
    with storage_errors(root):
        protected = {t.name for t in (_target(root, n) for n in _NAMES) if t is not None}
        for old in find_checkpoints(root)[keep:]:
            if old.name not in protected:
                _remove(old)
        _clean_leftovers(root, protected_names=_valid_names(root))


def _valid_names(root: Path) -> set[str]:
    return {n for n in _NAMES if _target(root, n) is not None}


def _clean_leftovers(root: Path, *, protected_names: set[str]) -> None:
    """Temporaries and deletions in progress go; ``.old-<name>-*`` only once ``name`` is
    valid again (until then it may be the only copy)."""
    for stale in [*root.glob(".tmp-*"), *root.glob(".del-*")]:
        if stale.is_symlink():
            stale.unlink(missing_ok=True)
        else:
            shutil.rmtree(stale, ignore_errors=True)
    for name in protected_names:
        for stale in root.glob(f".old-{name}-*"):
            shutil.rmtree(stale, ignore_errors=True)


def _was_best(path: Path) -> bool:
    """Whether checkpoint ``path`` was saved at the end of its run's best epoch so far."""
    try:
        state = json.loads((path / STATE_JSON).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    epoch, best = state.get("epoch"), state.get("best_epoch")
    return state.get("position") == 0 and best is not None and best == epoch


def _newer(a: Path, b: Path | None) -> bool:
    if b is None:
        return True
    sa, sb = checkpoint_step(a), checkpoint_step(b)
    return sa is not None and (sb is None or sa > sb)


def _restore(root: Path, name: str) -> bool:
    """Put the newest complete ``.old-<name>-*`` folder back as ``name``."""
    olds = [p for p in root.glob(f".old-{name}-*") if (p / MANIFEST).is_file()]
    if not olds:
        return False
    newest = max(olds, key=lambda p: p.stat().st_mtime)
    link = root / name
    if link.is_symlink():
        link.unlink()
    elif link.exists():
        _remove(link)
    os.rename(newest, link)
    log.warning("checkpoints/%s was missing after a crash; restored it from %s", name, newest.name)
    return True


def repair(root: Path, *, best: bool = True) -> None:
    """Bring ``root`` (a run's ``checkpoints/``) back to a consistent state after a crash.

    ``last`` is pointed at the newest complete checkpoint. ``best`` (when ``best``: the run
    saves best checkpoints) is restored from ``.old-best-*`` if that is all there is, or
    pointed at the newest checkpoint saved at a best epoch when it is missing, dangling or
    older than that one.
    """
    if not root.is_dir():
        return
    with storage_errors(root):
        _clean_leftovers(root, protected_names=set())
        found = [p for p in find_checkpoints(root) if (p / MANIFEST).is_file()]
        names = _NAMES if best else ("last",)
        for name in names:
            current = _target(root, name)
            if current is None and _restore(root, name):
                current = _target(root, name)
            pick = found[0] if name == "last" and found else None
            if name == "best":
                pick = next((p for p in found if _was_best(p)), None)
            if pick is not None and (current is None or _newer(pick, current)):
                if current is not None or (root / name).is_symlink():
                    log.warning("checkpoints/%s pointed at %s; now %s", name, current, pick.name)
                publish(pick, name)
            elif current is None and (root / name).is_symlink():
                (root / name).unlink()
        _clean_leftovers(root, protected_names=_valid_names(root))
