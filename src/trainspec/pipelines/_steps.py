"""Each step as the trainspec command it stands for: its argv lists, its output paths, and
what its cache key hashes. The local runner and the Kubeflow / Airflow exports all take their
command lines from here, so what runs here runs there."""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trainspec.errors import Problem, SpecError
from trainspec.files import RunDir
from trainspec.spec import (
    OWN,
    REF,
    CommandStep,
    EvaluateStep,
    ExportStep,
    LoadedPipeline,
    PredictStep,
    PromoteStep,
    ReportStep,
    StepSpec,
    SweepStep,
    TrainStep,
)

__all__ = ["Resolver", "StepCommand", "build_step", "shown", "step_folder_name", "step_outputs"]

# Resolves ``${steps.X.OUT}`` (step, output) to text: a local path, or a placeholder in an export.
Resolver = Callable[[str, str], str]

_FILES = {"predict": "predictions", "evaluate": "evaluation.json", "report": "report.html"}


def shown(path: str | Path) -> str:
    """A path as written in command lines: relative to the working directory when inside it,
    so the same lines run in a container whose working directory is the project."""
    text = str(path)
    if not os.path.isabs(text):
        return text
    try:
        return Path(text).relative_to(Path.cwd()).as_posix() or "."
    except ValueError:
        return text


def _shown_arg(arg: str) -> str:
    """``shown`` for an argument, or for the value of a ``key=value`` override."""
    key, eq, value = arg.partition("=")
    if eq and os.path.isabs(value) and "/" not in key:
        return f"{key}={shown(value)}"
    return shown(arg) if os.path.isabs(arg) else arg


def step_folder_name(name: str) -> str:
    """The folder a step writes in, through the project's one name sanitiser."""
    from trainspec.files import safe_name

    return safe_name(name, what="pipeline step name", fallback="step")


def step_outputs(
    step: StepSpec, folder: str, job: Mapping[str, Any] | None = None
) -> dict[str, str]:
    """Output name -> path, for a step writing in ``folder`` (what ``${steps.X.OUT}`` means)."""
    out: dict[str, str] = {"dir": folder}
    if isinstance(step, TrainStep):
        out |= {
            "run_dir": folder,
            "checkpoint.best": f"{folder}/{RunDir.CHECKPOINTS}/best",
            "checkpoint.last": f"{folder}/{RunDir.CHECKPOINTS}/last",
        }
    elif isinstance(step, SweepStep):
        name = sweep_folder(job or {}, step.spec[0])
        out |= {"run_dir": f"{folder}/sweeps/{name}", "best_spec": f"{folder}/best.yaml"}
    elif isinstance(step, PredictStep):
        out["out"] = f"{folder}/predictions.{step.format}"
    elif isinstance(step, EvaluateStep | ReportStep):
        out["out"] = f"{folder}/{_FILES[step.kind]}"
    elif isinstance(step, ExportStep):
        out["out"] = folder
    elif isinstance(step, CommandStep):
        out |= {f"outputs.{k}": shown(v) for k, v in step.outputs.items()}
    return out


@dataclass
class StepCommand:
    """One step made concrete: the argv lists it runs (in order) and what it writes."""

    name: str
    kind: str
    argvs: list[list[str]]
    outputs: dict[str, str]
    spec_files: list[str] = field(default_factory=list)
    overrides: list[str] = field(default_factory=list)

    @property
    def line(self) -> str:
        """The command line a user could run by hand."""
        return " && ".join(shlex.join(a) for a in self.argvs)


def _subst(text: str, resolve: Resolver, own: Mapping[str, str]) -> str:
    text = REF.sub(lambda m: resolve(m.group(1), m.group(2)), text)
    return OWN.sub(lambda m: own[f"outputs.{m.group(1)}"], text)


def _opt(flag: str, value: Any) -> list[str]:
    return [] if value is None else [flag, str(value)]


def _run_args(
    step: PredictStep | EvaluateStep | ExportStep, sub: Callable[[str], str]
) -> list[str]:
    return [sub(step.run), *_opt("--checkpoint", step.checkpoint), *_opt("--fold", step.fold)]


