"""``define:`` sub-graphs as ``validate`` checks them, without torch: every problem with its
file, line and key path."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from trainspec.errors import Problem, SpecError
from trainspec.spec import load_spec

GOOD = """\
inputs: {x: [8]}
define:
  dense:
    required: [units]
    params: {act: ReLU}
    layers: [{type: Linear, out_features: units}, act]
  pair:
    inputs: [a, b]
    blocks:
      join: {type: concat, in: [a, b]}
      body: {type: dense, units: 4}
blocks:
  first: {type: dense, units: 8, repeat: 2, overrides: [{act: Tanh}]}
  second: {type: pair, in: [first, x]}
"""


def _problems(tmp_path: Path, text: str, name: str = "net.yaml") -> list[Problem]:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    return caught.value.problems


def _one(tmp_path: Path, text: str) -> Problem:
    problems = _problems(tmp_path, text)
    assert len(problems) == 1, problems
    return problems[0]


def test_a_good_spec_validates(tmp_path: Path) -> None:
    (tmp_path / "net.yaml").write_text(GOOD)
    loaded = load_spec(tmp_path / "net.yaml")
    assert list(loaded.data["define"]) == ["dense", "pair"]


def test_unknown_argument_with_the_nearest_name(tmp_path: Path) -> None:
    problem = _one(tmp_path, GOOD.replace("units: 8,", "unit: 8,"))
    assert problem.path == ("blocks", "first", "unit")
    assert problem.message == "sub-graph 'dense' has no parameter 'unit'"
    assert problem.hint == "did you mean 'units'?"
    assert problem.file and problem.file.endswith("net.yaml") and problem.line == 13


def test_unknown_argument_in_an_override(tmp_path: Path) -> None:
    problem = _one(tmp_path, GOOD.replace("[{act: Tanh}]", "[{}, {activation: Tanh}]"))
    assert problem.path == ("blocks", "first", "overrides", 1, "activation")
    assert "has no parameter 'activation'" in problem.message


def test_missing_parameter_in_a_use_and_in_a_copy(tmp_path: Path) -> None:
    problem = _one(tmp_path, GOOD.replace("body: {type: dense, units: 4}", "body: dense"))
    assert problem.path == ("define", "pair", "blocks", "body")
    assert problem.message == "sub-graph 'dense' needs 'units'"
    text = GOOD.replace(
        "units: 8, repeat: 2, overrides: [{act: Tanh}]", "repeat: 2, overrides: [{units: 3}]"
    )
    problem = _one(tmp_path, text)
    assert problem.message == "sub-graph 'dense' needs 'units' in copy 1"


def test_definitions_in_a_circle(tmp_path: Path) -> None:
    text = GOOD.replace("body: {type: dense, units: 4}", "body: {type: loop}") + (
        "  last: {type: loop, in: second}\n"
    )
    text = text.replace(
        "define:\n", "define:\n  loop:\n    blocks: {inner: {type: pair, in: [x, x]}}\n"
    )
    problems = _problems(tmp_path, text)
    assert [p.message for p in problems] == [
        "sub-graphs use each other in a circle: loop -> pair -> loop"
    ]
    assert problems[0].path == ("define", "loop") and problems[0].line == 3


@pytest.mark.parametrize(
    ("change", "path", "message"),
    [
        (
            ("units: 8, repeat: 2, ", "units: 8, "),
            ("blocks", "first", "overrides"),
            "'overrides' changes copies of a repeat; add repeat: N",
        ),
        (
            ("[{act: Tanh}]", "[{}, {}, {}]"),
            ("blocks", "first", "overrides"),
            "3 entries for 2 copies (repeat: 2)",
        ),
        (
            ("[{act: Tanh}]", "[{in: x}]"),
            ("blocks", "first", "overrides", 0, "in"),
            "'in' is an option of the whole block; overrides change parameters",
        ),
        (
            ("[{act: Tanh}]", "{'0': {act: Tanh}}"),
            ("blocks", "first", "overrides"),
            "'overrides' must be a list of mappings, entry k for copy k; "
            "got {'0': {'act': 'Tanh'}}",
        ),
        (
            ("in: [first, x]", "in: first"),
            ("blocks", "second", "in"),
            "sub-graph 'pair' takes 2 input(s) (a, b); this block gives 1",
        ),
        (
            ("join: {type: concat, in: [a, b]}", "join: {type: concat, in: [a, c]}"),
            ("define", "pair", "blocks", "join", "in"),
            "'in' names 'c', which is neither an input nor a block of this sub-graph",
        ),
        (
            ("    blocks:\n      join", "    output: joint\n    blocks:\n      join"),
            ("define", "pair", "output"),
            "output 'joint' is not one of its blocks",
        ),
        (
            ("params: {act: ReLU}", "params: {act: ReLU, i: 1}"),
            ("define", "dense", "params"),
            "parameter 'i' is reserved for repeats (i: the copy's index, n: the number of "
            "copies); rename it",
        ),
        (
            ("params: {act: ReLU}", "params: {act: ReLU, repeat: 1}"),
            ("define", "dense", "params"),
            "parameter 'repeat' is reserved: every block takes it as an option; rename it",
        ),
        (
            ("inputs: [a, b]", "inputs: [a, join]"),
            ("define", "pair"),
            "'join' is both an input and a block; rename one",
        ),
        (
            (
                "layers: [{type: Linear, out_features: units}, act]",
                "layers: [{type: Linear, in: x}]",
            ),
            ("define", "dense", "layers", 0, "in"),
            "'in' has no place in a sequential list of layers (each takes the one before)",
        ),
        (
            ("    layers: [{type: Linear, out_features: units}, act]\n", ""),
            ("define", "dense"),
            "a sub-graph needs either 'blocks' (a graph) or 'layers' (a chain)",
        ),
        (
            ("layers: [{type: Linear, out_features: units}, act]", "blocks: {}"),
            ("define", "dense"),
            "a sub-graph needs at least one block",
        ),
    ],
)
def test_bad_definitions_and_uses(
    tmp_path: Path, change: tuple[str, str], path: tuple[str | int, ...], message: str
) -> None:
    assert change[0] in GOOD
    problems = _problems(tmp_path, GOOD.replace(*change))
    assert (path, message) in [(p.path, p.message) for p in problems], problems
    assert all(p.file and p.line for p in problems)


def test_unknown_key_of_a_definition(tmp_path: Path) -> None:
    problem = _one(tmp_path, GOOD.replace("params: {act: ReLU}", "param: {act: ReLU}"))
    assert problem.path == ("define", "dense", "param")
    assert problem.hint == "did you mean 'params'?"


def test_paths_in_a_job_spec_start_at_model(tmp_path: Path) -> None:
    arch = GOOD.replace("units: 8,", "unit: 8,")
    nested = "\n".join("  " + line for line in arch.splitlines())
    job = f"data: {{source: {{type: arrays}}}}\nmodel:\n{nested}\n"
    problems = _problems(tmp_path, job, "job.yaml")
    assert ("model", "blocks", "first", "unit") in [p.path for p in problems]


def test_validate_command_reports_with_file_and_line(
    tmp_path: Path, cli: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    (tmp_path / "net.yaml").write_text(GOOD.replace("units: 8,", "unit: 8,"))
    result = cli("validate", "net.yaml")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert (
        "net.yaml:13:24: blocks.first.unit: sub-graph 'dense' has no parameter 'unit' "
        "(did you mean 'units'?)" in " ".join(result.stderr.split())
    )
    (tmp_path / "good.yaml").write_text(GOOD)
    assert cli("validate", "good.yaml").returncode == 0
