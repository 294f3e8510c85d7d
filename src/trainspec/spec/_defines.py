"""What can be checked about ``define:`` sub-graphs and their uses without building anything
(no torch): names, references inside each sub-graph, the arguments of every use (unknown,
missing, per-copy ``overrides``), the number of inputs, and definitions that use each other
in a circle. ``trainspec validate`` reports these with file and line; the model builder
raises them too, for architectures given as plain mappings.

Block types that come from a parameter (``type: norm``) are only known when the network is
built; the builder checks those uses again and guards against circles at that point.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from trainspec.errors import closest
from trainspec.spec._schema_model import GraphArch, SequentialArch, SubgraphDef

__all__ = [
    "BLOCK_OPTIONS",
    "REPEAT_NAMES",
    "DefineProblem",
    "define_cycle",
    "define_problems",
]

# Keys of a block that are options of the graph, not parameters of the block's type.
BLOCK_OPTIONS = ("in", "repeat", "residual", "per_step", "select", "overrides", "enabled")
# Names a repeated block's expressions use: the copy's index (from 0) and the number of copies.
REPEAT_NAMES = ("i", "n")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class DefineProblem:
    """One problem, at a key path relative to the architecture's top."""

    path: Path
    message: str
    hint: str | None = None


@dataclass(frozen=True)
class _Entry:
    """A block as written, where it is, and the names its ``in`` may take."""

    path: Path
    raw: Any
    known: frozenset[str] | None  # None: not checked here (top-level graphs check at build)
    chained: bool  # a chain of layers: no 'in'


def _entries(arch: SequentialArch | GraphArch) -> Iterator[_Entry]:
    if isinstance(arch, SequentialArch):
        for i, raw in enumerate(arch.layers):
            yield _Entry(("layers", i), raw, None, True)
    else:
        for name, raw in arch.blocks.items():
            yield _Entry(("blocks", name), raw, None, False)
    for dname, defn in arch.define.items():
        if defn.layers is not None:
            for i, raw in enumerate(defn.layers):
                yield _Entry(("define", dname, "layers", i), raw, None, True)
        else:
            known = frozenset([*defn.inputs, *(defn.blocks or {})])
            for name, raw in (defn.blocks or {}).items():
                yield _Entry(("define", dname, "blocks", name), raw, known, False)


def _type_of(raw: Any) -> Any:
    return raw if isinstance(raw, str) else raw.get("type") if isinstance(raw, dict) else None


def _names(defn: SubgraphDef, where: Path) -> Iterator[DefineProblem]:
    """The sub-graph's own names: identifiers, no clashes between inputs, parameters, blocks."""
    blocks = list(defn.blocks or {})
    for kind, names in (("input", defn.inputs), ("parameter", [*defn.required, *defn.params])):
        key = "inputs" if kind == "input" else "params"
        for name in names:
            if not _IDENT.match(name):
                yield DefineProblem(
                    (*where, key),
                    f"{kind} name {name!r} must be a letter or '_' followed by "
                    "letters, digits and '_'",
                )
    seen: dict[str, str] = {}
    for kind, key, names in (
        ("an input", "inputs", defn.inputs),
        ("a required parameter", "required", defn.required),
        ("a parameter", "params", list(defn.params)),
        ("a block", "blocks", blocks),
    ):
        for name in names:
            if key in ("required", "params"):
                yield from _reserved_parameter(name, (*where, key))
            if name in seen:
                yield DefineProblem(where, f"{name!r} is both {seen[name]} and {kind}; rename one")
            seen.setdefault(name, kind)
    if defn.output is not None and defn.output not in blocks:
        near = closest(defn.output, blocks)
        yield DefineProblem(
            (*where, "output"),
            f"output {defn.output!r} is not one of its blocks",
            f"did you mean '{near}'?" if near else f"blocks: {', '.join(blocks)}",
        )


def _reserved_parameter(name: str, path: Path) -> Iterator[DefineProblem]:
    if name in REPEAT_NAMES:
        yield DefineProblem(
            path,
            f"parameter {name!r} is reserved for repeats (i: the copy's index, n: the number "
            "of copies); rename it",
        )
    elif name in (*BLOCK_OPTIONS, "type"):
        yield DefineProblem(
            path, f"parameter {name!r} is reserved: every block takes it as an option; rename it"
        )


def _in_refs(entry: _Entry) -> Iterator[DefineProblem]:
    if not isinstance(entry.raw, dict) or "in" not in entry.raw:
        return
    if entry.chained:
        yield DefineProblem(
            (*entry.path, "in"),
            "'in' has no place in a sequential list of layers (each takes the one before)",
            "use blocks: for a graph",
        )
        return
    refs = entry.raw["in"]
    refs = [refs] if isinstance(refs, str) else refs
    if entry.known is None or not isinstance(refs, list):
        return
    for ref in refs:
        if isinstance(ref, str) and ref not in entry.known:
            near = closest(ref, entry.known)
            yield DefineProblem(
                (*entry.path, "in"),
                f"'in' names {ref!r}, which is neither an input nor a block of this sub-graph",
                f"did you mean '{near}'?" if near else None,
            )


