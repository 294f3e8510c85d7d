"""Command-line overrides: parsing, applying, errors, and the parser's properties."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from trainspec.errors import SpecError, format_path
from trainspec.spec import Override, apply_overrides, load_spec, parse_overrides
from trainspec.spec._dump import _Dumper

from .conftest import JOB, Write

BASE: dict[str, Any] = {"train": {"epochs": 3, "optimizer": {"lr": 0.1}}, "l": [{"a": 1}, 2]}


def value_of(text: str) -> Any:
    return parse_overrides([f"x={text}"])[0].value


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("3", 3),
        ("1e-4", 1e-4),
        ("2.5", 2.5),
        ("[10]", [10]),
        ("[a, 2]", ["a", 2]),
        ("{a: 1, b: [x]}", {"a": 1, "b": ["x"]}),
        ("null", None),
        ("", None),
        ("true", True),
        ("'3'", "3"),
        ('"1e-4"', "1e-4"),
        ("hello world", "hello world"),
        ("a=b", "a=b"),
        ("val/accuracy", "val/accuracy"),
    ],
)
def test_values_are_yaml(text: str, value: Any) -> None:
    assert value_of(text) == value
    assert type(value_of(text)) is type(value)


def test_parse_paths() -> None:
    parsed = parse_overrides(["a.b.c=1", "model.layers[0].out=2", "l.1=3", "~train.scheduler"])
    assert [o.path for o in parsed] == [
        ("a", "b", "c"),
        ("model", "layers", 0, "out"),
        ("l", 1),
        ("train", "scheduler"),
    ]
    assert parsed[3].remove
    assert parsed[0].label == "override 'a.b.c=1'"


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("=3", "key path is empty"),
        ("a..b=1", "an empty segment"),
        ("train.epochs", "no '='"),
        ("a.b c=1", "bad segment 'b c'"),
        ("~a.b=1", "takes no value"),
        ("~", "key path is empty"),
        ("0.a=1", "starts with a key"),
        ("a=[1, 2", "YAML syntax error"),
        ("a={x: 1, x: 2}", "duplicate key 'x'"),
    ],
)
def test_malformed_overrides(text: str, why: str) -> None:
    with pytest.raises(SpecError) as info:
        parse_overrides([text])
    assert why in str(info.value)
    assert text in str(info.value)


def test_all_malformed_overrides_reported_at_once() -> None:
    with pytest.raises(SpecError) as info:
        parse_overrides(["=1", "ok=1", "nope"])
    assert len(info.value.problems) == 2


def test_set_nested_create_remove_and_list_items() -> None:
    out = apply_overrides(
        BASE,
        [
            "train.epochs=5",
            "train.scheduler.name=cosine",
            "~train.optimizer",
            "l[0].a=7",
            "l.1=[9]",
        ],
    )
    assert out["train"] == {"epochs": 5, "scheduler": {"name": "cosine"}}
    assert out["l"] == [{"a": 7}, [9]]
    assert BASE["train"]["epochs"] == 3  # the input is not changed


def test_set_through_null_creates_a_mapping() -> None:
    assert apply_overrides({"s": None}, ["s.name=x"]) == {"s": {"name": "x"}}


def test_remove_list_item() -> None:
    assert apply_overrides({"l": [1, 2, 3]}, ["~l[1]"]) == {"l": [1, 3]}


@pytest.mark.parametrize(
    ("item", "why"),
    [
        ("~train.epohcs", "no key 'train.epohcs' to remove (did you mean 'epochs'?)"),
        ("~nothing.here", "no key 'nothing' to remove"),
        ("train.epochs.x=1", "'train.epochs' holds 3 (int), which has no keys"),
        ("l[5]=1", "past the end of a list of 2 item(s)"),
        ("l.x=1", "'l' is a list"),
    ],
)
def test_bad_application(item: str, why: str) -> None:
    with pytest.raises(SpecError) as info:
        apply_overrides(BASE, [item])
    assert why in str(info.value)


def test_override_origin_and_unknown_key_report(write: Write) -> None:
    write("job.yaml", JOB)
    loaded = load_spec("job.yaml", overrides=["train.batch_size=8", "train.optimizer.lr=1e-4"])
    assert loaded.origin("train.batch_size") == "override 'train.batch_size=8'"
    assert loaded.job is not None and loaded.job.train.optimizer.lr == pytest.approx(1e-4)
    assert loaded.origin("train.epochs") == "job.yaml"
    with pytest.raises(SpecError) as info:
        load_spec("job.yaml", overrides=["train.epohcs=3"])
    problem = info.value.problems[0]
    assert problem.file == "override 'train.epohcs=3'"
    assert problem.path == ("train", "epohcs")
    assert problem.hint == "did you mean 'epochs'?"


def test_override_can_name_a_model_file(write: Write) -> None:
    write("job.yaml", JOB)
    write("other.yaml", "target: my_pkg.Net\n")
    loaded = load_spec("job.yaml", overrides=["model=other.yaml"])
    assert loaded.data["model"] == {"target": "my_pkg.Net"}
    assert loaded.origin("model.target") == "other.yaml"


def test_override_objects_are_accepted(write: Write) -> None:
    write("job.yaml", JOB)
    loaded = load_spec("job.yaml", overrides=[Override(("seed",), 5, text="seed=5"), "name=n"])
    assert (loaded.data["seed"], loaded.data["name"]) == (5, "n")


# --- properties -------------------------------------------------------------------------------

keys = st.from_regex(r"[A-Za-z_][A-Za-z0-9_\-]{0,8}", fullmatch=True)
segments = st.one_of(keys, st.integers(min_value=0, max_value=99))
paths = st.tuples(keys).flatmap(
    lambda head: st.lists(segments, max_size=4).map(lambda rest: (*head, *rest))
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=20),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(keys, inner, max_size=3)),
    max_leaves=8,
)


def as_flow_yaml(value: Any) -> str:
    text = yaml.dump(value, Dumper=_Dumper, default_flow_style=True, width=10**9)
    return text.removesuffix("\n").removesuffix("\n...")


@given(paths, values)
def test_any_path_and_value_round_trip(path: tuple[str | int, ...], value: Any) -> None:
    text = f"{format_path(path)}={as_flow_yaml(value)}"
    (override,) = parse_overrides([text])
    assert override.path == path
    assert override.value == value
    assert not override.remove


@given(st.lists(keys, min_size=1, max_size=5), values)
def test_set_then_read_back(path: list[str], value: Any) -> None:
    out = apply_overrides({}, [Override(tuple(path), value, text="t")])
    for key in path:
        out = out[key]
    assert out == value
