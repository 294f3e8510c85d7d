"""Declarative networks built from YAML: shapes, parameter names, and a few training steps."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import yaml

from tests.unit.models.conftest import build_torch, graph_of, train_steps
from trainspec.models import GraphModule, TorchModel, summarize

RESNET = """
inputs:
  image: [1, 16, 16]
blocks:
  stem: {type: Conv2d, out_channels: 8, kernel_size: 3, padding: 1}
  stem_norm: {type: BatchNorm2d}
  stem_act: ReLU
  branch: {type: conv_stack, channels: [8, 8], activation: relu}
  skip1: {type: add, in: [stem_act, branch]}
  down: {type: conv_stack, channels: [16, 16], stride: [2, 1]}
  project: {type: Conv2d, in: skip1, out_channels: 16, kernel_size: 1, stride: 2}
  skip2: {type: add, in: [down, project]}
  body: {type: conv_stack, channels: 16, repeat: 2, residual: true, dropout: 0.05}
  pool: {type: global_pool, mode: avg}
  head: {type: Linear, out_features: 3}
"""

SLEEP = """
inputs:
  ecgs: [null, 1, 128]
  additional: [null, 3]
blocks:
  cnn: {type: conv_stack, in: ecgs, per_step: true, channels: [8, 8], kernel_size: 5,
        pool: max, pool_size: 4}
  pooled: {type: global_pool, mode: avgmax, per_step: true}
  tabular: {type: dense_stack, in: additional, units: 8}
  merged: {type: concat, in: [pooled, tabular]}
  dense: {type: dense_stack, units: [32, 32], residual: true, norm: layer}
  tcn: {type: tcn, channels: 32, levels: 3, kernel_size: 3, dilation_base: 2}
  head: {type: Linear, out_features: 5}
"""


def _images(n: int = 48) -> tuple[torch.Tensor, torch.Tensor]:
    """Class k lights up quadrant k of a noisy 16x16 image."""
    gen = torch.Generator().manual_seed(1)
    y = torch.arange(n) % 3
    x = 0.3 * torch.randn(n, 1, 16, 16, generator=gen)
    for k in range(3):
        r, c = divmod(k, 2)
        x[y == k, :, r * 8 : r * 8 + 8, c * 8 : c * 8 + 8] += 1.0
    return x, y


def _nights(b: int = 12, t: int = 6) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Stage k of an epoch scales its signal by k + 1 and shows in one tabular feature."""
    gen = torch.Generator().manual_seed(2)
    y = torch.randint(0, 5, (b, t), generator=gen)
    wave = torch.sin(torch.linspace(0, 12, 128))
    ecgs = (y[..., None, None] + 1) * wave + 0.2 * torch.randn(b, t, 1, 128, generator=gen)
    additional = torch.randn(b, t, 3, generator=gen)
    additional[..., 0] += y
    return {"ecgs": ecgs, "additional": additional}, y


def test_resnet_in_yaml_has_named_parameters_and_learns() -> None:
    model = build_torch(yaml.safe_load(RESNET), seed=0)
    assert isinstance(model, TorchModel)
    names = set(model.module.state_dict())
    assert {
        "stem.weight",
        "branch.1.conv.weight",
        "project.weight",
        "body.0.0.conv.weight",
        "body.1.0.norm.running_mean",
        "head.weight",
    } <= names
    assert model.input_keys == ("image",)
    shapes = graph_of(model).shapes
    assert shapes["skip1"] == (8, 16, 16) and shapes["skip2"] == (16, 8, 8)
    assert shapes["pool"] == (16,) and shapes["head"] == (3,)

    x, y = _images()
    losses = train_steps(model, {"image": x}, y, steps=12)
    assert losses[-1] < 0.5 * losses[0]
    assert model.predict(x.numpy()).shape == (48,)


