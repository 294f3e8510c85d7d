"""Starting a run directory: its fresh name, the environment it records, the summary of its
history. The layout itself is `trainspec.files.RunDir`'s (docs/architecture.md, "A run on disk")."""

from __future__ import annotations

import datetime as _dt
import platform
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

from trainspec.errors import TrainspecError
from trainspec.files import RunDir, path_under, safe_name

__all__ = [
    "collect_environment",
    "git_state_once",
    "new_run_dir",
    "require_fresh",
    "summarize_history",
]

_PACKAGES = ("trainspec", "torch", "numpy", "pandas", "scikit-learn", "pydantic", "safetensors")


def new_run_dir(root: Path, name: str, spec_hash: str, *, what: str = "run name") -> Path:
    """A fresh directory under ``root``: ``NAME-YYYYmmdd-HHMMSS-HASH6`` (suffixed if taken).

    ``name`` goes through ``safe_name`` (the cleaned name is logged when it changes), so the
    directory is always a child of ``root``.
    """
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = f"{safe_name(name, what=what, fallback='run')}-{stamp}-{spec_hash[:6]}"
    candidate = path_under(root, base)
    n = 1
    while True:
        try:
            candidate.mkdir(parents=True, exist_ok=False)
            return candidate
        except FileExistsError:
            n += 1
            candidate = path_under(root, f"{base}-{n}")


# Inside ``git_state_once()``: folder -> its git state, read once.
_GIT_HELD: ContextVar[dict[Path, tuple[str | None, bool | None]] | None] = ContextVar(
    "trainspec_git_state", default=None
)


@contextmanager
def git_state_once() -> Iterator[None]:
    """Runs inside this block record the git state read by the first of them for the same
    folder (a sweep worker's trials: the commit and dirty flag the sweep ran from), instead
    of running ``git status`` for each."""
    token = _GIT_HELD.set({})
    try:
        yield
    finally:
        _GIT_HELD.reset(token)


def _git_state(cwd: Path) -> tuple[str | None, bool | None]:
    held = _GIT_HELD.get()
    if held is None:
        return _read_git_state(cwd)
    if cwd not in held:
        held[cwd] = _read_git_state(cwd)
    return held[cwd]


def _read_git_state(cwd: Path) -> tuple[str | None, bool | None]:
    """The commit checked out at ``cwd`` and whether the work tree differs from it, from one
    ``git status``; (None, None) outside a repository."""
    try:
        out = subprocess.run(
            ["git", "status", "--porcelain=v2", "--branch"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None, None
    lines = out.stdout.splitlines()
    oid = next((x.split()[2] for x in lines if x.startswith("# branch.oid ")), None)
    if oid is None or oid == "(initial)":  # a repository without commits
        return None, None
    return oid, any(not x.startswith("#") for x in lines)


@cache
def _package_versions() -> dict[str, str | None]:
    """Versions of the packages a run records, read once per process (what is imported
    stays what it was, even if something is installed meanwhile)."""
    versions: dict[str, str | None] = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def collect_environment(
    *, seed: int, device: str | None = None, spec_files: tuple[str, ...] = ()
) -> dict[str, Any]:
    """Package versions, git commit and dirty flag, seed, device, platform and command line."""
    versions = dict(_package_versions())
    where = Path(spec_files[0]).resolve().parent if spec_files else Path.cwd()
    commit, dirty = _git_state(where)
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "packages": versions,
        "git": {"commit": commit, "dirty": dirty},
        "seed": seed,
        "device": device,
        "argv": sys.argv,
        "spec_files": list(spec_files),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def _written_by_trainspec(run_dir: Path) -> bool:
    try:
        with RunDir(run_dir).config.open(encoding="utf-8") as fh:
            return fh.readline().startswith("# trainspec resolved spec")
    except OSError:
        return False


def _holds_something(path: Path) -> bool:
    if path.is_dir():
        return any(path.iterdir())  # an empty folder has nothing to overwrite
    return path.exists()


def require_fresh(run_dir: Path) -> None:
    """Refuse to start a new run where it would overwrite files: an old run's (its checkpoints
    would be lost) or the user's own (a config.yaml or data.json of theirs)."""
    taken = [name for name in (*RunDir.FILES, *RunDir.FOLDERS) if _holds_something(run_dir / name)]
    if not taken:
        return
    if _written_by_trainspec(run_dir):
        raise TrainspecError(
            f"run directory {run_dir} already holds a run ({', '.join(taken)}); pass --resume "
            "to continue it, or choose another --run-dir"
        )
    raise TrainspecError(
        f"--run-dir {run_dir} already holds {', '.join(taken)}, which a new run would "
        "overwrite; trainspec never writes over files it did not make: choose an empty or new "
        "--run-dir"
    )


def summarize_history(
    history: Sequence[Mapping[str, Any]], *, monitor: str, mode: str
) -> dict[str, Any]:
    """Final and best value of every metric in the history, keyed like ``val/accuracy``."""
    final: dict[str, float] = {}
    best: dict[str, float] = {}
    for row in history:
        for key, value in row.items():
            if key in ("epoch", "step", "time") or not isinstance(value, int | float):
                continue
            final[key] = float(value)
            if key not in best:
                best[key] = float(value)
            else:
                lower = _lower_is_better(key)
                best[key] = min(best[key], value) if lower else max(best[key], value)
    best_epoch = None
    values = [
        (row["epoch"], row[monitor])
        for row in history
        if monitor in row and isinstance(row[monitor], int | float)
    ]
    if values:
        pick = min if mode == "min" else max
        best_epoch = pick(values, key=lambda item: item[1])[0]
    return {"final": final, "best": best, "best_epoch": best_epoch}


def _lower_is_better(key: str) -> bool:
    name = key.rsplit("/", 1)[-1]
    if name in {"loss", "lr", "skipped"} or name.endswith("loss"):
        return True
    from trainspec.errors import TrainspecError
    from trainspec.metrics import get_metric

    try:
        return not get_metric(name).higher_is_better  # mae, mape, log_loss, ... by registry
    except TrainspecError:
        return name.endswith("error")
