"""Split plans: no group in two splits, class ratios kept, seeded and reproducible."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trainspec.data import prepare_data
from trainspec.data._splits import SplitInput, plan_splits
from trainspec.spec import DataSpec, SplitSpec


def _groups_of(fold: dict[str, np.ndarray], groups: np.ndarray) -> dict[str, set[Any]]:
    return {name: set(groups[idx].tolist()) for name, idx in fold.items()}


def _assert_partition(fold: dict[str, np.ndarray], n: int) -> None:
    every = np.concatenate(list(fold.values()))
    assert sorted(every.tolist()) == list(range(n))


@settings(max_examples=40, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 9), min_size=5, max_size=25),
    seed=st.integers(0, 10_000),
    folds=st.integers(2, 5),
)
def test_group_kfold_never_shares_a_group(sizes: list[int], seed: int, folds: int) -> None:
    groups = np.repeat(np.arange(len(sizes)), sizes)
    spec = SplitSpec(method="group_kfold", folds=folds)
    plan = plan_splits(spec, SplitInput(n=len(groups), groups=groups), seed)
    vals = [set(groups[f["val"]].tolist()) for f in plan.folds]
    for fold in plan.folds:
        _assert_partition(fold, len(groups))
        by_split = _groups_of(fold, groups)
        assert not by_split["train"] & by_split["val"]
    assert set().union(*vals) == set(range(len(sizes)))  # each group validates exactly once
    assert sum(len(v) for v in vals) == len(sizes)


@settings(max_examples=40, deadline=None)
@given(sizes=st.lists(st.integers(1, 9), min_size=3, max_size=25), seed=st.integers(0, 10_000))
def test_group_holdout_never_shares_a_group(sizes: list[int], seed: int) -> None:
    groups = np.array([f"g{i}" for i in np.repeat(np.arange(len(sizes)), sizes)])
    spec = SplitSpec(method="group", ratios={"train": 0.6, "val": 0.2, "test": 0.2})
    fold = plan_splits(spec, SplitInput(n=len(groups), groups=groups), seed).folds[0]
    _assert_partition(fold, len(groups))
    by_split = _groups_of(fold, groups)
    assert not (
        by_split["train"] & by_split["val"]
        or by_split["train"] & by_split["test"]
        or by_split["val"] & by_split["test"]
    )


def test_group_kfold_with_test_holdout_keeps_test_groups_out() -> None:
    groups = np.repeat(np.arange(20), 3)
    spec = SplitSpec(method="group_kfold", folds=3, ratios={"train": 0.8, "test": 0.2})
    plan = plan_splits(spec, SplitInput(n=len(groups), groups=groups), 0)
    test_groups = set(groups[plan.folds[0]["test"]].tolist())
    assert test_groups
    for fold in plan.folds:
        np.testing.assert_array_equal(fold["test"], plan.folds[0]["test"])
        assert not test_groups & set(groups[fold["train"]].tolist())
        assert not test_groups & set(groups[fold["val"]].tolist())


@settings(max_examples=40, deadline=None)
@given(
    counts=st.lists(st.integers(1, 40), min_size=2, max_size=6),
    seed=st.integers(0, 10_000),
    train=st.floats(0.3, 0.8),
)
def test_stratified_keeps_class_ratios_within_one_sample(
    counts: list[int], seed: int, train: float
) -> None:
    labels = np.repeat(np.arange(len(counts)), counts)
    ratios = {"train": train, "val": (1 - train) / 2, "test": (1 - train) / 2}
    spec = SplitSpec(method="stratified", ratios=ratios)
    fold = plan_splits(spec, SplitInput(n=len(labels), labels=labels), seed).folds[0]
    _assert_partition(fold, len(labels))
    for name, idx in fold.items():
        got = np.bincount(labels[idx], minlength=len(counts))
        expected = np.asarray(counts) * ratios[name]
        assert np.all(np.abs(got - expected) <= 1.0 + 1e-9), (name, got, expected)


def test_stratified_kfold_balances_classes_per_fold() -> None:
    labels = np.repeat([0, 1, 2], [30, 12, 6])
    plan = plan_splits(
        SplitSpec(method="stratified_kfold", folds=3), SplitInput(n=len(labels), labels=labels), 5
    )
    for fold in plan.folds:
        counts = np.bincount(labels[fold["val"]], minlength=3)
        np.testing.assert_array_equal(counts, [10, 4, 2])


def test_kfold_validates_every_sample_once() -> None:
    plan = plan_splits(SplitSpec(method="kfold", folds=4), SplitInput(n=22), 1)
    vals = np.concatenate([f["val"] for f in plan.folds])
    assert sorted(vals.tolist()) == list(range(22))


def test_time_split_keeps_order() -> None:
    order = np.array([5.0, 1.0, 4.0, 2.0, 3.0, 0.0, 9.0, 8.0, 7.0, 6.0])
    fold = plan_splits(
        SplitSpec(method="time", ratios={"train": 0.6, "val": 0.4}),
        SplitInput(n=10, order=order),
        0,
    ).folds[0]
    assert order[fold["train"]].max() < order[fold["val"]].min()


def test_same_seed_same_splits_json(frame: Any, tmp_path: Path) -> None:
    frame.to_csv(tmp_path / "d.csv", index=False)

    def plan(seed: int) -> str:
        raw = {
            "source": {"type": "csv", "path": str(tmp_path / "d.csv")},
            "features": ["a", "b"],
            "target": "label",
            "group": "subject",
            "id": "subject",
            "split": {"method": "group_kfold", "folds": 3},
        }
        prepared = prepare_data(DataSpec.model_validate(raw), seed=seed)
        return json.dumps(prepared.splits.to_json(), sort_keys=True)

    first = plan(7)
    assert first == plan(7)
    assert first != plan(8)
    loaded = json.loads(first)
    assert loaded["method"] == "group_kfold" and len(loaded["folds"]) == 3
    assert len(loaded["groups"]) == 60 and len(loaded["ids"]) == 60


def test_predefined_column_and_index_file(frame: Any, tmp_path: Path) -> None:
    frame["which"] = np.where(np.arange(len(frame)) < 45, "train", "val")
    frame.to_csv(tmp_path / "d.csv", index=False)
    base = {
        "source": {"type": "csv", "path": str(tmp_path / "d.csv")},
        "features": ["a", "b"],
        "target": "label",
    }
    by_column = prepare_data(
        DataSpec.model_validate({**base, "split": {"method": "predefined", "column": "which"}}),
        seed=0,
    )
    assert by_column.splits.folds[0]["val"].tolist() == list(range(45, 60))
    folds = [
        {"train": list(range(0, 40)), "val": list(range(40, 60))},
        {"train": list(range(20, 60)), "val": list(range(0, 20))},
    ]
    (tmp_path / "idx.json").write_text(json.dumps(folds))
    by_file = prepare_data(
        DataSpec.model_validate(
            {**base, "split": {"method": "predefined", "file": str(tmp_path / "idx.json")}}
        ),
        seed=0,
    )
    assert len(by_file.splits.folds) == 2
    assert by_file.fold(1).indices["val"].tolist() == list(range(20))


def test_split_spec_checks() -> None:
    with pytest.raises(ValueError, match="sum to 1"):
        SplitSpec(ratios={"train": 0.5, "val": 0.2})
    with pytest.raises(ValueError, match="needs 'folds'"):
        SplitSpec(method="kfold")
