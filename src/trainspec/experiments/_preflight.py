"""Every check that can run before anything is created: ``check_spec`` is what
``trainspec validate`` runs, and what ``train`` and ``sweep`` run before they make a run
directory, a tracking run, a cache entry or a study.

``deep_check`` is ``validate --deep`` and what a run does next, still before writing: the
data prepared (its cache entry held back), the model built on the data's shapes (users'
modules imported and constructed, every block's shapes inferred), and a ``finetune:``
section applied to it (initial weights matched by name and shape, every pattern checked).

The static checks import no torch: names and parameters against the registry's describe
table, references, import paths, the monitored metric, the split, the data's paths and the
keys its roles name (from the header only). Each problem is located (file, line, key path)
through ``extends``, file references and overrides, and all are reported at once.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from trainspec.data import data_problems
from trainspec.errors import Problem, SpecError, TrainspecError
from trainspec.registry import component_problems
from trainspec.spec import LoadedSpec

if TYPE_CHECKING:
    from trainspec.data import DataShapes, PreparedData
    from trainspec.models import Model
    from trainspec.spec import JobSpec

__all__ = ["check_spec", "deep_check", "reusing_data", "spec_problems"]

log = logging.getLogger(__name__)


def spec_problems(loaded: LoadedSpec, *, data: bool = True) -> list[Problem]:
    """The static problems of a loaded spec, each with its file, line and key path.

    ``data=False`` leaves out the data's paths and keys (a pipeline step's data may be written
    by an earlier step)."""
    problems = component_problems(loaded.job, loaded.arch)
    if loaded.job is not None and data:
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


# A message that starts with a key path: "model.blocks.head (Linear): ...".
_LEADING_PATH = re.compile(r"^((?:model|data|train|finetune)(?:[.][\w/-]+|\[\d+\])*)[:( ]")


def _located_error(exc: TrainspecError, loaded: LoadedSpec) -> TrainspecError:
    """The error with the file and line of each problem's key (a ``SpecError``), or of the
    key its message starts with."""
    if isinstance(exc, SpecError):
        return SpecError([_located(p, loaded) for p in exc.problems])
    text = str(exc)
    match = _LEADING_PATH.match(text)
    if match is None:
        return exc
    origin = loaded.location(match.group(1))
    if origin is None or origin.line is None:
        return exc
    try:
        return type(exc)(f"{origin.source}:{origin.line}: {text}")
    except TypeError:  # a subclass with its own constructor: keep it as it is
        return exc


# Within ``reusing_data()``: the data prepared last, by what prepares it.
_REUSED: ContextVar[dict[str, PreparedData] | None] = ContextVar("_REUSED", default=None)


@contextlib.contextmanager
def reusing_data() -> Iterator[None]:
    """Runs in the block whose data is prepared as the run before it prepared it (the same
    ``data`` section, ``seed``, ``task`` and ``allow_imports``) train on that run's prepared
    data, in memory, rather than load, split and fit the transforms again: what a sweep
    worker's trials do when their parameters leave the data as it was. One data set is held
    at a time (dropped before a different one is prepared), and a user's ``Dataset`` (a
    ``dataset`` source, which may keep state of its own) is made afresh for every run."""
    token = _REUSED.set({})
    try:
        yield
    finally:
        _REUSED.reset(token)


def _data_key(job: JobSpec) -> str:
    return json.dumps(
        [job.data.model_dump(mode="json"), job.seed, job.task, list(job.allow_imports)],
        sort_keys=True,
        default=str,
    )


def deep_check(
    loaded: LoadedSpec,
    *,
    cache_dir: Path | None = None,
    full_data: bool = True,
    build: bool = True,
) -> PreparedData | None:
    """Build the model on the data's shapes as the run will, writing nothing. An error names
    the spec's file and line when its message starts with a key path.

    With ``full_data`` (a run's pre-flight) the data is prepared in full and returned (its
    cache entry held back: ``commit_cache()`` writes it); without it (``validate --deep``, a
    sweep's pre-flight) the shapes come from the data's first rows or record where the source
    allows (``sample_shapes``), and None is returned. None too for an architecture spec
    (built with its declared input shapes).

    The model is built on the meta device (shapes without storage: no memory, no
    initialisation), or on the CPU when a user's module needs real tensors to be built; a
    fine-tuning init file is matched against it from the file's header. Without ``build``
    only the data is prepared: a sweep's trial whose parameters leave the model as the
    sweep's own pre-flight built it."""
    try:
        return _deep_check(loaded, cache_dir, full_data, build)
    except TrainspecError as exc:
        raise _located_error(exc, loaded) from exc


def _deep_check(
    loaded: LoadedSpec, cache_dir: Path | None, full_data: bool, build: bool
) -> PreparedData | None:
    from trainspec.api import build_job_model
    from trainspec.data import sample_shapes
    from trainspec.models import build_model

    job = loaded.job
    if job is None:
        _checked_build(lambda: build_model(loaded.arch))
        return None
    shapes = None
    if not full_data:
        shapes = sample_shapes(job.data, task=job.task, allow_imports=job.allow_imports)
    if shapes is not None:
        log.debug("deep check on the shapes of %s", shapes.read)
        model = _checked_build(lambda: build_job_model(job, shapes))
        _check_finetune(job, model, shapes)
        return None
    prepared = _prepared(job, cache_dir, reuse=full_data)
    if build:
        model = _checked_build(lambda: build_job_model(job, prepared))
        _check_finetune(job, model, prepared)
    return prepared if full_data else None


def _prepared(job: JobSpec, cache_dir: Path | None, *, reuse: bool) -> PreparedData:
    """The job's data prepared in full (its cache entry held back), or, within
    ``reusing_data()``, the data the run before prepared when it is prepared alike."""
    from trainspec.data import prepare_data

    reused = _REUSED.get() if reuse else None
    key = None
    if reused is not None and job.data.source.type != "dataset":
        key = _data_key(job)
        if key in reused:
            return reused[key]
    if reused is not None:
        reused.clear()  # one data set in memory at a time
    prepared = prepare_data(
        job.data,
        seed=job.seed,
        task=job.task,
        allow_imports=job.allow_imports,
        cache_dir=cache_dir,
        defer_cache=True,
    )
    if reused is not None and key is not None:
        reused[key] = prepared
    return prepared


def _checked_build(build: Callable[[], Model]) -> Model:
    from trainspec.models import build_on_meta

    model, reason = build_on_meta(build)
    if reason is not None:
        log.info(
            "note: the model was checked on the CPU, not the meta device (it needs real "
            "tensors while it is built: %s)",
            reason,
        )
    return model


def _check_finetune(job: JobSpec, model: Model, data: PreparedData | DataShapes) -> None:
    """The ``finetune:`` section against the model, by its trainer: every pattern and group as
    the run applies them, and the init file's names and shapes read from its header (no tensor
    is loaded); a model that cannot be fine-tuned is refused."""
    if job.finetune is None:
        return
    from trainspec.api import job_settings
    from trainspec.engine import trainer_for

    trainer_for(model).prepare(model, job_settings(job, data), run_dir=None, load="header")
