"""Parameter types stored in the describe table, and spec values checked against them: the
encoding keeps what a YAML value can be judged by and drops what it cannot."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

import pytest
import torch

from trainspec.registry import describe, describe_encoded, encode_type, value_fits


@pytest.mark.parametrize(
    ("annotation", "good", "bad"),
    [
        (int, [3, -1], [1.5, True, "3", [3]]),
        (float, [0.1, 3], ["fast", False, None, [0.1]]),
        (bool, [True], [1, "yes"]),
        (float | None, [None, 1.0], ["x"]),
        (int | tuple[int, int], [3, [3, 3], (1, 2)], [[3], [3, 3, 3], 1.5]),
        (tuple[int, ...], [[], [1, 2, 3]], [[1.5], 3]),
        (Sequence[int], [[1, 2]], [1, ["a"]]),
        (list[str] | None, [["a"], None], ["a", [1]]),
        (Literal["avg", "max"], ["avg"], ["median", 1]),
        (Literal[1, 2], [1, 2], [True, 3, "1"]),
        (dict[str, Any], [{}], [[]]),
        (torch.Tensor | None, [1.0, [1, 2], [[1.0]], None], ["a", [True]]),
        (float | torch.Tensor, [0.1, [0.1]], ["fast"]),
    ],
)
def test_values_against_encoded_annotations(
    annotation: Any, good: list[Any], bad: list[Any]
) -> None:
    encoded = encode_type(annotation)
    assert encoded is not None
    for value in good:
        assert value_fits(value, encoded), (value, encoded)
    for value in bad:
        assert not value_fits(value, encoded), (value, encoded)


@pytest.mark.parametrize(
    "annotation",
    [Any, torch.nn.Module, Callable[[int], int], int | torch.device, torch.nn.Module | None],
)
def test_what_a_spec_value_cannot_be_judged_by_is_not_encoded(annotation: Any) -> None:
    assert encode_type(annotation) is None


def test_messages_name_the_type_as_a_spec_writes_it() -> None:
    assert describe_encoded(encode_type(int | tuple[int, int])) == "int | [int, int]"
    assert describe_encoded(encode_type(float | torch.Tensor)) == "float"
    assert describe_encoded(encode_type(list[str] | None)) == "a list of str | null"
    assert describe_encoded(encode_type(Literal["a", "b"])) == "'a' | 'b'"


def test_the_table_holds_the_types_of_real_components() -> None:
    linear = describe("block", "Linear")
    assert linear is not None and linear.types["out_features"] == "int"
    assert "in_features" not in linear.types  # inferred from the input shape
    adamw = describe("optimizer", "AdamW")
    assert adamw is not None and "params" not in adamw.types  # passed by the engine
    assert value_fits([0.9, 0.99], adamw.types["betas"]) and not value_fits(
        0.9, adamw.types["betas"]
    )
