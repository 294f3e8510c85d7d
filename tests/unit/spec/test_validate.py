"""Validation messages: file and line, key path as written, expected and found, did you mean."""

from __future__ import annotations

import pytest

from trainspec.errors import Problem, SpecError
from trainspec.spec import GraphArch, ImportedModel, SequentialArch, load_spec

from .conftest import ARCH, JOB, Write


def problems(write: Write, text: str, name: str = "job.yaml") -> list[Problem]:
    write(name, text)
    with pytest.raises(SpecError) as info:
        load_spec(name)
    return info.value.problems


def only(write: Write, text: str, name: str = "job.yaml") -> Problem:
    found = problems(write, text, name)
    assert len(found) == 1, "\n".join(p.render() for p in found)
    return found[0]


def test_valid_job_and_arch(write: Write) -> None:
    write("job.yaml", JOB)
    write("net.yaml", ARCH)
    job = load_spec("job.yaml")
    assert job.kind == "job" and job.job is not None and job.job.train.epochs == 2
    assert isinstance(job.arch, SequentialArch)
    arch = load_spec("net.yaml")
    assert arch.kind == "arch" and arch.job is None and isinstance(arch.arch, SequentialArch)


def test_arch_kinds(write: Write) -> None:
    write("g.yaml", "inputs: {x: [3]}\nblocks: {a: {type: Linear, out_features: 2}}\n")
    write("i.yaml", "target: my_pkg.Net\n")
    assert isinstance(load_spec("g.yaml").arch, GraphArch)
    assert isinstance(load_spec("i.yaml").arch, ImportedModel)


@pytest.mark.parametrize(
    ("text", "path", "near", "line"),
    [
        (JOB + "sede: 1\n", ("sede",), "seed", 8),
        (JOB + "  epohcs: 3\n", ("train", "epohcs"), "epochs", 8),
        (
            JOB + "  early_stopping: {patience: 2, min_dleta: 0.1}\n",
            ("train", "early_stopping", "min_dleta"),
            "min_delta",
            8,
        ),
        (
            JOB + "  checkpoint:\n    keep_lst: 3\n",
            ("train", "checkpoint", "keep_lst"),
            "keep_last",
            9,
        ),
        (JOB.replace("name: iris}", "name: iris, nmae: x}"), ("data", "source", "nmae"), "name", 5),
        (JOB.replace("  layers:", "  lyers: 1\n  layers:"), ("model", "lyers"), "layers", 3),
        (JOB + "run: {nmae: x}\n", ("run", "nmae"), "name", 8),
        (
            JOB.replace("data:\n", "data:\n  split: {ratio: {}}\n"),
            ("data", "split", "ratio"),
            "ratios",
            5,
        ),
    ],
)
def test_unknown_key_at_any_depth(
    write: Write, text: str, path: tuple[str, ...], near: str, line: int
) -> None:
    problem = only(write, text)
    assert problem.path == path
    assert problem.message == f"unknown key '{path[-1]}'"
    assert problem.hint == f"did you mean '{near}'?"
    assert (problem.file, problem.line) == ("job.yaml", line)


def test_unknown_key_in_arch_spec(write: Write) -> None:
    problem = only(write, ARCH + "ouputs: x\n", "net.yaml")
    assert problem.path == ("ouputs",)
    assert problem.file == "net.yaml"


def test_unknown_key_far_from_any_lists_valid_keys(write: Write) -> None:
    problem = only(write, JOB + "  zzzzzz: 1\n")
    assert problem.hint is not None and problem.hint.startswith("valid keys here: ")
    assert "epochs" in problem.hint


def test_unknown_key_in_referenced_file_points_there(write: Write) -> None:
    write("net.yaml", ARCH + "lyers: []\n")
    problem = only(write, "model: net.yaml\ndata: {source: {type: sklearn, name: iris}}\n")
    assert (problem.file, problem.line, problem.path) == ("net.yaml", 6, ("model", "lyers"))


def test_wrong_type_names_expected_and_found(write: Write) -> None:
    problem = only(write, JOB.replace("epochs: 2", "epochs: ten"))
    assert problem.path == ("train", "epochs")
    assert problem.message == "expected an integer, found 'ten' (str)"
    assert (problem.line, problem.column) == (7, 3)


