"""The Model API: users' modules, scikit-learn estimators, save/load, predict, evaluate."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from tests.unit.models.conftest import USER_PKG, accuracy, build_torch, train_steps
from trainspec.errors import IntegrityError, ModelError
from trainspec.files import write_manifest
from trainspec.models import (
    SklearnModel,
    TorchModel,
    build_model,
    load_model,
    summarize,
)

SLEEPNET = {
    "target": f"{USER_PKG}.user_nets.SleepNet",
    "params": {"n_samples": 64, "n_features": 3, "n_filters": 4, "n_classes": 5},
    "inputs": {"ecg_input": "ecgs", "additional_input": "additional"},
    "output": 0,
}
MLP = {
    "inputs": [6],
    "layers": [
        {"type": "Linear", "out_features": 8},
        "ReLU",
        {"type": "Linear", "out_features": 3},
    ],
}


def _tabular(n: int = 60) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 6)).astype(np.float32)
    return x, (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 1).astype(np.int64)


def test_user_module_from_flat_params_maps_batch_keys_and_selects_output(tmp_path: Path) -> None:
    flat = tmp_path / "net_params.json"
    flat.write_text(json.dumps(SLEEPNET["params"]))
    arch = {**SLEEPNET, "params": json.loads(flat.read_text())}
    model = build_torch(
        arch,
        input_shapes={"ecgs": (None, 1, 64), "additional": (None, 3)},
        allow_imports=[USER_PKG],
        seed=0,
    )
    assert isinstance(model, TorchModel)
    assert model.input_keys == ("ecgs", "additional")
    gen = torch.Generator().manual_seed(0)
    batch = {
        "ecgs": torch.randn(4, 5, 1, 64, generator=gen),
        "additional": torch.randn(4, 5, 3, generator=gen),
    }
    y = torch.randint(0, 5, (4, 5), generator=gen)
    assert model.forward_batch(batch).shape == (4, 5, 5)
    losses = train_steps(model, batch, y, steps=30, lr=0.05)
    assert losses[-1] < losses[0]
    summary = summarize(model)
    assert summary.total_params == sum(p.numel() for p in model.module.parameters())
    rows = {r.name: r for r in summary.rows}
    assert rows["head"].output_shape == (None, 5) and rows["conv"].params == 4 * 5 + 4


def test_user_module_dict_output_by_key_and_own_parameters_in_summary() -> None:
    arch = {
        "target": f"{USER_PKG}.user_nets.DictNet",
        "params": {"n_in": 4, "n_out": 2},
        "output": "logits",
        "input_shapes": {"x": [4]},
    }
    model = build_torch(arch, allow_imports=[USER_PKG])
    assert isinstance(model, TorchModel)
    assert model.predict(np.ones((3, 4), dtype=np.float32)).shape == (3,)
    summary = summarize(model)
    assert {r.name for r in summary.rows} == {"x", "body", "(own)"}
    assert sum(r.params for r in summary.rows) == summary.total_params == 11


def test_torch_model_save_load_gives_identical_predictions(tmp_path: Path) -> None:
    model = build_torch(MLP, seed=1)
    x, y = _tabular()
    assert isinstance(model, TorchModel)
    train_steps(model, {"x": torch.from_numpy(x)}, torch.from_numpy(y), steps=5)
    saved = model.save(tmp_path / "m")
    assert (saved / "model.safetensors").is_file()
    info = json.loads((saved / "model.json").read_text())
    assert info["kind"] == "torch" and info["input_shapes"] == {"x": [6]}
    loaded = load_model(saved)
    assert isinstance(loaded, TorchModel)
    np.testing.assert_array_equal(loaded.predict_proba(x), model.predict_proba(x))


def test_user_module_reload_needs_its_package_allowed(tmp_path: Path) -> None:
    model = build_torch(
        SLEEPNET,
        input_shapes={"ecgs": (None, 1, 64), "additional": (None, 3)},
        allow_imports=[USER_PKG],
        seed=0,
    )
    model.save(tmp_path)
    with pytest.raises(ModelError, match="allow_imports"):
        load_model(tmp_path)
    loaded = load_model(tmp_path, allow_imports=[USER_PKG])
    X = {"ecgs": np.ones((2, 3, 1, 64), np.float32), "additional": np.ones((2, 3, 3), np.float32)}
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_weights_that_do_not_fit_are_refused(tmp_path: Path) -> None:
    build_torch(MLP, seed=0).save(tmp_path)
    info = json.loads((tmp_path / "model.json").read_text())
    info["arch"]["layers"][0]["out_features"] = 9
    (tmp_path / "model.json").write_text(json.dumps(info))
    with pytest.raises(IntegrityError, match="model.json does not match its checksum"):
        load_model(tmp_path)
    write_manifest(tmp_path, ["model.safetensors", "model.json"])  # an edit made on purpose
    with pytest.raises(ModelError, match="do not fit the architecture"):
        load_model(tmp_path)


def test_evaluate_with_registered_and_given_metrics(unit_metric: str) -> None:
    model = build_torch(MLP, seed=0)
    x, y = _tabular()
    scores = model.evaluate(x, y, metrics=(unit_metric, accuracy))
    expected = float((model.predict(x) == y).mean())
    assert scores == {unit_metric: expected, "accuracy": expected}
    masked = model.evaluate(x, y, metrics=(accuracy,), mask=np.arange(60) < 10)
    assert masked["accuracy"] == float((model.predict(x[:10]) == y[:10]).mean())


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_evaluate_runs_the_network_once_over_the_data(task: str) -> None:
    out = 3 if task == "classification" else 1
    arch = {"inputs": [4], "layers": [{"type": "Linear", "out_features": out}]}
    model = build_torch(arch, task=task, seed=0)
    calls: list[int] = []
    model.module.register_forward_hook(lambda _m, args, _out: calls.append(len(args[0])))
    x = np.random.default_rng(0).normal(size=(1000, 4)).astype(np.float32)
    y = np.arange(1000) % 3 if task == "classification" else x.sum(axis=1)
    metrics = ("accuracy",) if task == "classification" else ("rmse",)
    scores = model.evaluate(x, y, metrics)
    assert calls == [256, 256, 256, 232]  # 4 batches of predict's size, each through once
    calls.clear()
    if task == "classification":
        assert scores["accuracy"] == float((model.predict(x) == y).mean())
    else:
        assert scores["rmse"] == pytest.approx(float(np.sqrt(((model.predict(x) - y) ** 2).mean())))


def test_fit_without_an_engine_says_what_to_call() -> None:
    model = build_torch(MLP)
    x, y = _tabular()
    with pytest.raises(ModelError, match="train_model"):
        model.fit(x, y)
    seen = []
    assert isinstance(model, TorchModel)
    model.fit_fn = lambda m, X, Y, **kw: seen.append((m, len(X), kw))
    assert model.fit(x, y, epochs=2) is model
    assert seen == [(model, 60, {"epochs": 2})]


def test_regression_and_binary_logit_outputs() -> None:
    reg = build_torch(
        {"inputs": [3], "layers": [{"type": "Linear", "out_features": 1}]}, task="regression"
    )
    x = np.ones((4, 3), np.float32)
    assert reg.predict(x).shape == (4,)
    with pytest.raises(ModelError, match="classification"):
        reg.predict_proba(x)
    binary = build_torch({"inputs": [3], "layers": [{"type": "Linear", "out_features": 1}]})
    proba = binary.predict_proba(x)
    assert proba.shape == (4, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)


def test_inputs_by_name_are_checked() -> None:
    model = build_torch(
        {"inputs": {"a": [2], "b": [2]}, "blocks": {"cat": {"type": "concat", "in": ["a", "b"]}}}
    )
    with pytest.raises(ModelError, match="pass a dict"):
        model.predict(np.zeros((2, 2)))
    with pytest.raises(ModelError, match="lack 'b'"):
        model.predict({"a": np.zeros((2, 2))})


def test_sklearn_estimator_fit_save_load_predict(tmp_path: Path) -> None:
    arch = {
        "target": "sklearn.ensemble.RandomForestClassifier",
        "params": {"n_estimators": 5, "random_state": 0},
    }
    model = build_model(arch, input_shapes={"x": (6,)})
    assert isinstance(model, SklearnModel) and model.task == "classification"
    x, y = _tabular()
    model.fit(x, y)
    model.save(tmp_path)
    assert (tmp_path / "model.skops").is_file()
    loaded = load_model(tmp_path)
    assert isinstance(loaded, SklearnModel)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    np.testing.assert_array_equal(loaded.predict_proba(x), model.predict_proba(x))
    assert loaded.evaluate(x, y, metrics=(accuracy,))["accuracy"] > 0.9


def test_sklearn_untrusted_types_are_refused_unless_allowed(tmp_path: Path) -> None:
    arch = {"target": f"{USER_PKG}.user_nets.MajorityClassifier"}
    model = build_model(arch, allow_imports=[USER_PKG])
    assert isinstance(model, SklearnModel)
    x, y = _tabular()
    model.fit(x, y).save(tmp_path)
    with pytest.raises(ModelError, match=r"not trusted: tests\.unit\.models\.user_nets\.Majority"):
        load_model(tmp_path)
    loaded = load_model(tmp_path, allow_imports=[USER_PKG])
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    with pytest.raises(ModelError, match="predict_proba"):
        loaded.predict_proba(x)


def test_sklearn_regressor_and_bad_params() -> None:
    model = build_model({"target": "sklearn.linear_model.Ridge", "params": {"alpha": 0.5}})
    assert isinstance(model, SklearnModel) and model.task == "regression"
    with pytest.raises(ModelError, match="did you mean 'alpha'"):
        build_model({"target": "sklearn.linear_model.Ridge", "params": {"alpah": 0.5}})


class _Shift:
    """Stands in for the data layer's fitted transforms."""

    input_names = ("x",)

    def apply(self, inputs: Mapping[str, Any]) -> dict[str, np.ndarray]:
        return {"x": np.asarray(inputs["x"], dtype=np.float32) - 100.0}


