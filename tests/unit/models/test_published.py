"""Users' modules as published: constructor conventions (params_as, args, example_batch),
output conventions (probabilities, log-probabilities, a selected element), and batch fields
(mask, lengths, weight) as forward arguments, checked when the model is built."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tests.unit.models.conftest import USER_PKG
from trainspec.errors import ModelError
from trainspec.models import TorchModel, build_model, load_model

NETS = f"{USER_PKG}.published_nets"
ALLOW = [USER_PKG]


def _build(arch: dict, shapes: dict, **kw: object) -> TorchModel:
    model = build_model(arch, input_shapes=shapes, allow_imports=ALLOW, **kw)  # type: ignore[arg-type]
    assert isinstance(model, TorchModel)
    return model


def test_params_as_positional_args_and_an_example_batch() -> None:
    arch = {
        "target": f"{NETS}.DictNet",
        "args": [2.0],
        "params": {"n_classes": 3},
        "params_as": "net_parameters",
        "example_batch": "collated_sample",
    }
    model = _build(arch, {"x": (5,)})
    assert model.module.scale == 2.0
    assert model.module.seen == {"x": (2, 5)}  # keyed like forward's arguments, with a batch
    assert model.module.linear.out_features == 3
    assert model.predict_proba(np.zeros((4, 5), np.float32)).shape == (4, 3)


def test_constructor_problems_name_the_key() -> None:
    base = {"target": f"{NETS}.DictNet", "args": [1.0], "params": {"n_classes": 3}}
    with pytest.raises(
        ModelError, match=r"model\.example_batch: .*no parameter 'collated_samples'"
    ):
        _build(
            {**base, "params_as": "net_parameters", "example_batch": "collated_samples"},
            {"x": (5,)},
        )
    with pytest.raises(
        ModelError, match=r"model\.params\.n_classes: .*'n_classes'"
    ):  # not as one mapping
        _build({**base, "example_batch": "collated_sample"}, {"x": (5,)})
    with pytest.raises(ModelError, match=r"model\.example_batch: an example batch needs"):
        build_model(
            {**base, "params_as": "net_parameters", "example_batch": "collated_sample"},
            allow_imports=ALLOW,
        )


def _records_arch() -> dict:
    return {
        "target": f"{NETS}.MaskedSeqNet",
        "params": {"n_classes": 4},
        "params_as": "net_parameters",
        "example_batch": "collated_sample",
        "inputs": {"x": "x", "mask": "mask", "lengths": "lengths"},
        "output": {"kind": "probabilities"},
    }


def test_mask_and_lengths_reach_forward_and_the_example_batch() -> None:
    fields = {"mask": (None,), "lengths": ()}
    model = _build(_records_arch(), {"x": (None, 3)}, fields=fields)
    sample = model.module.sample
    assert sample["x"][0] == (2, 32, 3) and sample["mask"] == ((2, 32), torch.bool)
    assert sample["lengths"] == ((2,), torch.int64)
    assert model.input_keys == ("x",)  # callers pass the data; the fields are made
    x = torch.randn(2, 6, 3)
    mask = torch.tensor([[True] * 6, [True] * 4 + [False] * 2])
    out = model.forward_batch({"x": x, "mask": mask})
    mask_seen, lengths_seen = model.module.calls[-1]
    assert torch.equal(mask_seen, mask) and lengths_seen.tolist() == [6, 4]
    # Log-probabilities are logits: softmax gives the module's own probabilities back.
    expected = torch.softmax(model.module.linear(x), dim=-1)
    torch.testing.assert_close(torch.softmax(out, dim=-1), expected)


def test_a_mapped_name_that_does_not_exist_fails_when_built() -> None:
    arch = _records_arch()
    arch["inputs"] = {"x": "x", "mask": "maks", "lengths": "lengths"}
    with pytest.raises(ModelError, match=r"model\.inputs\.mask: 'maks' is not a batch key.*'mask'"):
        _build(arch, {"x": (None, 3)}, fields={"mask": (None,), "lengths": ()})
    with pytest.raises(ModelError, match=r"model\.inputs\.mask: the batch has no 'mask'.*records"):
        _build(_records_arch(), {"x": (None, 3)}, fields={})  # data of single rows


@pytest.mark.parametrize("log", [False, True])
def test_probability_outputs_are_not_softmaxed_twice(log: bool) -> None:
    arch = {
        "target": f"{NETS}.ProbNet",
        "params": {"in_features": 4, "n_classes": 3, "log": log},
        "output": {"kind": "log_probabilities" if log else "probabilities", "select": 0},
    }
    model = _build(arch, {"x": (4,)})
    x = np.random.default_rng(0).normal(size=(10, 4)).astype(np.float32)
    proba = model.predict_proba(x)
    with torch.no_grad():
        own = torch.softmax(model.module.linear(torch.from_numpy(x)), dim=-1).numpy()
    np.testing.assert_allclose(proba, own, atol=1e-6)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)


def test_the_output_shorthand_and_saved_models_keep_the_convention(tmp_path: Path) -> None:
    arch = {
        "target": f"{NETS}.ProbNet",
        "params": {"in_features": 4, "n_classes": 3},
        "output": 0,  # short for {select: 0}: the module's output is taken as logits
    }
    model = _build(arch, {"x": (4,)})
    assert model.output == 0 and model.output_kind == "logits"
    arch["output"] = {"kind": "probabilities", "select": 0}
    model = _build(arch, {"x": (4,)})
    model.save(tmp_path / "m")
    loaded = load_model(tmp_path / "m", allow_imports=ALLOW)
    assert isinstance(loaded, TorchModel) and loaded.output_kind == "probabilities"
    x = np.ones((2, 4), np.float32)
    np.testing.assert_allclose(loaded.predict_proba(x), model.predict_proba(x), atol=1e-6)


def test_output_kind_is_for_classification() -> None:
    arch = {
        "target": f"{NETS}.ProbNet",
        "params": {"in_features": 4, "n_classes": 1},
        "output": {"kind": "probabilities", "select": 0},
    }
    with pytest.raises(ModelError, match=r"model\.output\.kind: 'probabilities' is for class"):
        _build(arch, {"x": (4,)}, task="regression")


def test_sample_weights_as_a_forward_argument() -> None:
    arch = {"target": f"{NETS}.WeightedInputNet", "params": {"in_features": 3}}
    model = _build(arch, {"x": (3,)}, fields={"weight": ()})
    x = torch.randn(4, 3)
    weight = torch.tensor([1.0, 2.0, 0.0, 1.0])
    model.forward_batch({"x": x, "weight": weight})
    assert torch.equal(model.module.seen[-1], weight)
    model.predict_proba(x.numpy())  # inference: no weights in the data, ones
    assert torch.equal(model.module.seen[-1], torch.ones(4))
    with pytest.raises(
        ModelError, match=r"model\.inputs\.weight: .*no sample weights.*data\.weight"
    ):
        _build(arch, {"x": (3,)}, fields={})


def test_one_probability_column_is_a_binary_probability() -> None:
    arch = {
        "target": f"{NETS}.SigmoidNet",
        "params": {"in_features": 3},
        "output": {"kind": "probabilities"},
    }
    model = _build(arch, {"x": (3,)})
    x = np.random.default_rng(1).normal(size=(6, 3)).astype(np.float32)
    with torch.no_grad():
        p = torch.sigmoid(model.module.linear(torch.from_numpy(x))).numpy()[:, 0]
    np.testing.assert_allclose(model.predict_proba(x), np.stack([1 - p, p], axis=1), atol=1e-5)
