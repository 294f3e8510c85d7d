"""Which types a skops file may hold before trainspec loads it.

skops builds objects without pickle, but only of the types the caller trusts: a type names code
that runs while loading. The rule, one for fitted estimators and fitted transforms alike: a
type is trusted when it lies under scikit-learn, NumPy or SciPy, or under a package the user
allowed (``allow_imports:`` or ``$TRAINSPEC_ALLOW_IMPORTS``), and never when it lies under a
denied module (``builtins``, ``os``, ``subprocess``...; see ``DENIED``). trainspec's and
torch's own prefixes, allowed for import paths in specs, are not trusted here: an estimator
file has no need of them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from trainspec.registry._imports import DEFAULT_ALLOWED, DENIED, allowed_prefixes

__all__ = ["SKOPS_TRUSTED", "untrusted_types"]

SKOPS_TRUSTED: tuple[str, ...] = ("sklearn", "numpy", "scipy")


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def untrusted_types(types: Iterable[str], allow_imports: Sequence[str] = ()) -> list[str]:
    """The ``types`` (dotted names, as ``skops.io.get_untrusted_types`` lists them) that must
    not be loaded; empty when the file may be loaded with ``trusted=types``."""
    users = [p for p in allowed_prefixes(allow_imports) if p not in DEFAULT_ALLOWED]
    trusted = (*SKOPS_TRUSTED, *users)
    return [
        t
        for t in types
        if any(_under(t, d) for d in DENIED) or not any(_under(t, p) for p in trusted)
    ]
