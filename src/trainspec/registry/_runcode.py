"""The code a run was trained with travels with it: the modules a spec imports from the user's
folders are copied into ``<run>/code/`` with their SHA-256 hashes, and loaded from there by
whatever reads the run back (predict, export, serve, monitor, ``train <run>/config.yaml``).

Only modules under the spec's ``allow_imports`` prefixes (and single-file modules beside them,
which they import) are recorded; installed packages (site-packages, the standard library, any
installed distribution, trainspec itself) never are, and the saved copies never shadow them.
A saved file is imported only while its hash matches the manifest. Loading a run directory
runs its code: a run from someone else is trusted like any Python package they hand over.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import json
import logging
import shutil
import site
import sys
import sysconfig
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any

from trainspec.errors import IntegrityError, TrainspecError
from trainspec.files import RunDir, atomic_write_text, sha256_file

__all__ = ["CODE_DIR", "CODE_MANIFEST", "RunCode", "save_run_code", "use_run_code"]

log = logging.getLogger(__name__)

CODE_DIR = RunDir.CODE
CODE_MANIFEST = "manifest.json"


@dataclass(frozen=True)
class _Entry:
    module: str
    path: str  # relative to <run>/code
    sha256: str
    package: bool  # an __init__.py: the module is a package


@cache
def _installed_roots() -> tuple[Path, ...]:
    paths = {sysconfig.get_paths().get(k) for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    paths.update(site.getsitepackages())
    paths.add(site.getusersitepackages())
    return tuple(Path(p).resolve() for p in paths if p)


@cache
def _distributions() -> Mapping[str, list[str]]:
    return metadata.packages_distributions()


def _is_installed(name: str, file: Path | None) -> bool:
    top = name.split(".")[0]
    if top == "trainspec" or top in sys.builtin_module_names:
        return True
    if top in _distributions():  # editable installs too
        return True
    if file is None:
        return False
    resolved = file.resolve()
    return any(resolved.is_relative_to(root) for root in _installed_roots())


def _under(name: str, prefixes: Iterable[str]) -> bool:
    return any(name == p or name.startswith(p + ".") or p.startswith(name + ".") for p in prefixes)


def _file_of(module: ModuleType) -> Path | None:
    file = getattr(module, "__file__", None)
    if not file or not str(file).endswith(".py"):
        return None  # namespace packages, extension modules
    return Path(file)


def _user_modules(allow_imports: Sequence[str]) -> dict[str, Path]:
    """Loaded modules the spec's import paths reach, from the user's folders."""
    found: dict[str, Path] = {}
    if not allow_imports:
        return found
    # The names are tested first: building a path for each of the thousands of loaded modules
    # (torch, scikit-learn...) took a sweep trial tens of milliseconds.
    for name, module in list(sys.modules.items()):
        if module is None or not _under(name, allow_imports):
            continue
        file = _file_of(module)
        if file is None or _is_installed(name, file):
            continue
        found[name] = file
    # Single-file modules beside a recorded top-level module: the helpers it imports.
    folders = {f.parent.resolve() for n, f in found.items() if "." not in n}
    if not folders:
        return found
    for name, module in list(sys.modules.items()):
        if module is None or "." in name or name in found:
            continue
        file = _file_of(module)
        if (
            file is not None
            and file.name == f"{name}.py"
            and file.parent.resolve() in folders
            and not _is_installed(name, file)
        ):
            found[name] = file
    return found


def _relative(name: str, file: Path) -> tuple[str, bool]:
    package = file.name == "__init__.py"
    parts = name.split(".")
    rel = "/".join(parts) + ("/__init__.py" if package else ".py")
    return rel, package


def save_run_code(run_dir: Path, allow_imports: Sequence[str]) -> list[dict[str, Any]]:
    """Copy the user's modules the run imported into ``run_dir/code`` and write its manifest;
    returns the manifest's entries (module, path, sha256, source)."""
    modules = _user_modules(allow_imports)
    code = run_dir / CODE_DIR
    entries: list[dict[str, Any]] = []
    for name in sorted(modules):
        file = modules[name]
        rel, package = _relative(name, file)
        dest = code / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(file, dest)
        entries.append(
            {
                "module": name,
                "path": rel,
                "sha256": sha256_file(dest),
                "package": package,
                "source": str(file.resolve()),
            }
        )
    if entries:
        text = json.dumps({"format": 1, "modules": entries}, indent=2) + "\n"
        atomic_write_text(code / CODE_MANIFEST, text)
    return entries


