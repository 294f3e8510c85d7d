"""Imports go down the layers of docs/architecture.md, never up; packages use each other's
public names only; and no package's modules import each other in a circle. Checked over the
source."""

from __future__ import annotations

import ast
import importlib
import itertools
from pathlib import Path
from typing import NamedTuple

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

# Imports inside a package that are deferred into a function body on purpose and would close a
# circle if they were edges: (importer, imported) -> why. Empty: each circle was broken by
# moving what both sides need into a module of its own (data/_types.py, models/_arch.py,
# engine/_lossfn.py, ...); add an entry only with the reason the import cannot move.
DEFERRED_OK: dict[tuple[str, str], str] = {}


class Imported(NamedTuple):
    line: int
    module: str  # absolute dotted name
    name: str | None  # the name after ``import`` in ``from module import name``
    type_only: bool  # under ``if TYPE_CHECKING:``


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _absolute(path: Path, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = _module_name(path).split(".")
    if path.name != "__init__.py":
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def _imports(path: Path) -> list[Imported]:
    """Every import of ``path``: module level and inside functions."""
    found: list[Imported] = []

    def visit(node: ast.AST, type_only: bool) -> None:
        if isinstance(node, ast.Import):
            found.extend(Imported(node.lineno, a.name, None, type_only) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = _absolute(path, node)
            found.extend(Imported(node.lineno, module, a.name, type_only) for a in node.names)
        elif isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.body:
                visit(child, True)
            for child in node.orelse:
                visit(child, type_only)
            return
        for child in ast.iter_child_nodes(node):
            visit(child, type_only)

    tree = ast.parse(path.read_text(encoding="utf-8"))
    visit(tree, False)
    return found + _lazy_imports(tree)


def _lazy_table(tree: ast.Module) -> ast.Dict | None:
    """A package ``__init__``'s ``_LAZY = {name: module}``: the names it loads on first use."""
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else []
        if any(isinstance(t, ast.Name) and t.id == "_LAZY" for t in targets):
            assert isinstance(node.value, ast.Dict), "_LAZY must be a dict literal"
            return node.value
    return None


def _lazy_imports(tree: ast.Module) -> list[Imported]:
    """The imports a ``_LAZY`` table stands for: ``{"name": "pkg._mod"}`` is
    ``from pkg._mod import name``, run on first use but an edge all the same, so the layers,
    the private-name and the circle checks count it as they would an import at the top."""
    table = _lazy_table(tree)
    if table is None:
        return []
    found = []
    for key, value in zip(table.keys, table.values, strict=True):
        assert isinstance(key, ast.Constant) and isinstance(value, ast.Constant)
        found.append(Imported(key.lineno, str(value.value), str(key.value), False))
    return found


def _layer_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "trainspec" or len(parts) < 2:
        return None
    return parts[1]


def _sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


MODULES = {_module_name(p): p for p in _sources()}


def _target(imp: Imported) -> str:
    """The module an import loads: ``from pkg import _mod`` loads ``pkg._mod``; a package
    stands for its ``__init__``."""
    if imp.name is not None and f"{imp.module}.{imp.name}" in MODULES:
        return f"{imp.module}.{imp.name}"
    if f"{imp.module}.__init__" in MODULES:
        return f"{imp.module}.__init__"
    return imp.module


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_only_go_down(path: Path) -> None:
    own = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
    if own in NEUTRAL:
        return
    assert own in LAYERS, (
        f"{own} is not placed in a layer: add it to LAYERS and docs/architecture.md"
    )
    for imp in _imports(path):
        layer = _layer_of(imp.module)
        if layer is None or layer in NEUTRAL or layer == own:
            continue
        assert layer in LAYERS, f"{path}:{imp.line} imports unknown layer {imp.module}"
        assert LAYERS[layer] <= LAYERS[own], (
            f"{path.relative_to(PACKAGE)}:{imp.line} imports {imp.module}: layer '{own}' must "
            f"not import the higher layer '{layer}'"
        )


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_other_packages_are_used_through_their_public_names(path: Path) -> None:
    own = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
    for imp in _imports(path):
        layer = _layer_of(imp.module)
        if layer is None or layer == own:
            continue
        inner = imp.module.split(".")[2:]
        private = [p for p in inner if _is_private(p)]
        if imp.name is not None and _is_private(imp.name):
            private.append(imp.name)
        assert not private, (
            f"{path.relative_to(PACKAGE)}:{imp.line} imports {imp.module}"
            f"{'' if imp.name is None else ' ' + imp.name}: '{own}' reaches into a private "
            f"part of trainspec.{layer}; import the name from trainspec.{layer} (add it to "
            "that package's __init__ and __all__)"
        )


def _package_graph(package: str) -> dict[str, dict[str, int]]:
    """Module -> the modules of the same package it imports (and the line), type-only imports
    and ``DEFERRED_OK`` left out."""
    graph: dict[str, dict[str, int]] = {}
    prefix = f"trainspec.{package}."
    for name, path in MODULES.items():
        if not name.startswith(prefix):
            continue
        edges = graph.setdefault(name, {})
        for imp in _imports(path):
            target = _target(imp)
            if imp.type_only or target == name or not target.startswith(prefix):
                continue
            if (name, target) not in DEFERRED_OK:
                edges.setdefault(target, imp.line)
    return graph


def _find_cycle(graph: dict[str, dict[str, int]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def walk(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, {})):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := walk(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := walk(start)):
            return found
    return None


PACKAGES = sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file())


@pytest.mark.parametrize("package", PACKAGES)
def test_no_import_circles_inside_a_package(package: str) -> None:
    graph = _package_graph(package)
    cycle = _find_cycle(graph)
    if cycle is None:
        return
    steps = [
        f"{a.split('.')[-1]} (line {graph[a][b]}) -> {b.split('.')[-1]}"
        for a, b in itertools.pairwise(cycle)
    ]
    pytest.fail(
        f"trainspec.{package} imports in a circle, counting imports inside functions: "
        + "; ".join(steps)
        + ". Move what both sides need into a module of its own (a deferred import only "
        "hides the circle)"
    )


def test_the_checks_see_private_imports_and_circles(tmp_path: Path) -> None:
    """The checks themselves: a reach into a private module and a circle closed inside a
    function body are both found."""
    source = tmp_path / "mod.py"
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "from trainspec.spec._schema_train import TrainSpec\n"
        "if TYPE_CHECKING:\n    from trainspec.data._batch import Batch\n"
        "def f():\n    from trainspec.models import _build\n"
    )
    found = _imports(source)
    assert [(i.module, i.name, i.type_only) for i in found[1:]] == [
        ("trainspec.spec._schema_train", "TrainSpec", False),
        ("trainspec.data._batch", "Batch", True),
        ("trainspec.models", "_build", False),
    ]
    circle = {"a": {"b": 1}, "b": {"c": 2}, "c": {"a": 3}, "d": {"a": 4}}
    assert _find_cycle(circle) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b": 1}, "b": {}}) is None


def test_spec_never_imports_torch_at_module_level() -> None:
    for path in (PACKAGE / "spec").rglob("*.py"):
        for imp in _imports(path):
            assert imp.module.split(".")[0] != "torch", f"{path}:{imp.line} imports torch"


LAZY_PACKAGES = [
    path
    for path in sorted(PACKAGE.rglob("__init__.py"))
    if _lazy_table(ast.parse(path.read_text(encoding="utf-8"))) is not None
]


@pytest.mark.parametrize("path", LAZY_PACKAGES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_lazy_names_match_what_type_checkers_see(path: Path) -> None:
    """A package that loads its names on first use lists each one three times: in ``__all__``,
    under ``if TYPE_CHECKING:`` (what mypy and editors see) and in ``_LAZY`` (what runs).
    The three agree, and every name in ``__all__`` resolves to the object its module defines."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    lazy = {(i.name, i.module) for i in _lazy_imports(tree)}
    typed = set()
    for node in tree.body:
        if isinstance(node, ast.If) and _is_type_checking(node):
            typed |= {
                (a.asname or a.name, _absolute(path, n))
                for n in node.body
                if isinstance(n, ast.ImportFrom)
                for a in n.names
            }
    assert lazy == typed, (
        f"{path.relative_to(PACKAGE)}: _LAZY and the TYPE_CHECKING imports differ: only in "
        f"_LAZY {sorted(lazy - typed)}, only under TYPE_CHECKING {sorted(typed - lazy)}"
    )
    package = importlib.import_module(_module_name(path).removesuffix(".__init__"))
    for name in package.__all__:
        value = getattr(package, name)
        module = dict(lazy).get(name)
        if module is not None:
            assert value is getattr(importlib.import_module(module), name)
    missing = sorted({name for name, _ in lazy} - set(package.__all__))
    assert not missing, f"{path.relative_to(PACKAGE)}: in _LAZY but not in __all__: {missing}"
    with pytest.raises(AttributeError, match="no attribute 'not_a_name'"):
        package.not_a_name  # noqa: B018
