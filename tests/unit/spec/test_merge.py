"""The merge rule: mappings merge, anything else on the right replaces; properties by hypothesis."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from trainspec.spec import merge

keys = st.sampled_from(["a", "b", "c", "d", "e"])
leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.text(max_size=5),
    st.lists(st.integers(), max_size=3),
)
trees = st.recursive(
    st.dictionaries(keys, leaves, max_size=4),
    lambda inner: st.dictionaries(keys, st.one_of(leaves, inner), max_size=4),
    max_leaves=12,
)

# Trees in which a key is always a mapping ("m*") or always a leaf ("v*"): no key changes
# between mapping and leaf from one tree to another, which is where associativity holds.
shaped = st.recursive(
    st.dictionaries(st.sampled_from(["v1", "v2", "v3"]), leaves, max_size=3),
    lambda inner: st.fixed_dictionaries(
        {},
        optional={
            "m1": inner,
            "m2": inner,
            "v1": leaves,
            "v2": leaves,
        },
    ),
    max_leaves=10,
)


def test_examples() -> None:
    base = {"train": {"epochs": 3, "metrics": ["a", "b"], "opt": {"lr": 1}}, "seed": 0}
    top = {"train": {"metrics": ["c"], "opt": {"wd": 2}}, "seed": None}
    assert merge(base, top) == {
        "train": {"epochs": 3, "metrics": ["c"], "opt": {"lr": 1, "wd": 2}},
        "seed": None,
    }
    assert merge({"a": {"x": 1}}, {"a": 5}) == {"a": 5}
    assert merge({"a": 5}, {"a": {"x": 1}}) == {"a": {"x": 1}}


@given(trees)
def test_empty_is_identity(a: dict[str, Any]) -> None:
    assert merge(a, {}) == a
    assert merge({}, a) == a


@given(trees)
def test_idempotent(a: dict[str, Any]) -> None:
    assert merge(a, a) == a


@given(trees, trees)
def test_right_side_wins_for_every_leaf(a: dict[str, Any], b: dict[str, Any]) -> None:
    out = merge(a, b)
    for key, value in b.items():
        if isinstance(value, dict) and isinstance(a.get(key), dict):
            assert out[key] == merge(a[key], value)
        else:
            assert out[key] == value  # lists and scalars replace, never combine
    for key, value in a.items():
        if key not in b:
            assert out[key] == value


@given(trees, trees)
def test_inputs_are_not_changed_and_output_shares_nothing(
    a: dict[str, Any], b: dict[str, Any]
) -> None:
    a0, b0 = copy.deepcopy(a), copy.deepcopy(b)
    out = merge(a, b)
    assert (a, b) == (a0, b0)
    for value in out.values():
        if isinstance(value, dict | list):
            assert all(value is not v for v in (*a.values(), *b.values()))


@given(trees, trees)
def test_key_order_left_then_new_keys(a: dict[str, Any], b: dict[str, Any]) -> None:
    out = merge(a, b)
    assert list(out) == list(a) + [k for k in b if k not in a]


@given(shaped, shaped, shaped)
def test_associative_when_kinds_agree(
    a: dict[str, Any], b: dict[str, Any], c: dict[str, Any]
) -> None:
    assert merge(merge(a, b), c) == merge(a, merge(b, c))