def _copies(raw: Mapping[str, Any], path: Path) -> tuple[list[dict[str, Any]], list[DefineProblem]]:
    """The parameters each copy gets beyond the block's own (from ``overrides``)."""
    repeat, overrides = raw.get("repeat"), raw.get("overrides")
    if overrides is None:
        return [{}], []
    where = (*path, "overrides")
    if repeat is None:
        return [{}], [DefineProblem(where, "'overrides' changes copies of a repeat; add repeat: N")]
    if not isinstance(overrides, list) or not all(isinstance(o, dict) for o in overrides):
        return [{}], [
            DefineProblem(
                where,
                f"'overrides' must be a list of mappings, entry k for copy k; got {overrides!r}",
                "e.g. overrides: [{stride: 2}] changes the first copy only",
            )
        ]
    problems = []
    if isinstance(repeat, int) and len(overrides) > repeat:
        problems.append(
            DefineProblem(where, f"{len(overrides)} entries for {repeat} copies (repeat: {repeat})")
        )
    for k, entry in enumerate(overrides):
        for key in entry:
            if key in BLOCK_OPTIONS or key == "type":
                problems.append(
                    DefineProblem(
                        (*where, k, key),
                        f"{key!r} is an option of the whole block; overrides change parameters",
                    )
                )
    return [dict(o) for o in overrides] or [{}], problems


def _unknown(name: str, dname: str, known: list[str], path: Path) -> DefineProblem:
    near = closest(name, known)
    hint = f"its parameters: {', '.join(known)}" if known else "it takes none"
    return DefineProblem(
        path,
        f"sub-graph {dname!r} has no parameter {name!r}",
        f"did you mean '{near}'?" if near else hint,
    )


def _use(entry: _Entry, defn: SubgraphDef, dname: str) -> Iterator[DefineProblem]:
    """A block whose type is the sub-graph ``dname``: its arguments and inputs."""
    raw = entry.raw if isinstance(entry.raw, dict) else {}
    known = [*defn.required, *defn.params]
    args = [k for k in raw if k != "type" and k not in BLOCK_OPTIONS]
    yield from (_unknown(a, dname, known, (*entry.path, a)) for a in args if a not in known)
    copies, problems = _copies(raw, entry.path)
    yield from problems
    for k, extra in enumerate(copies):
        for name in extra:
            if name not in known:
                yield _unknown(name, dname, known, (*entry.path, "overrides", k, name))
    repeat = raw.get("repeat")
    if not isinstance(repeat, int) or len(copies) < repeat:
        copies = [*copies, {}]  # the copies no override entry reaches
    # A misspelt argument already says "did you mean" the parameter it misses.
    meant = {closest(a, known) for a in args if a not in known}
    missing = [
        tuple(p for p in defn.required if p not in {*args, *extra, *meant}) for extra in copies
    ]
    for k, names in enumerate(missing):
        if names and names not in missing[:k]:
            which = f" in copy {k}" if len(set(missing)) > 1 else ""
            yield DefineProblem(
                entry.path,
                f"sub-graph {dname!r} needs {', '.join(map(repr, names))}{which}",
                f"give it: {{type: {dname}, {names[0]}: ...}}",
            )
    refs = raw.get("in")
    count = len(refs) if isinstance(refs, list) else 1
    if count != len(defn.inputs):
        yield DefineProblem(
            (*entry.path, "in") if "in" in raw else entry.path,
            f"sub-graph {dname!r} takes {len(defn.inputs)} input(s) "
            f"({', '.join(defn.inputs)}); this block gives {count}",
            "list them in order: in: [" + ", ".join(defn.inputs) + "]",
        )


def _uses(arch: SequentialArch | GraphArch, dname: str) -> list[str]:
    """The sub-graphs ``dname``'s blocks use by literal type name."""
    defn = arch.define[dname]
    raws = list((defn.blocks or {}).values()) if defn.layers is None else defn.layers
    return [t for t in map(_type_of, raws) if isinstance(t, str) and t in arch.define]


def define_cycle(arch: SequentialArch | GraphArch) -> list[str] | None:
    """A circle of definitions (``[a, b, a]``: a uses b, b uses a), or None."""
    state: dict[str, int] = {}  # 1: being visited, 2: done

    def visit(name: str, path: list[str]) -> list[str] | None:
        state[name] = 1
        for used in _uses(arch, name):
            if state.get(used) == 1:
                return [*path[path.index(used) :], used] if used in path else [name, used]
            if used not in state and (found := visit(used, [*path, used])) is not None:
                return found
        state[name] = 2
        return None

    for name in arch.define:
        if name not in state and (found := visit(name, [name])) is not None:
            return found
    return None


def define_problems(arch: SequentialArch | GraphArch) -> list[DefineProblem]:
    """Every problem of the architecture's sub-graphs and their uses, in spec order."""
    problems: list[DefineProblem] = []
    for dname, defn in arch.define.items():
        if not _IDENT.match(dname):
            problems.append(
                DefineProblem(
                    ("define", dname),
                    f"sub-graph name {dname!r} must be a letter or '_' followed by letters, "
                    "digits and '_' (blocks name it as their type)",
                )
            )
        problems += _names(defn, ("define", dname))
    for entry in _entries(arch):
        problems += _in_refs(entry)
        kind = _type_of(entry.raw)
        if isinstance(kind, str) and kind in arch.define:
            problems += _use(entry, arch.define[kind], kind)
        elif isinstance(entry.raw, dict) and "overrides" in entry.raw:
            problems += _copies(entry.raw, entry.path)[1]
    cycle = define_cycle(arch)
    if cycle:
        problems.append(
            DefineProblem(
                ("define", cycle[0]),
                "sub-graphs use each other in a circle: " + " -> ".join(cycle),
                "a sub-graph cannot contain itself; break the circle",
            )
        )
    return problems
