"""``load_pipeline``: a pipeline spec file read, parameterised, validated, and its step graph
checked, before anything runs.

1. The file is read like any spec (``extends``, ``${here}``, file:line for every key).
2. ``NAME=value`` arguments set ``params.NAME`` (an unknown name is an error).
3. ``${params.NAME}``, ``${env:...}`` and other ``${a.b}`` are interpolated;
   ``${steps.NAME.OUTPUT}`` references are kept for the runner, which knows the folders.
4. The schema is validated (``PipelineSpec``); then every reference must name a declared
   step and an output that step kind has; ``after:`` names must exist; the graph must have no
   cycle. All problems are reported together, with file, line and key path.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from trainspec.errors import Problem, SpecError, closest, format_path
from trainspec.spec._compose import Composer
from trainspec.spec._hash import spec_hash
from trainspec.spec._interp import interpolate
from trainspec.spec._override import apply_overrides, parse_overrides
from trainspec.spec._paths import KeyPath, Origin, lookup_origin
from trainspec.spec._schema_pipeline import STEP_OUTPUTS, PipelineSpec
from trainspec.spec._validate import problems_from

__all__ = ["REF", "LoadedPipeline", "StepRef", "is_pipeline_spec", "load_pipeline", "step_refs"]

# ${steps.NAME.OUTPUT}: OUTPUT is ``run_dir``, ``checkpoint.best``, ``outputs.data`` ...
REF = re.compile(r"\$\{steps\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_.-]+)\}")
# ${outputs.NAME}: a command step's own declared output.
OWN = re.compile(r"\$\{outputs\.([A-Za-z0-9_-]+)\}")
_ESCAPE = re.compile(r"\$\{(steps|outputs)\.")


@dataclass(frozen=True)
class StepRef:
    """One ``${steps.NAME.OUTPUT}`` written at ``path`` (a key path of the pipeline spec)."""

    step: str
    output: str
    path: KeyPath


@dataclass(frozen=True)
class LoadedPipeline:
    """A validated pipeline: the spec, its file, the graph, and where every key was written."""

    spec: PipelineSpec
    data: dict[str, Any]
    file: str
    folder: Path  # the pipeline file's folder: step spec files resolve against it
    order: tuple[str, ...]  # steps in dependency order (declaration order among equals)
    needs: Mapping[str, tuple[str, ...]]  # step -> the steps it waits for
    hash: str
    origins: Mapping[KeyPath, Origin] = field(default_factory=dict, repr=False, compare=False)

    def edges(self) -> list[tuple[str, str]]:
        """``(upstream, downstream)`` pairs, in step order."""
        return [(up, name) for name in self.order for up in self.needs[name]]

    def downstream(self, name: str) -> list[str]:
        """``name`` and every step that depends on it, in step order."""
        found = {name}
        for step in self.order:
            if any(up in found for up in self.needs[step]):
                found.add(step)
        return [s for s in self.order if s in found]

    def upstream(self, name: str) -> list[str]:
        """Every step ``name`` depends on, directly or not, in step order."""
        found: set[str] = set()
        todo = list(self.needs[name])
        while todo:
            step = todo.pop()
            if step not in found:
                found.add(step)
                todo.extend(self.needs[step])
        return [s for s in self.order if s in found]

    def problem(self, message: str, path: KeyPath, hint: str | None = None) -> SpecError:
        origin = lookup_origin(self.origins, path)
        return SpecError([_problem(message, path, origin, hint)])


def is_pipeline_spec(data: Mapping[str, Any]) -> bool:
    """A mapping with ``steps`` is a pipeline spec."""
    return "steps" in data


def _problem(message: str, path: KeyPath, origin: Origin | None, hint: str | None) -> Problem:
    return Problem(
        message,
        tuple(path),
        origin.source if origin else None,
        origin.line if origin else None,
        origin.column if origin else None,
        hint,
    )


def _strings(value: Any, path: KeyPath) -> Iterator[tuple[KeyPath, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _strings(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _strings(item, (*path, i))


def step_refs(name: str, step: Any) -> list[StepRef]:
    """Every ``${steps...}`` reference in one step's fields."""
    found = []
    for path, text in _strings(step, ("steps", name)):
        found += [StepRef(m.group(1), m.group(2), path) for m in REF.finditer(text)]
    return found


def _escape(value: Any) -> Any:
    """``${steps.`` -> ``$${steps.`` so that interpolation leaves references to the runner."""
    if isinstance(value, str):
        return _ESCAPE.sub(lambda m: "$" + m.group(0), value)
    if isinstance(value, dict):
        return {k: _escape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_escape(v) for v in value]
    return value


