"""Import paths from specs, resolved only under allow-listed module prefixes."""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Iterable
from typing import Any

from trainspec.errors import RegistryError

__all__ = [
    "ALLOW_ENV",
    "DEFAULT_ALLOWED",
    "DENIED",
    "allowed_prefixes",
    "check_import_path",
    "resolve_import",
]

ALLOW_ENV = "TRAINSPEC_ALLOW_IMPORTS"
DEFAULT_ALLOWED: tuple[str, ...] = ("trainspec", "torch", "sklearn")

# Never importable from a spec, even when a user lists them: these run commands, touch the
# file system or the network, or execute arbitrary code (pickle, eval).
DENIED: tuple[str, ...] = (
    "__main__",
    "asyncio",
    "builtins",
    "code",
    "codeop",
    "ctypes",
    "dill",
    "ftplib",
    "glob",
    "http",
    "importlib",
    "io",
    "joblib",
    "marshal",
    "multiprocessing",
    "nt",
    "os",
    "pathlib",
    "pickle",
    "posix",
    "pty",
    "runpy",
    "shelve",
    "shutil",
    "signal",
    "smtplib",
    "socket",
    "subprocess",
    "sys",
    "tempfile",
    "threading",
    "urllib",
    "webbrowser",
    "torch.hub",
    "torch.load",
    "torch.save",
    "torch.package",
    "torch.jit.load",
    "torch.utils.cpp_extension",
    "torch.utils.model_zoo",
    "torch.distributed",
    "torch.multiprocessing",
    "torch.serialization",
    "torch.ops",
    "torch.library",
)

_DOTTED = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + ".")


def allowed_prefixes(extra: Iterable[str] = ()) -> tuple[str, ...]:
    """The default prefixes, those in ``$TRAINSPEC_ALLOW_IMPORTS`` and ``extra``.

    A prefix that is itself denied (``os``, ``subprocess``...) is refused here, so that listing
    it in a spec is an error rather than silently ignored.
    """
    from_env = [p.strip() for p in re.split(r"[,:\s]+", os.environ.get(ALLOW_ENV, "")) if p.strip()]
    prefixes = list(DEFAULT_ALLOWED)
    for prefix in [*from_env, *extra]:
        if not _DOTTED.match(prefix):
            raise RegistryError(
                f"allow_imports: {prefix!r} is not a dotted module name such as 'my_pkg' or "
                "'my_pkg.models'"
            )
        if any(_under(prefix, d) or _under(d, prefix) for d in DENIED):
            raise RegistryError(
                f"allow_imports: {prefix!r} cannot be allowed: it is or contains a module that "
                "runs commands or arbitrary code; list only your own package"
            )
        if prefix not in prefixes:
            prefixes.append(prefix)
    return tuple(prefixes)


def _check_allowed(path: str, prefixes: tuple[str, ...]) -> None:
    for denied in DENIED:
        if _under(path, denied):
            raise RegistryError(
                f"import path {path!r} is refused: {denied!r} is never importable from a spec"
            )
    if not any(_under(path, p) for p in prefixes):
        top = path.split(".")[0]
        raise RegistryError(
            f"import path {path!r} is not under an allowed prefix ({', '.join(prefixes)}); "
            f"add '{top}' to the spec's allow_imports or to ${ALLOW_ENV} if it is your own code"
        )


def check_import_path(path: str, allow: Iterable[str] = ()) -> None:
    """What ``resolve_import`` checks before importing anything: a dotted path, under an
    allowed prefix, outside the deny list. Raises ``RegistryError``; imports nothing."""
    if not isinstance(path, str) or not _DOTTED.match(path):
        raise RegistryError(
            f"import path {path!r} is not a dotted path such as 'my_pkg.nets.SleepNet'"
        )
    _check_allowed(path, allowed_prefixes(allow))


def resolve_import(path: str, allow: Iterable[str] = ()) -> Any:
    """Import ``pkg.module.Attr`` and return the attribute, if the path is allowed.

    ``allow`` adds prefixes to the defaults (trainspec, torch, sklearn) and the environment's.
    The resolved object's own module is checked too, so re-exporting ``os.system`` from an
    allowed package does not get around the deny list.
    """
    check_import_path(path, allow)

    parts = path.split(".")
    module = None
    attrs: list[str] = []
    for cut in range(len(parts), 0, -1):
        name = ".".join(parts[:cut])
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name is not None and not _under(name, exc.name):
                raise RegistryError(
                    f"import path {path!r}: importing {name!r} failed because module "
                    f"{exc.name!r} is not installed"
                ) from exc
            continue
        attrs = parts[cut:]
        break
    if module is None:
        raise RegistryError(f"import path {path!r}: module {parts[0]!r} cannot be found")

    obj: Any = module
    for i, attr in enumerate(attrs):
        try:
            obj = getattr(obj, attr)
        except AttributeError:
            owner = ".".join(parts[: len(parts) - len(attrs) + i])
            public = [n for n in dir(obj) if not n.startswith("_")]
            from trainspec.errors import closest

            near = closest(attr, public)
            hint = f"; did you mean '{owner}.{near}'?" if near else ""
            raise RegistryError(f"import path {path!r}: {owner!r} has no {attr!r}{hint}") from None

    origin = getattr(obj, "__module__", None)
    if isinstance(origin, str):
        for denied in DENIED:
            if _under(origin, denied):
                raise RegistryError(
                    f"import path {path!r} is refused: it resolves to an object from "
                    f"{origin!r}, which is never importable from a spec"
                )
    return obj
