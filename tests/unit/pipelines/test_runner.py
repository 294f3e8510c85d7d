"""The local runner: order, cache reuse, reruns on changed content, failure and resume,
--only / --from / --force / --dry-run, and a consistent pipeline.json after SIGTERM."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_report import assert_renders
from trainspec.errors import TrainspecError
from trainspec.pipelines import RunOptions, run_pipeline
from trainspec.spec import load_pipeline


def _run(path: Path, run_dir: str, *params: str, **options: Any) -> dict[str, str]:
    opts = RunOptions(run_dir=Path(run_dir), cache=Path("cache"), **options)
    _, rows = run_pipeline(load_pipeline(path, params), opts, echo=lambda _: None)
    return {r.name: r.state for r in rows}


def _record(run_dir: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((Path(run_dir) / "pipeline.json").read_text())
    return data


def test_runs_in_order_then_reuses_every_step_from_the_cache(chain: Path) -> None:
    assert _run(chain, "r1") == dict.fromkeys("abcd", "finished")
    assert Path("out/c.txt").read_text() == "c|b|hello"
    first = _record("r1")
    assert first["state"] == "finished" and first["edges"] == [["a", "b"], ["b", "c"]]
    step = first["steps"]["b"]
    assert step["command"].startswith("python step.py out/b.txt b --read=out/a.txt")
    assert step["key"] and step["started"] and step["ended"] and step["outputs"]["outputs.file"]
    assert _run(chain, "r2") == dict.fromkeys("abcd", "cached")
    again = _record("r2")["steps"]["b"]
    assert again["cached_from"] == step["dir"] and again["key"] == step["key"]
    assert not Path("r2/b").exists()  # reused where it is, not copied


def test_changed_input_param_or_code_reruns_what_depends_on_it(chain: Path) -> None:
    _run(chain, "r1")
    Path("input.txt").write_text("v2")  # a's declared input
    assert _run(chain, "r2") == {"a": "finished", "b": "cached", "c": "cached", "d": "cached"}
    # a wrote the same bytes, so b's upstream fingerprint is unchanged: b stays cached
    assert _run(chain, "r3", "word=bye") == {
        "a": "finished",
        "b": "finished",
        "c": "finished",
        "d": "cached",
    }
    Path("step.py").write_text(Path("step.py").read_text() + "\n# changed\n")
    assert set(_run(chain, "r4", "word=bye").values()) == {"finished"}


def test_a_failed_step_stops_its_dependents_and_a_rerun_continues(chain: Path) -> None:
    Path("fail_b").write_text("")
    assert _run(chain, "r1") == {"a": "finished", "b": "failed", "c": "blocked", "d": "finished"}
    record = _record("r1")
    assert record["state"] == "failed" and record["steps"]["b"]["returncode"] == 3
    Path("fail_b").unlink()
    assert _run(chain, "r1") == {"a": "finished", "b": "finished", "c": "finished", "d": "finished"}
    steps = _record("r1")["steps"]
    assert steps["b"]["returncode"] == 0 and steps["c"]["state"] == "finished"
    assert _record("r1")["state"] == "finished"


def test_only_from_force_and_dry_run(chain: Path) -> None:
    with pytest.raises(TrainspecError, match="needs the outputs of b"):
        _run(chain, "r0", only="c")
    plan = _run(chain, "r1", dry_run=True)
    assert plan == dict.fromkeys("abcd", "would run") and not Path("r1").exists()
    assert _run(chain, "r1", only="a") == {"a": "finished"}
    assert _run(chain, "r1", only="b") == {"b": "finished"}
    assert _run(chain, "r2", from_step="b") == {
        "a": "cached",
        "b": "finished",
        "c": "finished",
        "d": "finished",
    }
    assert _run(chain, "r3", force=("d",)) == {
        "a": "cached",
        "b": "cached",
        "c": "cached",
        "d": "finished",
    }
    assert _run(chain, "r4", dry_run=True) == dict.fromkeys("abcd", "cached")
    with pytest.raises(TrainspecError, match="did you mean 'b'"):
        _run(chain, "r5", force=("bb",))


def test_sigterm_leaves_pipeline_json_consistent_and_a_rerun_continues(
    chain: Path, tmp_path: Path
) -> None:
    text = chain.read_text().replace('"--fail-if=${here}/fail_b"', '"--wait=${here}/waiting"')
    chain.write_text(text)
    env = {**os.environ, "NO_COLOR": "1"}
    args = [sys.executable, "-m", "trainspec", "pipeline", "run", str(chain), "--run-dir", "r"]
    proc = subprocess.Popen(args, cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not (tmp_path / "waiting").exists():
        assert time.monotonic() < deadline and proc.poll() is None, proc.stderr
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and "--run-dir r" in stderr
    record = _record(str(tmp_path / "r"))
    assert record["state"] == "interrupted"
    assert [record["steps"][s]["state"] for s in "abcd"] == [
        "finished",
        "interrupted",
        "pending",
        "pending",
    ]
    chain.write_text(text.replace('"--wait=${here}/waiting"', '"--x"'))
    result = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "a: done (in this run)" in result.stderr
    assert _record(str(tmp_path / "r"))["state"] == "finished"


def test_report_of_a_pipeline_run(chain: Path, cli: Any, tmp_path: Path) -> None:
    Path("fail_b").write_text("")
    _run(chain, "r1")
    result = cli("report", "r1", "--out", "r1.html", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    page = Path("r1.html").read_text()
    # The step graph: a box per step and an arrow per edge, each titled; states written out.
    boxes = dict(re.findall(r'<g id="step-(\w+)"><title>([^<]*)</title>', page))
    assert {k: v.split(",")[0] for k, v in boxes.items()} == {
        "a": "a: finished",
        "b": "b: failed",
        "c": "c: blocked",
        "d": "d: finished",
    }
    assert re.findall(r'<g id="edge-([^"]+)"><title>', page) == ["a-b", "b-c"]
    for state in ("finished", "failed", "blocked"):
        assert f">{state}</text>" in page
    assert_renders(Path("r1.html"), min_plots=1)  # self-contained; laid out in Chromium
    assert "python step.py out/b.txt b --read=out/a.txt" in page
