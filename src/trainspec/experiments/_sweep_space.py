"""The search space of a sweep: spec paths, their Optuna distributions, and trial specs.

A parameter's Optuna name is its spec path (``train.optimizer.lr``). Categorical choices that
are not scalars (a list of layer sizes, a mapping) travel through Optuna as their JSON text
and are decoded back when a trial's spec is built.
"""

from __future__ import annotations

import copy
import itertools
import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from trainspec.errors import Problem, SpecError, closest, format_path
from trainspec.spec import (
    CategoricalParam,
    FloatParam,
    IntParam,
    Override,
    SweepSpec,
    apply_overrides,
    load_spec,
    parse_overrides,
)

if TYPE_CHECKING:
    import optuna
    from optuna.distributions import BaseDistribution

__all__ = ["MAX_GRID", "SEARCHED", "SearchSpace", "spec_paths"]

# More grid points than this is a mistake (a float range without a step, say), not a plan.
MAX_GRID = 100_000

Param = FloatParam | IntParam | CategoricalParam
# In a sweep's own parameters, a list item that the sweep searches.
SEARCHED = "<searched>"


def _describe(p: Param) -> str:
    """A range as the sweep's tracking parameter shows it: ``loguniform(0.0001, 0.1)``."""
    if isinstance(p, CategoricalParam):
        return "choice(" + ", ".join(json.dumps(c, sort_keys=True) for c in p.choices) + ")"
    if isinstance(p, FloatParam):
        kind = "loguniform" if p.log else "uniform"
        step = f", step={p.step!r}" if p.step is not None else ""
        return f"{kind}({p.low!r}, {p.high!r}{step})"
    if p.log:
        return f"logint({p.low}, {p.high})"
    return f"int({p.low}, {p.high}{f', step={p.step}' if p.step != 1 else ''})"


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, bool | int | float | str)


def spec_paths(data: Any, prefix: tuple[str | int, ...] = ()) -> Iterator[str]:
    """Every key path in resolved spec data, containers included (``train``,
    ``train.optimizer``, ``model.layers[0].out_features``)."""
    if isinstance(data, Mapping):
        for key, value in data.items():
            path = (*prefix, str(key))
            yield format_path(path)
            yield from spec_paths(value, path)
    elif isinstance(data, list):
        for i, value in enumerate(data):
            path = (*prefix, i)
            yield format_path(path)
            yield from spec_paths(value, path)


def _lookup(data: Any, path: tuple[str | int, ...]) -> tuple[bool, Any]:
    current = data
    for part in path:
        if isinstance(current, Mapping) and str(part) in current:
            current = current[str(part)]
        elif isinstance(current, list) and isinstance(part, int) and part < len(current):
            current = current[part]
        else:
            return False, None
    return True, current


@dataclass(frozen=True)
class _Entry:
    name: str  # as written in sweep.params: the Optuna parameter name
    path: tuple[str | int, ...]
    param: Param
    encoded: bool  # categorical choices carried as JSON text


