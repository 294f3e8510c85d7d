"""What both exports share: every step's argv lists, written with the run folder as a prefix
the workflow engine fills in (an Airflow template, a KFP pipeline parameter).

Steps exchange outputs through a **shared volume**, not engine artifacts: every task runs the
same command line as ``trainspec pipeline run`` in the same working directory (the project
checkout on a volume all tasks mount), and writes under ``<run folder>/<step>/``. So what runs
here runs there, paths and all; the price is a ReadWriteMany volume (or one node).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

from trainspec.pipelines._steps import build_step, check_job_specs, step_folder_name
from trainspec.spec import LoadedPipeline

__all__ = ["ExportStep", "export_steps", "shell_line"]


@dataclass(frozen=True)
class ExportStep:
    """One task: its name (a valid task id), the steps it waits for, and its argv lists."""

    name: str
    kind: str
    needs: tuple[str, ...]
    argvs: list[list[str]]


def export_steps(pipeline: LoadedPipeline, run_dir: str) -> list[ExportStep]:
    """Every step in run order, its folders under ``run_dir`` (a string the engine expands).

    The job specs get the same static checks as before a local run, so an export of a broken
    pipeline fails here, not on the cluster.
    """
    jobs = check_job_specs(pipeline)
    outputs: dict[str, dict[str, str]] = {}
    steps = []
    for name in pipeline.order:
        folder = f"{run_dir}/{step_folder_name(name)}"
        command = build_step(pipeline, name, folder, lambda s, o: outputs[s][o], jobs.get(name))
        outputs[name] = command.outputs
        kind = pipeline.spec.steps[name].kind
        steps.append(ExportStep(name, kind, pipeline.needs[name], command.argvs))
    return steps


def shell_line(argvs: list[list[str]]) -> str:
    """Several argv lists as one ``a && b`` line, each argument quoted (a sweep's two commands)."""
    return " && ".join(shlex.join(a) for a in argvs)


def default_out(pipeline: LoadedPipeline, target: str) -> Path:
    name = step_folder_name(pipeline.spec.name)
    return Path(f"{name}.py" if target == "airflow" else f"{name}.yaml")
