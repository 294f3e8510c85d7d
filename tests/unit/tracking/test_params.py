"""flatten_params: a resolved spec as MLflow parameters."""

from __future__ import annotations

from trainspec.tracking import flatten_params
from trainspec.tracking._params import chunked, clean_key, truncate


def test_nested_spec_becomes_dotted_string_params() -> None:
    spec = {
        "seed": 0,
        "model": {"blocks": [{"type": "linear", "out": 64}, {"type": "dropout", "p": 0.1}]},
        "train": {"optimizer": {"lr": 1e-3, "betas": [0.9, 0.999]}, "resume": False},
        "data": {"split": None, "columns": ["a", "b"], "extra": {}},
        "allow_imports": [],
    }
    assert flatten_params(spec) == {
        "seed": "0",
        "model.blocks.0.type": "linear",
        "model.blocks.0.out": "64",
        "model.blocks.1.type": "dropout",
        "model.blocks.1.p": "0.1",
        "train.optimizer.lr": "0.001",
        "train.optimizer.betas": "[0.9, 0.999]",
        "train.resume": "false",
        "data.split": "null",
        "data.columns": '["a", "b"]',
        "data.extra": "{}",
        "allow_imports": "[]",
    }


def test_flat_params_pass_through_unchanged() -> None:
    flat = {"train.optimizer.lr": "0.001", "model.blocks.0.out": "64"}
    assert flatten_params(flat) == flat
    assert flatten_params(flatten_params({"a": {"b": [1, {"c": True}]}})) == {
        "a.b.0": "1",
        "a.b.1.c": "true",
    }


def test_long_values_are_cut_with_a_marker() -> None:
    flat = flatten_params({"notes": "y" * 800}, max_value_length=500)
    assert len(flat["notes"]) == 500
    assert flat["notes"].endswith(f"...[truncated {800 - 500 + 24} chars]")
    assert truncate("short", 500) == "short"


def test_keys_mlflow_refuses_are_cleaned_and_long_keys_stay_unique() -> None:
    assert clean_key("data.columns.heart rate (bpm)") == "data.columns.heart rate _bpm_"
    long_a, long_b = "k" * 300 + "a", "k" * 300 + "b"
    cut = flatten_params({long_a: 1, long_b: 2})
    assert len(cut) == 2 and all(len(key) == 250 for key in cut)


def test_chunked_respects_the_batch_size() -> None:
    assert [len(c) for c in chunked(list(range(250)), 100)] == [100, 100, 50]
    assert list(chunked([], 100)) == []
