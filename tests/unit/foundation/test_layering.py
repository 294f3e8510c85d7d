"""Imports go down the layers of docs/architecture.md, never up: checked over the source."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[3] / "src" / "trainspec"

# Lower number = lower layer. A module may import its own layer or any lower one.
LAYERS = {
    "errors": 0,
    "files": 0,
    "spec": 0,
    "registry": 1,
    "metrics": 2,
    "data": 3,
    "models": 4,
    "engine": 5,
    "api": 6,
    "tracking": 7,
    "inference": 8,
    "experiments": 9,
    "pipelines": 10,
    "cli": 11,
}
# Loaded lazily by every layer: the package root and its __main__.
NEUTRAL = {"__init__", "__main__"}


def _layer_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "trainspec" or len(parts) < 2:
        return None
    return parts[1]


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                if path.name != "__init__.py":
                    base = base[:-1]
                base = base[: len(base) - (node.level - 1)]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            found.append((node.lineno, name))
    return found


def _sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_only_go_down(path: Path) -> None:
    own = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
    if own in NEUTRAL:
        return
    assert own in LAYERS, (
        f"{own} is not placed in a layer: add it to LAYERS and docs/architecture.md"
    )
    for line, name in _imports(path):
        layer = _layer_of(name)
        if layer is None or layer in NEUTRAL or layer == own:
            continue
        assert layer in LAYERS, f"{path}:{line} imports unknown layer {name}"
        assert LAYERS[layer] <= LAYERS[own], (
            f"{path.relative_to(PACKAGE)}:{line} imports {name}: layer '{own}' must not import "
            f"the higher layer '{layer}'"
        )


def test_spec_never_imports_torch_at_module_level() -> None:
    for path in (PACKAGE / "spec").rglob("*.py"):
        for line, name in _imports(path):
            assert name.split(".")[0] != "torch", f"{path}:{line} imports torch"
