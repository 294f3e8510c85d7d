"""The exports, checked by the real engines: the compiled KFP YAML loaded back by the kfp SDK,
the Airflow DAG file imported by apache-airflow's DagBag. Each task graph must equal the
pipeline's, and each task must run the command the local runner runs."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, ROOT
from tests.integration.export_venvs import venv_python
from trainspec.pipelines import export_steps, task_name
from trainspec.spec import load_pipeline

pytestmark = pytest.mark.integration

PIPELINE = EXAMPLES / "sleep_staging" / "pipeline.yaml"

READ_KFP = """\
import json, sys
from kfp.components import load_component_from_file
spec = load_component_from_file(sys.argv[1]).pipeline_spec
tasks = {n: sorted(t.dependent_tasks) for n, t in spec.root.dag.tasks.items()}
execs = {n: list(e["container"]["command"]) + list(e["container"]["args"])
         for n, e in spec.deployment_spec["executors"].items()}
print(json.dumps({"tasks": tasks, "execs": execs}))
"""

READ_DAGS = """\
import json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
out = {"errors": {k: str(v) for k, v in bag.import_errors.items()}, "dags": {}}
for dag_id, dag in bag.dags.items():
    out["dags"][dag_id] = {
        t.task_id: {"up": sorted(t.upstream_task_ids), "type": type(t).__name__,
                    "bash": getattr(t, "bash_command", None),
                    "argv": (getattr(t, "cmds", None) or [])
                            + (getattr(t, "arguments", None) or [])}
        for t in dag.tasks
    }
print("RESULT " + json.dumps(out))  # Airflow logs to stdout too
"""


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    return {**os.environ, "NO_COLOR": "1", **(extra or {})}


def _expected() -> dict[str, list[str]]:
    pipeline = load_pipeline(PIPELINE)
    return {name: sorted(pipeline.needs[name]) for name in pipeline.order}


def test_kubeflow_yaml_loads_back_with_the_pipeline_graph(tmp_path: Path) -> None:
    python = venv_python("kfp")
    out = tmp_path / "pipeline.yaml"
    args = ["-m", "trainspec", "pipeline", "export", str(PIPELINE.relative_to(ROOT))]
    args += ["--to", "kubeflow", "--image", "registry.example/trainspec:cpu", "--out", str(out)]
    env = _env({"PYTHONPATH": str(ROOT / "src")})
    made = subprocess.run([str(python), *args], cwd=ROOT, env=env, capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    read = subprocess.run(
        [str(python), "-c", READ_KFP, str(out)], env=env, capture_output=True, text=True
    )
    assert read.returncode == 0, read.stderr
    found = json.loads(read.stdout)
    expected = {task_name(k): sorted(task_name(u) for u in v) for k, v in _expected().items()}
    assert found["tasks"] == expected
    # The same command lines as a local run, the run folder a KFP placeholder.
    steps = export_steps(load_pipeline(PIPELINE), "RUN")
    for step in steps:
        argv = found["execs"][f"exec-{task_name(step.name)}"]
        placeholder = "runs/pipelines/sleep-staging/{{$.inputs.parameters['run_id']}}"
        assert [a.replace(placeholder, "RUN") for a in argv] == step.argvs[0]


@pytest.mark.parametrize("image", [None, "registry.example/trainspec:cpu"])
def test_airflow_dag_imports_with_the_pipeline_graph(tmp_path: Path, image: str | None) -> None:
    python = venv_python("airflow")
    dags = tmp_path / "dags"
    args = ["-m", "trainspec", "pipeline", "export", str(PIPELINE.relative_to(ROOT))]
    args += ["--to", "airflow", "--out", str(dags / "sleep_staging.py")]
    args += ["--image", image] if image else ["--project-dir", str(ROOT)]
    made = subprocess.run([sys.executable, *args], cwd=ROOT, env=_env(), capture_output=True,
                          text=True)  # fmt: skip
    assert made.returncode == 0, made.stderr
    home = {"AIRFLOW_HOME": str(tmp_path / "home"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    read = subprocess.run(
        [str(python), "-c", READ_DAGS, str(dags)], env=_env(home), capture_output=True, text=True
    )
    assert read.returncode == 0, read.stderr[-3000:]
    result = [line for line in read.stdout.splitlines() if line.startswith("RESULT ")]
    found = json.loads(result[-1].removeprefix("RESULT "))
    assert found["errors"] == {}
    tasks = found["dags"]["sleep-staging"]
    assert {k: v["up"] for k, v in tasks.items()} == _expected()
    run_dir = "runs/pipelines/sleep-staging/{{ ts_nodash }}"
    for step in export_steps(load_pipeline(PIPELINE), run_dir):
        task = tasks[step.name]
        if image is None:
            assert task["type"] == "BashOperator"
            assert shlex.split(task["bash"]) == step.argvs[0]
        else:
            assert task["type"] == "KubernetesPodOperator" and task["argv"] == step.argvs[0]