def test_sleep_staging_network_shapes_and_learning() -> None:
    model = build_torch(yaml.safe_load(SLEEP), seed=0)
    assert isinstance(model, TorchModel) and isinstance(model.module, GraphModule)
    assert model.input_keys == ("ecgs", "additional")
    shapes = graph_of(model).shapes
    # The night's length stays variable; the per-epoch CNN folds it away and back.
    assert shapes["cnn"] == (None, 8, 8)
    assert shapes["pooled"] == (None, 16)
    assert shapes["merged"] == (None, 24)
    assert shapes["head"] == (None, 5)
    assert "tcn.2.conv.weight" in model.module.state_dict()

    batch, y = _nights()
    assert model.forward_batch(batch).shape == (12, 6, 5)
    assert model.forward_batch({k: v[:, :2] for k, v in batch.items()}).shape == (12, 2, 5)
    losses = train_steps(model, batch, y, steps=40)
    assert losses[-1] < 0.6 * losses[0]
    proba = model.predict_proba({k: v.numpy() for k, v in batch.items()})
    assert proba.shape == (12, 6, 5)
    np.testing.assert_allclose(proba.sum(axis=-1), 1.0, rtol=1e-5)


def test_data_shapes_fill_null_axes_and_name_a_mismatch() -> None:
    arch = yaml.safe_load(SLEEP)
    arch["inputs"]["ecgs"] = [None, 1, None]
    model = build_torch(
        arch, input_shapes={"ecgs": (None, 1, 128), "additional": (None, 3), "target": (None,)}
    )
    assert isinstance(model, TorchModel)
    assert model.input_shapes == {"ecgs": (None, 1, 128), "additional": (None, 3)}
    with pytest.raises(Exception, match=r"model\.inputs\.additional: axis 1 is 3 .* but 4"):
        build_torch(
            yaml.safe_load(SLEEP), input_shapes={"ecgs": (None, 1, 128), "additional": (None, 4)}
        )


def test_sequential_list_and_inputs_from_data() -> None:
    arch = {
        "layers": [
            {"type": "Linear", "out_features": 16},
            "ReLU",
            {"type": "Dropout", "p": 0.1},
            {"type": "Linear", "out_features": 4},
        ]
    }
    model = build_torch(arch, input_shapes={"features": (10,)}, seed=3)
    assert isinstance(model, TorchModel)
    assert model.input_keys == ("features",)
    assert list(model.module.state_dict()) == ["0.weight", "0.bias", "3.weight", "3.bias"]
    assert model.predict(np.zeros((5, 10), dtype=np.float32)).shape == (5,)
    again = build_torch(arch, input_shapes={"features": (10,)}, seed=3)
    assert isinstance(again, TorchModel)
    assert torch.equal(model.module.state_dict()["0.weight"], again.module.state_dict()["0.weight"])


def test_repeat_evaluates_expressions_per_copy() -> None:
    arch = {
        "inputs": {"x": [4, 64]},
        "blocks": {
            "dil": {
                "type": "Conv1d",
                "out_channels": 4,
                "kernel_size": 3,
                "repeat": 3,
                "dilation": "2**i",
                "padding": "2**i",
                "residual": True,
            },
            "wide": {"type": "Linear", "out_features": "8 * (i + 1)", "repeat": 2},
        },
    }
    model = build_torch(arch)
    assert isinstance(model.module, GraphModule)
    dil = model.module.get_submodule("dil")
    wide = model.module.get_submodule("wide")
    assert isinstance(dil, torch.nn.ModuleList) and isinstance(wide, torch.nn.ModuleList)
    assert [c.dilation for c in dil] == [(1,), (2,), (4,)]
    assert [c.out_features for c in wide] == [8, 16]
    assert graph_of(model).shapes["wide"] == (4, 16)