def _set_params(
    data: dict[str, Any], args: Sequence[str], origins: Any, file: str | None
) -> dict[str, Any]:
    params = data.get("params") or {}
    if not isinstance(params, dict):
        return data
    for arg in args:
        key = arg.split("=", 1)[0].lstrip("~")
        if key not in params:
            near = closest(key, list(params))
            hint = f"did you mean '{near}'?" if near else None
            shown = ", ".join(sorted(params)) or "none"
            raise SpecError.single(
                f"{arg!r} sets no parameter of the pipeline: {key!r} is not under params "
                f"(its params: {shown})",
                hint=hint or "declare it under params: in the pipeline file",
                file=file,
            )
    return apply_overrides(data, parse_overrides([f"params.{a}" for a in args]), origins=origins)


def _check_refs(spec: PipelineSpec, data: Mapping[str, Any]) -> list[tuple[str, KeyPath, str]]:
    """(message, path, hint) for each reference, ``after`` or own output that names nothing."""
    bad: list[tuple[str, KeyPath, str]] = []
    names = list(spec.steps)
    for name, step in spec.steps.items():
        raw = data["steps"][name]
        for ref in step_refs(name, raw):
            target = spec.steps.get(ref.step)
            if target is None:
                near = closest(ref.step, names)
                hint = f"did you mean '{near}'?" if near else f"steps: {', '.join(names)}"
                bad.append(
                    (f"reference to a step that does not exist: {ref.step!r}", ref.path, hint)
                )
                continue
            valid = list(STEP_OUTPUTS[target.kind])
            if target.kind == "command":
                valid += [f"outputs.{o}" for o in target.outputs]
            if ref.output not in valid:
                near = closest(ref.output, valid)
                hint = f"did you mean '{near}'?" if near else f"it has: {', '.join(valid)}"
                message = f"step {ref.step!r} ({target.kind}) has no output {ref.output!r}"
                bad.append((message, ref.path, hint))
        for i, up in enumerate(step.after):
            if up not in spec.steps:
                near = closest(up, names)
                hint = f"did you mean '{near}'?" if near else f"steps: {', '.join(names)}"
                bad.append(
                    (
                        f"after names a step that does not exist: {up!r}",
                        ("steps", name, "after", i),
                        hint,
                    )
                )
        own = list(getattr(step, "outputs", {}) or {})
        for path, text in _strings(raw, ("steps", name)):
            for m in OWN.finditer(text):
                if m.group(1) not in own:
                    hint = f"this step declares outputs: {', '.join(own) or 'none'}"
                    bad.append((f"${{outputs.{m.group(1)}}} is not declared", path, hint))
    return bad


def _needs(spec: PipelineSpec, data: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    needs = {}
    for name, step in spec.steps.items():
        ups = [r.step for r in step_refs(name, data["steps"][name])] + list(step.after)
        needs[name] = tuple(dict.fromkeys(u for u in ups if u in spec.steps))
    return needs


def _order(needs: Mapping[str, tuple[str, ...]]) -> tuple[list[str], list[str] | None]:
    """Steps in dependency order (earliest declared first among ready steps), and a cycle."""
    done: list[str] = []
    left = list(needs)
    while left:
        ready = [s for s in left if all(u in done for u in needs[s])]
        if not ready:
            return done, _cycle(needs, left)
        done.append(ready[0])
        left.remove(ready[0])
    return done, None


def _cycle(needs: Mapping[str, tuple[str, ...]], left: list[str]) -> list[str]:
    path = [left[0]]
    while True:
        nxt = next(u for u in needs[path[-1]] if u in left)
        if nxt in path:
            return [*path[path.index(nxt) :], nxt]
        path.append(nxt)


def load_pipeline(path: str | Path, params: Sequence[str] = ()) -> LoadedPipeline:
    """Read, parameterise, validate and order a pipeline spec (see the module docstring).

    Raises ``SpecError`` (exit status 2 in the CLI) listing every problem found.
    """
    composer = Composer()
    doc = composer.load_file(Path(path))
    data = _set_params(doc.data, params, doc.origins, composer.files[0] if composer.files else None)
    data = interpolate(_escape(data), doc.origins)
    try:
        spec = PipelineSpec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(problems_from(exc.errors(), PipelineSpec, data, doc.origins)) from None
    bad = _check_refs(spec, data)
    needs = _needs(spec, data)
    order, cycle = _order(needs)
    if cycle is not None:
        first = ("steps", cycle[0])
        bad.append(
            (
                f"the steps form a cycle: {' -> '.join(cycle)}",
                first,
                "a step cannot wait, directly or not, for its own outputs",
            )
        )
    if bad:
        problems = [_problem(m, p, lookup_origin(doc.origins, p), h) for m, p, h in bad]
        raise SpecError(problems)
    file = composer.files[0] if composer.files else str(path)
    return LoadedPipeline(
        spec,
        data,
        file,
        Path(path).resolve().parent,
        tuple(order),
        needs,
        spec_hash(data),
        doc.origins,
    )


def where(pipeline: LoadedPipeline, path: KeyPath) -> str:
    """``file:line: key.path`` for messages about one key."""
    origin = lookup_origin(pipeline.origins, path)
    return f"{origin or pipeline.file}: {format_path(path)}"
