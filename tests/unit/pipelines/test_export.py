"""Exports without the engines installed: the Airflow file's text, the kfp install hint.
(tests/integration/test_pipeline_export.py loads both with the real packages.)"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path
from typing import Any

import pytest

from trainspec.pipelines import AirflowOptions, airflow_dag
from trainspec.spec import load_pipeline


def test_airflow_file_is_python_with_one_task_per_step(chain: Path) -> None:
    pipeline = load_pipeline(chain)
    for options in (AirflowOptions(project_dir="/srv/p"), AirflowOptions(image="img:1")):
        text = airflow_dag(pipeline, options)
        tree = ast.parse(text)
        calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)]
        ids = [k.value.value for c in calls for k in c.keywords if k.arg == "task_id"]  # type: ignore[attr-defined]
        assert ids == ["a", "b", "c", "d"]
        assert "t0 >> t1" in text and "t1 >> t2" in text and "t3 >>" not in text
        pods = options.image is not None
        argv = "['step.py', 'out/b.txt', 'b', '--read=out/a.txt',"
        assert (argv if pods else "python step.py out/b.txt b --read=out/a.txt") in text
        assert ("KubernetesPodOperator" in text) == (options.image is not None)


@pytest.mark.skipif(importlib.util.find_spec("kfp") is not None, reason="kfp is installed")
def test_kubeflow_without_kfp_says_what_to_install(cli: Any, chain: Path, tmp_path: Path) -> None:
    args = ["pipeline", "export", "chain.yaml", "--to", "kubeflow", "--image", "img:1"]
    result = cli(*args, cwd=tmp_path)
    assert result.returncode == 2 and "pip install 'trainspec[kubeflow]'" in result.stderr
    missing = cli("pipeline", "export", "chain.yaml", "--to", "kubeflow", cwd=tmp_path)
    assert missing.returncode == 2 and "--image" in missing.stderr