def test_attached_transforms_map_raw_inputs_before_predicting() -> None:
    model = build_torch(MLP, seed=0)
    x, _ = _tabular()
    expected = model.predict_proba(x)
    model.attach_transforms(_Shift())
    np.testing.assert_allclose(model.predict_proba(x + 100.0), expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(
        model.predict_proba({"x": x + 100.0}), expected, rtol=1e-4, atol=1e-5
    )


def test_inference_capabilities_are_asked_of_the_model_not_its_type() -> None:
    layers = MLP["layers"]
    assert isinstance(layers, list)
    dropped = {**MLP, "layers": [*layers[:2], {"type": "Dropout", "p": 0.5}, layers[2]]}
    net = build_torch(dropped, seed=0)
    x, _ = _tabular(8)
    assert net.has_checkpoints and net.module.training
    assert net.eval_mode() is net and not net.module.training
    np.testing.assert_allclose(net.forward_arrays({"x": x}), net.outputs(x), rtol=1e-6)
    other = build_torch(dropped, seed=5).eval_mode()
    assert not np.allclose(other.outputs(x), net.outputs(x))
    other.load_weights(net.module.state_dict())
    np.testing.assert_array_equal(other.outputs(x), net.outputs(x))
    with pytest.raises(RuntimeError, match="Missing key"):
        other.load_weights({})

    est = build_model(
        {"target": "sklearn.linear_model.LogisticRegression"}, input_shapes={"x": (6,)}
    )
    assert not est.has_checkpoints
    assert est.eval_mode() is est  # nothing to switch: a no-op
    with pytest.raises(ModelError, match="no checkpoint weights"):
        est.load_weights({})
    with pytest.raises(ModelError, match="no raw outputs: use predict"):
        est.forward_arrays({"x": x})