@pytest.mark.parametrize(
    ("replace", "message"),
    [
        (("epochs: 2", "epochs: 2.5"), "expected a whole number, found 2.5 (float)"),
        (("epochs: 2", "epochs: 0"), "must be at least 1, found 0 (int)"),
        (("epochs: 2", "epochs: [2]"), "expected an integer, found a list"),
        (("epochs: 2", "compile: maybe"), "expected true or false, found 'maybe' (str)"),
        (("epochs: 2", "metrics: accuracy"), "expected a list, found 'accuracy' (str)"),
        (("epochs: 2", "optimizer: adam"), "expected a mapping, found 'adam' (str)"),
        (("epochs: 2", "device: gpu"), "must match the pattern"),
    ],
)
def test_type_and_constraint_messages(write: Write, replace: tuple[str, str], message: str) -> None:
    problem = only(write, JOB.replace(*replace))
    assert problem.message.startswith(message)


def test_literal_suggests_the_closest(write: Write) -> None:
    problem = only(write, JOB + "  precision: fp61\n")
    assert problem.message == "expected one of 'fp32', 'bf16' or 'fp16', found 'fp61' (str)"
    assert problem.hint == "did you mean 'fp16'?"


def test_union_member_noise_is_stripped(write: Write) -> None:
    problem = only(write, ARCH.replace("  - ReLU", "  - 5"), "net.yaml")
    assert problem.path == ("layers", 1)
    assert problem.message == "expected a string or a mapping, found 5 (int)"
    assert problem.line == 4


def test_union_keeps_the_member_that_matched(write: Write) -> None:
    problem = only(write, ARCH.replace("inputs: [4]", "inputs: [4, x]"), "net.yaml")
    assert problem.path == ("inputs", 1)
    assert problem.message == "expected an integer, found 'x' (str)"


def test_discriminated_source_paths_have_no_tags(write: Write) -> None:
    found = problems(write, JOB.replace("{type: sklearn, name: iris}", "{type: csv, pth: a}"))
    assert {(p.path, p.message) for p in found} == {
        (("data", "source", "path"), "missing required key 'path'"),
        (("data", "source", "pth"), "unknown key 'pth'"),
    }
    assert next(p for p in found if p.path[-1] == "pth").hint == "did you mean 'path'?"


def test_unknown_source_type_suggests(write: Write) -> None:
    problem = only(write, JOB.replace("type: sklearn", "type: cvs"))
    assert problem.path == ("data", "source", "type")
    assert problem.message.startswith("unknown type 'cvs'; expected one of 'sklearn', 'csv'")
    assert problem.hint == "did you mean 'csv'?"


def test_missing_source_type_lists_choices(write: Write) -> None:
    problem = only(write, JOB.replace("{type: sklearn, name: iris}", "{name: iris}"))
    assert problem.path == ("data", "source", "type")
    assert problem.message == "missing required key 'type'"
    assert problem.hint is not None and "'sklearn'" in problem.hint


def test_missing_required_key_points_at_parent(write: Write) -> None:
    problem = only(write, JOB.replace("  source: {type: sklearn, name: iris}\n", "  cache: true\n"))
    assert problem.path == ("data", "source")
    assert problem.message == "missing required key 'source'"
    assert problem.line == 4


def test_architecture_kind_error(write: Write) -> None:
    problem = only(write, JOB.replace("  layers:", "  lauers:"))
    assert problem.path == ("model",)
    assert "needs 'layers'" in problem.message


def test_model_validator_message(write: Write) -> None:
    problem = only(write, JOB.replace("data:\n", "data:\n  split: {ratios: {train: 0.5}}\n"))
    assert problem.path == ("data", "split")
    assert problem.message == "split ratios must sum to 1; they sum to 0.5"


def test_all_problems_at_once_in_file_order(write: Write) -> None:
    text = JOB.replace("epochs: 2", "epochs: x\n  batch_size: -1\n  epohcs: 1") + "sede: 2\n"
    found = problems(write, text)
    assert [p.path[-1] for p in found] == ["epochs", "batch_size", "epohcs", "sede"]
    assert [p.line for p in found] == [7, 8, 9, 10]


def test_error_message_text(write: Write) -> None:
    write("job.yaml", JOB + "  epohcs: 3\n")
    with pytest.raises(SpecError) as info:
        load_spec("job.yaml")
    assert str(info.value) == (
        "job.yaml:8:3: train.epohcs: unknown key 'epohcs' (did you mean 'epochs'?)"
    )


def test_empty_mapping_source_is_an_arch_problem() -> None:
    with pytest.raises(SpecError, match="an architecture needs"):
        load_spec({})