class RunCode(importlib.abc.MetaPathFinder):
    """Imports the recorded modules of one run from its ``code/`` folder."""

    def __init__(self, root: Path, entries: Sequence[_Entry]) -> None:
        self.root = root
        self.entries = {e.module: e for e in entries}

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        entry = self.entries.get(fullname)
        if entry is None:
            return None
        file = self.root / entry.path
        if sha256_file(file) != entry.sha256:  # changed since use_run_code checked it
            raise ImportError(f"{file} no longer matches its recorded hash; not importing it")
        search = [str(file.parent)] if entry.package else None
        return importlib.util.spec_from_file_location(
            fullname, file, submodule_search_locations=search
        )


def _read_manifest(code: Path) -> list[_Entry]:
    path = code / CODE_MANIFEST
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return [
            _Entry(str(m["module"]), str(m["path"]), str(m["sha256"]), bool(m.get("package")))
            for m in raw["modules"]
        ]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise TrainspecError(f"{path} cannot be read ({exc}): the run's code is unusable") from exc


def _check(code: Path, entries: Sequence[_Entry]) -> None:
    bad = []
    for e in entries:
        file = (code / e.path).resolve()
        if not file.is_relative_to(code.resolve()) or not file.is_file():
            bad.append(f"{e.path} (missing)")
        elif sha256_file(file) != e.sha256:
            bad.append(f"{e.path} (changed)")
    if bad:
        raise IntegrityError(
            f"{code}: the saved code does not match {CODE_MANIFEST}: {', '.join(bad)}. It was "
            "changed after the run was written, so it is not imported; restore the files, or "
            "delete the code folder to use the modules on your import path"
        )


def _user_copy(name: str) -> Path | None:
    """The file ``import name`` would load without the run's copy (None: none)."""
    for finder in sys.meta_path:
        if isinstance(finder, RunCode):
            continue
        find = getattr(finder, "find_spec", None)
        if find is None:
            continue
        try:
            spec = find(name, None)
        except (ImportError, ValueError):
            continue
        if spec is not None:
            origin = spec.origin
            return Path(origin) if origin and origin.endswith(".py") else None
    return None


def use_run_code(run_root: Path) -> list[str]:
    """Import the run's recorded modules from ``run_root/code`` from now on; returns what was
    decided, a line per module (which copy is used, when the user's own differs)."""
    code = run_root / CODE_DIR
    if not (code / CODE_MANIFEST).is_file():
        return []
    if any(isinstance(f, RunCode) and f.root == code for f in sys.meta_path):
        return []
    entries = _read_manifest(code)
    _check(code, entries)
    notes, usable = [], []
    for e in entries:
        own = _user_copy(e.module) if "." not in e.module else None
        if _is_installed(e.module, own):
            notes.append(f"{e.module}: the installed package is used, not the run's copy")
            continue
        loaded = sys.modules.get(e.module)
        if loaded is not None:
            file = _file_of(loaded)
            if file is not None and sha256_file(file) != e.sha256:
                notes.append(
                    f"{e.module}: already imported from {file}, which differs from the run's "
                    f"copy {code / e.path}; the imported one is used"
                )
            continue
        if own is not None and own.is_file() and sha256_file(own) != e.sha256:
            notes.append(
                f"{e.module}: the run's copy {code / e.path} is used; your copy {own} differs "
                "from it"
            )
        usable.append(e)
    if usable:
        sys.meta_path.insert(0, RunCode(code, usable))
    return notes
