"""The pipeline spec: schema, parameters, references, graph, and errors with file:line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.unit.pipelines.conftest import CHAIN, Write
from trainspec.errors import SpecError
from trainspec.spec import json_schemas, load_pipeline


def test_graph_order_and_params(chain: Path) -> None:
    pipeline = load_pipeline(chain, ["word=bye"])
    assert pipeline.order == ("a", "b", "c", "d")
    assert pipeline.edges() == [("a", "b"), ("b", "c")]
    assert pipeline.downstream("a") == ["a", "b", "c"] and pipeline.upstream("c") == ["a", "b"]
    step = pipeline.spec.steps["a"]
    assert step.argv[-1] == "bye"  # type: ignore[union-attr]
    assert "${steps.a.outputs.file}" in pipeline.spec.steps["b"].argv[4]  # type: ignore[union-attr]


BROKEN = [
    # (what the file's steps hold, the line the error is on, words of the message)
    (
        "  x: {kind: report, run: '${steps.y.out}'}\n  y: {kind: report, run: '${steps.x.out}'}\n",
        4,
        "cycle: x -> y -> x",
    ),
    ("  x: {kind: report, run: '${steps.nope.out}'}\n", 4, "does not exist: 'nope'"),
    (
        "  x: {kind: report, run: r}\n  y: {kind: report, run: '${steps.x.run_dir}'}\n",
        5,
        "has no output 'run_dir'",
    ),
    ("  x: {kind: train, overrides: []}\n", 4, "missing required key 'spec'"),
    ("  x: {kind: trian, spec: a.yaml}\n", 4, "trian"),
    ("  x: {kind: report, run: r, after: [z]}\n", 4, "after names a step that does not exist"),
    ("  x: {kind: command, argv: [a, '${outputs.f}']}\n", 4, "${outputs.f} is not declared"),
    ("  x: {kind: command, argv: 'python gen.py'}\n", 4, "expected a list"),
    ("  x: {kind: evaluate, run: r, data: d, split: tset}\n", 4, "did you mean 'test'"),
    ("  bad name: {kind: report, run: r}\n", 4, "bad name"),
]


@pytest.mark.parametrize(("steps", "line", "words"), BROKEN)
def test_spec_errors_name_file_line_and_key(
    write: Write, steps: str, line: int, words: str
) -> None:
    path = write("p.yaml", "name: p\nparams: {}\nsteps:\n" + steps)
    with pytest.raises(SpecError) as info:
        load_pipeline(path)
    text = str(info.value)
    assert words in text
    assert f"p.yaml:{line}" in text and "steps." in text


def test_unknown_param_is_an_error(chain: Path) -> None:
    with pytest.raises(SpecError, match="did you mean 'word'"):
        load_pipeline(chain, ["wrod=x"])


def test_schema_has_the_pipeline_spec() -> None:
    schema = json_schemas()["pipeline"]
    assert set(schema["properties"]) >= {"name", "params", "steps"}
    text = str(schema)
    for kind in ("train", "sweep", "predict", "evaluate", "export", "promote", "report", "command"):
        assert f"'{kind}'" in text


def test_bad_pipeline_exits_2_and_runs_nothing(cli: Any, write: Write, tmp_path: Path) -> None:
    write("step.py", "import pathlib; pathlib.Path('ran').write_text('yes')\n")
    bad = CHAIN.replace("${steps.b.outputs.file}", "${steps.b.outputs.fil}")
    first = "  first: {kind: command, argv: [python, step.py]}\n"
    write("p.yaml", bad.replace("steps:\n", "steps:\n" + first, 1))
    result = cli("pipeline", "run", "p.yaml", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "p.yaml:" in result.stderr and "did you mean 'outputs.file'" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "ran").exists()


def test_job_specs_are_checked_before_any_step_runs(cli: Any, write: Write, tmp_path: Path) -> None:
    write("step.py", "import pathlib; pathlib.Path('ran').write_text('yes')\n")
    write("job.yaml", "data: {source: {type: sklearn, name: iris}}\ntrain: {epoch: 3}\n")
    write(
        "p.yaml",
        """\
        name: p
        steps:
          first: {kind: command, argv: [python, step.py]}
          fit: {kind: train, spec: job.yaml, after: [first]}
        """,
    )
    result = cli("pipeline", "run", "p.yaml", cwd=tmp_path)
    assert result.returncode == 2
    assert "p.yaml:4" in result.stderr and "steps.fit.spec" in result.stderr
    assert "job.yaml:2" in result.stderr and "did you mean 'epochs'" in result.stderr
    assert not (tmp_path / "ran").exists()


def test_show_prints_steps_and_mermaid_without_torch(chain: Path) -> None:
    code = (
        "import sys; from trainspec.spec import load_pipeline; "
        "from trainspec.pipelines import describe, mermaid; "
        f"p = load_pipeline({str(chain)!r}); print(mermaid(p)); print(describe(p)[1]['command']); "
        "print('torch' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    lines = result.stdout.splitlines()
    assert lines[0] == "flowchart TD" and "    s0 --> s1" in lines and "    s1 --> s2" in lines
    assert "${steps.a.outputs.file}" in lines[-2] and lines[-1] == "False"


def test_validate_and_show_on_the_command_line(cli: Any, chain: Path, tmp_path: Path) -> None:
    ok = cli("validate", "chain.yaml", "word=hi", cwd=tmp_path)
    assert ok.returncode == 0 and "valid pipeline spec (4 steps" in ok.stdout
    bad = cli("validate", "chain.yaml", "wrod=hi", cwd=tmp_path)
    assert bad.returncode == 2 and "chain.yaml: " in bad.stderr and "'word'" in bad.stderr
    shown = cli("pipeline", "show", "chain.yaml", "--json", cwd=tmp_path)
    data = json.loads(shown.stdout)
    assert data["edges"] == [["a", "b"], ["b", "c"]]
    assert data["steps"][2]["command"].startswith("python step.py out/c.txt c")