def test_raw_torch_rnn_with_select_flatten_permute_reshape() -> None:
    arch = {
        "inputs": {"seq": [8, 12]},
        "blocks": {
            "to_time": {"type": "permute", "dims": [1, 0]},
            "rnn": {"type": "GRU", "hidden_size": 6, "select": 0},
            "last": {"type": "lstm", "hidden_size": 5, "returns": "last", "bidirectional": True},
            "grid": {"type": "reshape", "shape": [2, 5]},
            "flat": {"type": "flatten"},
            "attn": {
                "type": "transformer_encoder",
                "in": "to_time",
                "nhead": 2,
                "num_layers": 1,
                "positional": "sinusoidal",
            },
            "gate": {"type": "multiply", "in": ["attn", "to_time"]},
            "out": {"type": "global_pool", "in": "gate", "dims": [0], "mode": "max"},
            "both": {"type": "concat", "in": ["flat", "out"]},
        },
        "outputs": {"main": "both", "sequence": "rnn"},
    }
    model = build_torch(arch)
    shapes = graph_of(model).shapes
    assert shapes["to_time"] == (12, 8) and shapes["rnn"] == (12, 6)
    assert shapes["last"] == (10,) and shapes["grid"] == (2, 5) and shapes["flat"] == (10,)
    assert shapes["both"] == (18,)
    main, seq = model.module(torch.randn(3, 8, 12))
    assert main.shape == (3, 18) and seq.shape == (3, 12, 6)
    assert model.forward_batch({"seq": torch.randn(3, 8, 12)}).shape == (3, 18)


def test_user_block_registered_with_the_decorator_works_in_a_graph() -> None:
    import tests.unit.models.user_nets  # noqa: F401  (registers the blocks)

    arch = {
        "inputs": {"a": [6], "b": [6]},
        "blocks": {
            "ga": {"type": "unit_gated_dense", "in": "a", "units": 4},
            "gb": {"type": "unit_gated_dense", "in": "b", "units": 4},
            "mix": {"type": "unit_scaled_pair", "in": ["ga", "gb"], "weight": 0.25},
            "head": {"type": "Linear", "out_features": 2},
        },
    }
    model = build_torch(arch, seed=0)
    assert "ga.gate.weight" in model.module.state_dict()
    assert model.module.get_submodule("ga.value").in_features == 6
    out = model.forward_batch({"a": torch.randn(5, 6), "b": torch.randn(5, 6)})
    assert out.shape == (5, 2)


def test_summary_totals_match_the_module_and_show_frozen_blocks() -> None:
    model = build_torch(yaml.safe_load(SLEEP), seed=0)
    assert isinstance(model, TorchModel)
    for p in model.module.get_submodule("cnn").parameters():
        p.requires_grad_(False)
    summary = summarize(model)
    total = sum(p.numel() for p in model.module.parameters())
    assert summary.total_params == total
    assert sum(r.params for r in summary.rows) == total
    rows = {r.name: r for r in summary.rows}
    assert rows["cnn"].state == "frozen" and rows["tcn"].state == "trainable"
    assert rows["head"].output_shape == (None, 5) and rows["ecgs"].type == "input"
    assert summary.frozen_params == rows["cnn"].params > 0
    data = summary.to_dict()
    import json

    assert json.loads(json.dumps(data))["total_params"] == total
    assert data["rows"][-1]["output_shape"] == [None, 5]
    assert "frozen" in summary.to_text()


def test_a_plain_chain_runs_as_the_general_path_does() -> None:
    """A chain of single-input blocks takes the short path; the output and its gradients are
    those of the general path, and a branching network keeps the general one."""
    layers = [{"type": "Linear", "out_features": 5}, "ReLU", {"type": "Linear", "out_features": 3}]
    chain = graph_of(build_torch({"inputs": [6], "layers": layers}, seed=0))
    assert chain.chain
    x = torch.randn(4, 6)
    fast = chain(x)
    chain.chain = False
    general = chain(x)
    assert torch.equal(fast, general)
    branching = graph_of(build_torch(yaml.safe_load(RESNET), seed=0))
    assert not branching.chain


def test_a_chain_block_returning_a_tuple_names_the_fix() -> None:
    """Without a ``select:`` the short path stops at a block's tuple as the general one does;
    with one the network is no plain chain."""
    blocks = {
        "rnn": {"type": "LSTM", "hidden_size": 4, "select": 0},
        "head": {"type": "Linear", "out_features": 2},
    }
    net = graph_of(build_torch({"inputs": {"x": [5, 3]}, "blocks": blocks}, seed=0))
    assert not net.chain and net(torch.randn(2, 5, 3)).shape == (2, 5, 2)
    net.chain = True  # as if the select were missing: the error names the block and the fix
    with pytest.raises(ValueError, match=r"block 'rnn' returns a tuple of 2 outputs.*select"):
        net(torch.randn(2, 5, 3))
