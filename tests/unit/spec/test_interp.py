"""Interpolation: ${a.b}, ${env:NAME}, ${env:NAME,default}, references to references, errors."""

from __future__ import annotations

from typing import Any

import pytest

from trainspec.errors import SpecError
from trainspec.spec import load_spec
from trainspec.spec._interp import interpolate

from .conftest import JOB, Write


def resolve(data: dict[str, Any], env: dict[str, str] | None = None) -> dict[str, Any]:
    return interpolate(data, environ=env or {})


def test_full_value_keeps_type() -> None:
    out = resolve(
        {
            "a": {"n": 3, "f": 0.5, "b": True, "l": [1, 2], "m": {"x": 1}},
            "c": "${a.n}",
            "d": "${a.f}",
            "e": "${a.b}",
            "g": "${a.l}",
            "h": "${a.m}",
        }
    )
    assert (out["c"], out["d"], out["e"], out["g"], out["h"]) == (3, 0.5, True, [1, 2], {"x": 1})


def test_embedded_gives_a_string() -> None:
    out = resolve({"n": 3, "b": False, "z": None, "s": "run-${n}-${b}-${z}"})
    assert out["s"] == "run-3-false-null"


def test_list_items_and_index_forms() -> None:
    out = resolve({"l": [{"w": 4}, {"w": 5}], "a": "${l[1].w}", "b": "${l.0.w}"})
    assert (out["a"], out["b"]) == (5, 4)


def test_references_to_references() -> None:
    out = resolve({"a": "${b}", "b": "${c.d}", "c": {"d": "x${e}"}, "e": 7})
    assert out["a"] == out["b"] == "x7"


def test_reference_to_a_mapping_with_references() -> None:
    out = resolve({"base": {"lr": "${lr}"}, "lr": 0.1, "copy": "${base}"})
    assert out["copy"] == {"lr": 0.1}


def test_escape_gives_a_literal() -> None:
    assert resolve({"a": "$${not.a.ref}", "b": 1})["a"] == "${not.a.ref}"


def test_env_and_default() -> None:
    out = resolve(
        {
            "a": "${env:TS_A}",
            "b": "${env:TS_B,fallback}",
            "c": "p/${env:TS_A}",
            "d": "${env:TS_B,}",
        },
        {"TS_A": "hello"},
    )
    assert out == {"a": "hello", "b": "fallback", "c": "p/hello", "d": ""}


def test_env_value_is_converted_by_the_schema(
    write: Write, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TS_EPOCHS", "4")
    write("job.yaml", JOB.replace("epochs: 2", "epochs: ${env:TS_EPOCHS}"))
    loaded = load_spec("job.yaml")
    assert loaded.job is not None and loaded.job.train.epochs == 4


def test_missing_env_names_key_and_variable(write: Write, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TS_MISSING_VAR", raising=False)
    write("job.yaml", JOB + "  batch_size: ${env:TS_MISSING_VAR}\n")
    with pytest.raises(SpecError) as info:
        load_spec("job.yaml")
    problem = info.value.problems[0]
    assert problem.message == "environment variable TS_MISSING_VAR is not set"
    assert problem.path == ("train", "batch_size")
    assert (problem.file, problem.line) == ("job.yaml", 8)


def test_bad_env_name() -> None:
    with pytest.raises(SpecError, match="bad environment variable name"):
        resolve({"a": "${env:1X}"})


def test_cycle_is_an_error() -> None:
    with pytest.raises(SpecError) as info:
        resolve({"a": "${b}", "b": "${c}", "c": "${a}"})
    assert "references form a cycle: b -> c -> a -> b" in str(info.value)


def test_self_reference_through_a_parent_is_a_cycle() -> None:
    with pytest.raises(SpecError, match="cycle"):
        resolve({"a": {"b": "${a}"}})


def test_unknown_path_suggests_the_closest() -> None:
    with pytest.raises(SpecError) as info:
        resolve({"train": {"epochs": 3}, "x": "${train.epohcs}"})
    text = str(info.value)
    assert "'${train.epohcs}' refers to a key that does not exist" in text
    assert "did you mean 'train.epochs'?" in text


def test_mapping_cannot_be_embedded() -> None:
    with pytest.raises(SpecError, match="cannot be put inside a longer string"):
        resolve({"m": {"a": 1}, "s": "x${m}"})


def test_bad_reference_syntax() -> None:
    with pytest.raises(SpecError, match="bad reference"):
        resolve({"a": "${b..c}", "b": 1})


def test_interpolation_runs_after_overrides(write: Write) -> None:
    write("job.yaml", JOB + "name: run-${train.epochs}\n")
    loaded = load_spec("job.yaml", overrides=["train.epochs=9"])
    assert loaded.data["name"] == "run-9"


def test_interpolated_value_validates_with_its_type(write: Write) -> None:
    write("job.yaml", JOB + "  batch_size: ${train.epochs}\n")
    loaded = load_spec("job.yaml")
    assert loaded.job is not None and loaded.job.train.batch_size == 2
