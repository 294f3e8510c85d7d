"""trainspec.pipelines: workflows of trainspec commands as a spec.

``load_pipeline`` (from ``trainspec.spec``) reads and checks a pipeline file; ``run_pipeline``
runs its steps in dependency order on this machine, each as the CLI command it stands for,
with a content-addressed cache; ``build_step`` gives any step's command lines, which the
Kubeflow and Airflow exports run unchanged.
"""

from trainspec.pipelines._airflow import AirflowOptions, airflow_dag
from trainspec.pipelines._export import default_out, export_steps
from trainspec.pipelines._graph import describe, mermaid, symbolic_command
from trainspec.pipelines._kubeflow import KubeflowOptions, kubeflow_pipeline, task_name
from trainspec.pipelines._report import write_pipeline_report
from trainspec.pipelines._runner import PipelineInterrupted, PlanRow, RunOptions, run_pipeline
from trainspec.pipelines._state import PIPELINE_FILE, STATES, Cache, RunRecord, evaluations
from trainspec.pipelines._steps import (
    StepCommand,
    build_step,
    check_job_specs,
    shown,
    step_outputs,
)

__all__ = [
    "PIPELINE_FILE",
    "STATES",
    "AirflowOptions",
    "Cache",
    "KubeflowOptions",
    "PipelineInterrupted",
    "PlanRow",
    "RunOptions",
    "RunRecord",
    "StepCommand",
    "airflow_dag",
    "build_step",
    "check_job_specs",
    "default_out",
    "describe",
    "evaluations",
    "export_steps",
    "kubeflow_pipeline",
    "mermaid",
    "run_pipeline",
    "shown",
    "step_outputs",
    "symbolic_command",
    "task_name",
    "write_pipeline_report",
]
