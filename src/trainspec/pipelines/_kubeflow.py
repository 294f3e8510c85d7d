"""``trainspec pipeline export --to kubeflow``: a Kubeflow Pipelines v2 pipeline, built and
compiled with the ``kfp`` SDK (``pip install 'trainspec[kubeflow]'``).

One container component per step runs the step's command line in the image; each task mounts
the project's PersistentVolumeClaim at the image's working directory (``kfp-kubernetes``), so
the steps share their outputs as files there, under ``runs/pipelines/<name>/<KFP run id>/<step>/``
(the same layout as a local run, one folder per KFP run). KFP's own result caching
is switched off for every task: the files a cached task would stand for live on the volume,
not in KFP's artifact store.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trainspec.errors import TrainspecError
from trainspec.pipelines._export import ExportStep, export_steps, shell_line
from trainspec.pipelines._steps import step_folder_name
from trainspec.spec import LoadedPipeline

__all__ = ["KubeflowOptions", "kubeflow_pipeline", "task_name"]

_MARK = "@@RUN_DIR@@"  # stands for the run folder until each component is built


@dataclass(frozen=True)
class KubeflowOptions:
    image: str
    volume: str = "trainspec-project"  # the PersistentVolumeClaim holding the project
    mount_path: str = "/workspace"  # where it is mounted: the image's WORKDIR


def _kfp() -> Any:
    try:
        import kfp
        from kfp import kubernetes
    except ImportError as exc:
        raise TrainspecError(
            "exporting to Kubeflow Pipelines needs the kfp SDK: pip install 'trainspec[kubeflow]'"
            f" ({exc})"
        ) from None
    return kfp, kubernetes


def task_name(step: str) -> str:
    """The name KFP gives the task of ``step`` in the compiled pipeline."""
    return step.lower().replace("_", "-")


def _with_run_dir(text: str, prefix: str, run_id: Any) -> Any:
    """``text`` with the mark replaced by ``prefix/<run id>`` (an f-string placeholder)."""
    if _MARK not in text:
        return text
    head, _, tail = text.partition(_MARK)
    return f"{head}{prefix}/{run_id}{_with_run_dir(tail, prefix, run_id)}"


def _component(dsl: Any, step: ExportStep, image: str, prefix: str) -> Callable[..., Any]:
    if len(step.argvs) == 1:
        command, args = step.argvs[0][:1], step.argvs[0][1:]
    else:  # a sweep: its search, then the export of the best trial
        command, args = ["sh", "-c"], [shell_line(step.argvs)]

    def component(run_id: str) -> Any:
        return dsl.ContainerSpec(
            image=image,
            command=command,
            args=[_with_run_dir(a, prefix, run_id) for a in args],
        )

    # Real types, not the strings postponed annotations would leave: kfp reads them.
    component.__annotations__ = {"run_id": str, "return": dsl.ContainerSpec}
    component.__name__ = task_name(step.name).replace("-", "_")
    component.__qualname__ = component.__name__
    built: Callable[..., Any] = dsl.container_component(component)
    return built


def kubeflow_pipeline(pipeline: LoadedPipeline, options: KubeflowOptions, out: Path) -> Path:
    """Build the pipeline with the kfp SDK and compile it to ``out`` (YAML)."""
    kfp, kubernetes = _kfp()
    dsl = kfp.dsl
    steps = export_steps(pipeline, _MARK)
    prefix = f"runs/pipelines/{step_folder_name(pipeline.spec.name)}"
    components = {s.name: _component(dsl, s, options.image, prefix) for s in steps}

    def body() -> None:
        tasks: dict[str, Any] = {}
        for step in steps:
            task = components[step.name](run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER)
            task.set_display_name(step.name)
            task.set_caching_options(False)
            kubernetes.mount_pvc(task, pvc_name=options.volume, mount_path=options.mount_path)
            for up in step.needs:
                task.after(tasks[up])
            tasks[step.name] = task

    body.__annotations__ = {}  # no pipeline inputs or outputs (see the component's note)
    body.__name__ = step_folder_name(pipeline.spec.name).replace("-", "_")
    description = pipeline.spec.description or f"trainspec pipeline {pipeline.spec.name}"
    built = dsl.pipeline(name=task_name(pipeline.spec.name), description=description)(body)
    out.parent.mkdir(parents=True, exist_ok=True)
    kfp.compiler.Compiler().compile(built, package_path=str(out))
    return out