def _argvs(
    step: StepSpec, folder: str, outputs: Mapping[str, str], sub: Callable[[str], str], pl: Path
) -> list[list[str]]:
    if isinstance(step, TrainStep | SweepStep):
        specs = [shown(pl / s) if not os.path.isabs(s) else shown(s) for s in step.spec]
        overrides = [_shown_arg(sub(o)) for o in step.overrides]
        if isinstance(step, TrainStep):
            return [["trainspec", "train", *specs, *overrides, "--run-dir", folder]]
        root = f"run.root={folder}"
        run = ["trainspec", "sweep", *specs, *overrides, root, *_opt("--workers", step.workers)]
        best = ["trainspec", "sweep", "best", *specs, *overrides, root]
        return [run, [*best, "--export", outputs["best_spec"]]]
    if isinstance(step, PredictStep):
        data = ["--data", _shown_arg(sub(step.data)), "--out", outputs["out"]]
        return [["trainspec", "predict", *_run_args(step, sub), *data]]
    if isinstance(step, EvaluateStep):
        argv = [
            "trainspec",
            "evaluate",
            *_run_args(step, sub),
            "--data",
            _shown_arg(sub(step.data)),
        ]
        argv += ["--split", step.split, *_opt("--by", step.by)]
        if step.splits_from is not None:
            argv += ["--splits-from", _shown_arg(sub(step.splits_from))]
        return [[*argv, "--out", outputs["out"]]]
    if isinstance(step, ExportStep):
        return [
            ["trainspec", "export", *_run_args(step, sub), "--format", step.format, "--out", folder]
        ]
    if isinstance(step, PromoteStep):
        argv = ["trainspec", "runs", "promote", sub(step.run), "--alias", step.alias]
        return [[*argv, *_opt("--name", step.name)]]
    if isinstance(step, ReportStep):
        return [["trainspec", "report", sub(step.run), "--out", outputs["out"]]]
    assert isinstance(step, CommandStep)
    return [[_shown_arg(sub(a)) for a in step.argv]]


def build_step(
    pipeline: LoadedPipeline,
    name: str,
    folder: str,
    resolve: Resolver,
    job: Mapping[str, Any] | None = None,
) -> StepCommand:
    """The commands of step ``name`` writing in ``folder``, references resolved by ``resolve``
    (``job``: the resolved job spec of a sweep step, which names its folder)."""
    step = pipeline.spec.steps[name]
    outputs = step_outputs(step, folder, job)

    def sub(text: str) -> str:
        return _subst(text, resolve, outputs)

    argvs = _argvs(step, folder, outputs, sub, pipeline.folder)
    command = StepCommand(name, step.kind, argvs, outputs)
    if isinstance(step, TrainStep | SweepStep):
        command.spec_files = [str(pipeline.folder / s) for s in step.spec]
        command.overrides = [sub(o) for o in step.overrides]
    return command


def check_job_specs(pipeline: LoadedPipeline) -> dict[str, dict[str, Any]]:
    """The static checks of every train / sweep step's job spec, before anything runs.

    References stand in as placeholder paths (their folders do not exist yet); the deep checks
    (data shapes, initial weights) run in the step's own command, just before it trains.
    Returns step -> resolved job spec.
    """
    from trainspec.experiments import spec_problems
    from trainspec.spec import load_spec

    resolved: dict[str, dict[str, Any]] = {}
    problems: list[Problem] = []
    for name, step in pipeline.spec.steps.items():
        if not isinstance(step, TrainStep | SweepStep):
            continue
        command = build_step(pipeline, name, f"<{name}>", _placeholder)
        try:
            loaded = load_spec(*command.spec_files, overrides=command.overrides)
            # Component names, parameters, references, imports: what validate checks, but
            # the data, which an earlier step may write.
            found = spec_problems(loaded, data=False)
            if found:
                raise SpecError(found)
        except SpecError as exc:
            head = pipeline.problem(
                f"the job spec of step {name!r} does not validate (below)", ("steps", name, "spec")
            )
            problems += [*head.problems, *exc.problems]
            continue
        resolved[name] = loaded.data
    if problems:
        raise SpecError(problems)
    return resolved


def _placeholder(step: str, output: str) -> str:
    return f"/pipeline/{step}/{output.replace('.', '/')}"


def sweep_folder(job: Mapping[str, Any], spec_file: str) -> str:
    """The name of the folder ``trainspec sweep`` makes under ``<run.root>/sweeps/``."""
    sweep = job.get("sweep") or {}
    return str(sweep.get("name") or job.get("name") or Path(spec_file).stem)


def find_strings(value: Any) -> list[str]:
    """Every string in a nested structure (for code references in a resolved spec)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [s for v in value.values() for s in find_strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in find_strings(v)]
    return []
