"""An architecture spec as data: a validated ``ArchSpec`` from a spec object or a mapping, and
back to JSON-ready data for ``model.json``. Apart from the model classes and the builder, so
that saving a model needs neither."""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter, ValidationError

from trainspec.errors import ModelError, format_path
from trainspec.spec import ArchSpec, GraphArch, ImportedModel, SequentialArch

__all__ = ["Arch", "coerce_arch", "dump_arch"]

Arch = SequentialArch | GraphArch | ImportedModel
_ADAPTER: TypeAdapter[Arch] = TypeAdapter(ArchSpec)


def coerce_arch(arch: Any) -> Arch:
    """A validated architecture from a spec object or a plain mapping."""
    if isinstance(arch, (SequentialArch, GraphArch, ImportedModel)):
        return arch
    try:
        return _ADAPTER.validate_python(arch)
    except ValidationError as exc:
        lines = [f"{_where(e['loc'])}: {e['msg']}" for e in exc.errors()]
        raise ModelError("; ".join(lines)) from None


def _where(loc: tuple[int | str, ...]) -> str:
    if loc and loc[0] in ("sequential", "graph", "imported"):
        loc = loc[1:]  # the union's tag, not a key of the spec
    return format_path(("model", *loc))


def dump_arch(arch: Any) -> Any:
    """The architecture as JSON-ready data (for ``model.json``)."""
    return _ADAPTER.dump_python(coerce_arch(arch), mode="json")
