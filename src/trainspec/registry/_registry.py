"""Named components by kind, registered with a decorator, plus plugins by entry point."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any, TypeVar

from trainspec.errors import RegistryError, closest

__all__ = ["KINDS", "PLUGIN_GROUP", "Registry", "register", "registry"]

KINDS: tuple[str, ...] = (
    "block",
    "model",
    "dataset",
    "source",
    "transform",
    "split",
    "loss",
    "metric",
    "optimizer",
    "scheduler",
    "callback",
    "tracker",
)
PLUGIN_GROUP = "trainspec.plugins"

# Modules that register built-in components of a kind. They are imported the first time a
# name of that kind is looked up, so that asking for a metric does not import the models.
_PROVIDERS: dict[str, tuple[str, ...]] = {
    "block": ("trainspec.models._blocks",),
    "source": (
        "trainspec.data._sources",
        "trainspec.data._numpy",
        "trainspec.data._images",
        "trainspec.data._edf",
    ),
    "transform": ("trainspec.data._transforms",),
    "split": ("trainspec.data._splits",),
    "metric": ("trainspec.metrics._metrics",),
    "optimizer": ("trainspec.engine._optim",),
    "scheduler": ("trainspec.engine._optim",),
    "loss": ("trainspec.engine._losses",),
    "callback": ("trainspec.engine._callbacks",),
}

T = TypeVar("T")


class Registry:
    """A catalogue of components: ``kind -> name -> object``.

    Built-ins are registered by the modules that define them; plugins are packages exposing an
    entry point in the ``trainspec.plugins`` group, whose loading registers their components.
    """

    def __init__(self, providers: dict[str, tuple[str, ...]] | None = None) -> None:
        self._items: dict[str, dict[str, Any]] = {kind: {} for kind in KINDS}
        self._providers = dict(_PROVIDERS if providers is None else providers)
        self._loaded_kinds: set[str] = set()
        self._plugins_loaded = False

    def _check_kind(self, kind: str) -> None:
        if kind not in self._items:
            raise RegistryError(f"unknown component kind {kind!r}; kinds are {', '.join(KINDS)}")

    def add(self, kind: str, name: str, obj: Any, *, replace: bool = False) -> None:
        self._check_kind(kind)
        current = self._items[kind].get(name)
        if current is not None and current is not obj and not replace:
            raise RegistryError(
                f"a {kind} named {name!r} is already registered ({current!r}); pick another "
                "name or pass replace=True"
            )
        self._items[kind][name] = obj

    def register(self, kind: str, name: str | None = None) -> Callable[[T], T]:
        """Decorator: ``@register("block", "conv_stack")`` over a class or function."""
        self._check_kind(kind)

        def decorate(obj: T) -> T:
            self.add(
                kind, name if name is not None else str(getattr(obj, "__name__", repr(obj))), obj
            )
            return obj

        return decorate

    def _load(self, kind: str) -> None:
        if kind not in self._loaded_kinds:
            self._loaded_kinds.add(kind)
            for module in self._providers.get(kind, ()):
                importlib.import_module(module)
        if not self._plugins_loaded:
            self._plugins_loaded = True
            for ep in entry_points(group=PLUGIN_GROUP):
                loaded = ep.load()
                if callable(loaded) and not isinstance(loaded, type):
                    loaded(self)

    def names(self, kind: str) -> list[str]:
        self._check_kind(kind)
        self._load(kind)
        return sorted(self._items[kind])

    def __contains__(self, key: tuple[str, str]) -> bool:
        kind, name = key
        self._check_kind(kind)
        self._load(kind)
        return name in self._items[kind]

    def get(self, kind: str, name: str) -> Any:
        """The component registered as ``name``."""
        self._check_kind(kind)
        self._load(kind)
        try:
            return self._items[kind][name]
        except KeyError:
            pass
        near = closest(name, self._items[kind])
        hint = f"; did you mean {near!r}?" if near else ""
        listing = ", ".join(sorted(self._items[kind])) or "none"
        raise RegistryError(f"unknown {kind} {name!r}{hint} Registered {kind}s: {listing}")


registry = Registry()
register = registry.register