class SearchSpace:
    """``sweep.params`` checked against a base spec, as Optuna distributions."""

    def __init__(self, sweep: SweepSpec) -> None:
        entries = []
        for name, param in sweep.params.items():
            try:
                (parsed,) = parse_overrides([f"{name}=0"])
            except SpecError as exc:
                raise SpecError.single(
                    f"{name!r} is not a key path: {exc.problems[0].message}",
                    path=("sweep", "params"),
                    hint="write a path such as train.optimizer.lr or model.layers[0].out_features",
                ) from None
            encoded = isinstance(param, CategoricalParam) and not all(
                _is_scalar(c) for c in param.choices
            )
            entries.append(_Entry(name, parsed.path, param, encoded))
        self.entries: list[_Entry] = entries

    @property
    def names(self) -> list[str]:
        return [e.name for e in self.entries]

    @property
    def keeps_model(self) -> bool:
        """Whether every parameter is a ``train.`` key: the model and the data's shapes are
        those of the base spec, whatever a trial draws."""
        return all(e.path[:1] == ("train",) for e in self.entries)

    def is_log(self, name: str) -> bool:
        """Whether ``name`` is sampled on a log scale (and is best plotted on one)."""
        return any(e.name == name and getattr(e.param, "log", False) for e in self.entries)

    # -- Optuna --------------------------------------------------------------------------

    def distributions(self) -> dict[str, BaseDistribution]:
        from optuna.distributions import (
            CategoricalDistribution,
            FloatDistribution,
            IntDistribution,
        )

        out: dict[str, BaseDistribution] = {}
        for e in self.entries:
            p = e.param
            if isinstance(p, FloatParam):
                out[e.name] = FloatDistribution(p.low, p.high, log=p.log, step=p.step)
            elif isinstance(p, IntParam):
                out[e.name] = IntDistribution(p.low, p.high, log=p.log, step=p.step)
            else:
                choices = [json.dumps(c, sort_keys=True) if e.encoded else c for c in p.choices]
                out[e.name] = CategoricalDistribution(choices)
        return out

    def suggest(self, trial: optuna.Trial) -> dict[str, Any]:
        """Draw (or, for a queued trial, read back) every parameter: name -> Optuna value."""
        values: dict[str, Any] = {}
        for e in self.entries:
            p = e.param
            if isinstance(p, FloatParam):
                values[e.name] = trial.suggest_float(e.name, p.low, p.high, log=p.log, step=p.step)
            elif isinstance(p, IntParam):
                values[e.name] = trial.suggest_int(e.name, p.low, p.high, log=p.log, step=p.step)
            else:
                choices = [json.dumps(c, sort_keys=True) if e.encoded else c for c in p.choices]
                values[e.name] = trial.suggest_categorical(e.name, choices)
        return values

    def decode(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Optuna values -> the values written into the spec."""
        out = {}
        for e in self.entries:
            if e.name in values:
                value = values[e.name]
                out[e.name] = json.loads(value) if e.encoded else value
        return out

    def encode(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Spec values -> Optuna values (for queued trials)."""
        return {
            e.name: json.dumps(values[e.name], sort_keys=True) if e.encoded else values[e.name]
            for e in self.entries
            if e.name in values
        }

    # -- tracking ------------------------------------------------------------------------

    def tracking_key(self, name: str) -> str:
        """``model.layers[2].p`` as a tracking parameter name, ``space.model.layers.2.p``:
        MLflow refuses brackets, and the spec's own parameters index lists the same way."""
        entry = next(e for e in self.entries if e.name == name)
        return "space." + ".".join(str(part) for part in entry.path)

    def described(self) -> dict[str, str]:
        """Each parameter's range as text, by tracking key: ``uniform(0.1, 0.5)``."""
        return {self.tracking_key(e.name): _describe(e.param) for e in self.entries}

    def drawn(self, values: Mapping[str, Any]) -> dict[str, str]:
        """A trial's (decoded) values as text, by tracking key."""
        return {
            self.tracking_key(name): value if isinstance(value, str) else json.dumps(value)
            for name, value in values.items()
        }

    def without(self, base: Mapping[str, Any]) -> dict[str, Any]:
        """``base`` without the searched values: its key goes from a mapping (and a mapping
        left empty goes too); a list item becomes ``"<searched>"`` (the others keep their
        places)."""
        data = copy.deepcopy(dict(base))
        for e in self.entries:
            for depth in range(len(e.path), 0, -1):
                found, parent = _lookup(data, e.path[: depth - 1])
                last = e.path[depth - 1]
                if depth < len(e.path) and _lookup(parent, (last,))[1] != {}:
                    break  # the mapping above still holds other keys
                if found and isinstance(parent, dict):
                    parent.pop(str(last), None)
                elif isinstance(parent, list) and isinstance(last, int) and last < len(parent):
                    parent[last] = SEARCHED
                    break
        return data

    # -- specs ---------------------------------------------------------------------------

    def apply(self, base: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
        """``base`` with each parameter's (decoded) value set at its path."""
        overrides = [
            Override(e.path, values[e.name], text=f"{e.name}={values[e.name]!r}")
            for e in self.entries
            if e.name in values
        ]
        return apply_overrides(base, overrides)

    def check(self, base: Mapping[str, Any]) -> None:
        """Before any trial: every path is in the spec (or a key the schema takes) and every
        extreme value or choice gives a valid spec. Reports every problem at once."""
        known = list(spec_paths(base))
        problems: list[Problem] = []
        for e in self.entries:
            where = ("sweep", "params", e.name)
            found, current = _lookup(base, e.path)
            if found and isinstance(current, Mapping):
                problems.append(
                    Problem(
                        f"'{e.name}' is a section of the spec, not a value",
                        where,
                        hint="search a value inside it, e.g. "
                        + (next(iter(_leaves(current, e.name)), f"{e.name}.<key>")),
                    )
                )
                continue
            for value in self._extremes(e):
                problem = self._try(base, e, value, found, known)
                if problem is not None:
                    problems.append(problem)
                    break
        if problems:
            raise SpecError(problems)

    @staticmethod
    def _extremes(e: _Entry) -> list[Any]:
        p = e.param
        if isinstance(p, CategoricalParam):
            return list(p.choices)
        return [p.low, p.high]

    def _try(
        self, base: Mapping[str, Any], e: _Entry, value: Any, found: bool, known: list[str]
    ) -> Problem | None:
        where = ("sweep", "params", e.name)
        try:
            data = self.apply(base, {e.name: value})
            load_spec(data)
        except SpecError as exc:
            first = exc.problems[0]
            if not found:
                near = closest(e.name, known, cutoff=0.5)
                parent = format_path(e.path[:-1]) if len(e.path) > 1 else "the top level"
                siblings = [k for k in known if k.startswith(parent + ".")] if near is None else []
                hint = (
                    f"did you mean '{near}'?"
                    if near
                    else f"keys under {parent}: {', '.join(sorted(siblings)[:12]) or 'none'}"
                )
                return Problem(
                    f"'{e.name}' is not a path of the job spec ({first.message})", where, hint=hint
                )
            return Problem(
                f"value {value!r} for '{e.name}' gives an invalid spec: {first.message}",
                where,
                hint="narrow the range or the choices to values the spec accepts",
            )
        return None

    # -- grid ----------------------------------------------------------------------------

    def grid(self) -> list[dict[str, Any]]:
        """Every point of the grid (Optuna values), in a fixed order."""
        axes: list[list[Any]] = []
        for e in self.entries:
            axes.append(self._axis(e))
        size = math.prod(len(a) for a in axes)
        if size > MAX_GRID:
            raise SpecError.single(
                f"the grid has {size:,} points, more than {MAX_GRID:,}",
                path=("sweep", "params"),
                hint="use fewer values per parameter, or a random/tpe sampler",
            )
        return [dict(zip(self.names, point, strict=True)) for point in itertools.product(*axes)]

    def _axis(self, e: _Entry) -> list[Any]:
        p = e.param
        if isinstance(p, CategoricalParam):
            return [json.dumps(c, sort_keys=True) if e.encoded else c for c in p.choices]
        if isinstance(p, IntParam):
            if p.log:
                return list(range(p.low, p.high + 1))
            return list(range(p.low, p.high + 1, p.step))
        if p.step is None:
            raise SpecError.single(
                f"the grid sampler needs a step for float parameter '{e.name}'",
                path=("sweep", "params", e.name),
                hint="add step: ..., or list the values as {type: categorical, choices: [...]}",
            )
        n = math.floor((p.high - p.low) / p.step + 1e-9) + 1
        return [round(p.low + i * p.step, 12) for i in range(n)]


def _leaves(data: Mapping[str, Any], prefix: str) -> Iterator[str]:
    for path in spec_paths(data):
        yield f"{prefix}.{path}"
