"""Error locations through every kind of type a schema may use, on a schema made for the test."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import pytest
from pydantic import Field, ValidationError

from trainspec.errors import Problem
from trainspec.spec import Section
from trainspec.spec._paths import Origin, Origins
from trainspec.spec._validate import problems_from


class Leaf(Section):
    epochs: int = 1
    name: str = "x"


class A(Section):
    kind: Literal["a"]
    alpha: int = 0


class B(Section):
    kind: Literal["b"]
    beta: int = 0


class Root(Section):
    items: list[Leaf] = Field(default_factory=list)
    table: dict[str, Leaf] = Field(default_factory=dict)
    maybe: Leaf | None = None
    choice: Annotated[A | B, Field(discriminator="kind")] | None = None
    either: int | list[Leaf] = 0
    aliased: int = Field(default=0, alias="with-dash")


def problems(data: dict[str, Any]) -> list[Problem]:
    with pytest.raises(ValidationError) as info:
        Root.model_validate(data)
    origins: Origins = {("items",): Origin("f.yaml", 3, 1)}
    return problems_from(info.value.errors(), Root, data, origins)


@pytest.mark.parametrize(
    ("data", "path", "near"),
    [
        ({"items": [{}, {"epohcs": 1}]}, ("items", 1, "epohcs"), "epochs"),
        ({"table": {"x": {"nmae": "a"}}}, ("table", "x", "nmae"), "name"),
        ({"maybe": {"epohcs": 1}}, ("maybe", "epohcs"), "epochs"),
        ({"choice": {"kind": "b", "bta": 1}}, ("choice", "bta"), "beta"),
        ({"choice": {"kind": "a", "alpah": 1}}, ("choice", "alpah"), "alpha"),
        ({"either": [{"epohcs": 1}]}, ("either", 0, "epohcs"), "epochs"),
        ({"itmes": []}, ("itmes",), "items"),
        ({"with_dash": 1}, ("with_dash",), "with-dash"),
    ],
)
def test_unknown_key_through_containers_and_unions(
    data: dict[str, Any], path: tuple[str | int, ...], near: str
) -> None:
    (problem,) = problems(data)
    assert problem.path == path
    assert problem.hint == f"did you mean '{near}'?"


def test_type_error_inside_a_list_item() -> None:
    (problem,) = problems({"items": [{"epochs": "many"}]})
    assert problem.path == ("items", 0, "epochs")
    assert problem.message == "expected an integer, found 'many' (str)"
    assert (problem.file, problem.line) == ("f.yaml", 3)  # the nearest key with an origin


def test_union_that_matches_no_member() -> None:
    (problem,) = problems({"either": "x"})
    assert problem.path == ("either",)
    assert problem.message == "expected an integer or a list, found 'x' (str)"


def test_bad_discriminator_value() -> None:
    (problem,) = problems({"choice": {"kind": "c"}})
    assert problem.path == ("choice", "kind")
    assert problem.message.startswith("unknown kind 'c'")
