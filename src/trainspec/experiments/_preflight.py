"""Every check that can run before anything is created: ``check_spec`` is what
``trainspec validate`` runs, and what ``train`` and ``sweep`` run before they make a run
directory, a tracking run, a cache entry or a study.

The static checks import no torch: names and parameters against the registry's describe
table, references, import paths, the monitored metric, the split, the data's paths and the
keys its roles name (from the header only). Each problem is located (file, line, key path)
through ``extends``, file references and overrides, and all are reported at once.
"""

from __future__ import annotations

from dataclasses import replace

from trainspec.data import data_problems
from trainspec.errors import Problem, SpecError
from trainspec.registry import component_problems
from trainspec.spec import LoadedSpec

__all__ = ["check_spec", "spec_problems"]


def spec_problems(loaded: LoadedSpec) -> list[Problem]:
    """The static problems of a loaded spec, each with its file, line and key path."""
    problems = component_problems(loaded.job, loaded.arch)
    if loaded.job is not None:
        problems += data_problems(loaded.job.data)
    return _in_order([_located(p, loaded) for p in problems], loaded.files)


def check_spec(loaded: LoadedSpec) -> None:
    """Raise one ``SpecError`` listing every static problem of ``loaded``."""
    problems = spec_problems(loaded)
    if problems:
        raise SpecError(problems)


def _located(problem: Problem, loaded: LoadedSpec) -> Problem:
    if problem.file is not None:
        return problem
    origin = loaded.location(problem.path)
    if origin is None:
        return replace(problem, file=", ".join(loaded.files) or None)
    return replace(problem, file=origin.source, line=origin.line, column=origin.column)


def _in_order(problems: list[Problem], files: tuple[str, ...]) -> list[Problem]:
    rank = {name: i for i, name in enumerate(files)}
    return sorted(
        problems,
        key=lambda p: (rank.get(p.file or "", len(files)), p.line or 0, p.column or 0),
    )
