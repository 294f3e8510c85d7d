"""Sub-graphs of ``define:``: parameters, repeats with per-copy overrides, dotted names; the
ResNet-18 example against torchvision's state dict; the examples in the docs."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from safetensors.torch import save_file

from tests.conftest import EXAMPLES, ROOT
from trainspec.engine import prepare_finetune
from trainspec.errors import ModelError
from trainspec.models import TorchModel, build_model, load_model, summarize
from trainspec.spec import FinetuneSpec, load_spec

RESNET18 = EXAMPLES / "resnet" / "resnet18.yaml"

# torchvision.models.resnet18().state_dict(): names and shapes, in order. torchvision is not
# installed beside the CPU torch build, so the list is kept here: conv1, bn1, four stages of two
# BasicBlocks (conv1, bn1, conv2, bn2; the first block of stages 2-4 also downsample.0, a 1x1
# conv, and downsample.1, a batch norm), fc. Batch norms hold weight, bias, running_mean,
# running_var and num_batches_tracked.
TORCHVISION_RESNET18: list[tuple[str, tuple[int, ...]]] = [
    ("conv1.weight", (64, 3, 7, 7)),
    ("bn1.weight", (64,)),
    ("bn1.bias", (64,)),
    ("bn1.running_mean", (64,)),
    ("bn1.running_var", (64,)),
    ("bn1.num_batches_tracked", ()),
    ("layer1.0.conv1.weight", (64, 64, 3, 3)),
    ("layer1.0.bn1.weight", (64,)),
    ("layer1.0.bn1.bias", (64,)),
    ("layer1.0.bn1.running_mean", (64,)),
    ("layer1.0.bn1.running_var", (64,)),
    ("layer1.0.bn1.num_batches_tracked", ()),
    ("layer1.0.conv2.weight", (64, 64, 3, 3)),
    ("layer1.0.bn2.weight", (64,)),
    ("layer1.0.bn2.bias", (64,)),
    ("layer1.0.bn2.running_mean", (64,)),
    ("layer1.0.bn2.running_var", (64,)),
    ("layer1.0.bn2.num_batches_tracked", ()),
    ("layer1.1.conv1.weight", (64, 64, 3, 3)),
    ("layer1.1.bn1.weight", (64,)),
    ("layer1.1.bn1.bias", (64,)),
    ("layer1.1.bn1.running_mean", (64,)),
    ("layer1.1.bn1.running_var", (64,)),
    ("layer1.1.bn1.num_batches_tracked", ()),
    ("layer1.1.conv2.weight", (64, 64, 3, 3)),
    ("layer1.1.bn2.weight", (64,)),
    ("layer1.1.bn2.bias", (64,)),
    ("layer1.1.bn2.running_mean", (64,)),
    ("layer1.1.bn2.running_var", (64,)),
    ("layer1.1.bn2.num_batches_tracked", ()),
    ("layer2.0.conv1.weight", (128, 64, 3, 3)),
    ("layer2.0.bn1.weight", (128,)),
    ("layer2.0.bn1.bias", (128,)),
    ("layer2.0.bn1.running_mean", (128,)),
    ("layer2.0.bn1.running_var", (128,)),
    ("layer2.0.bn1.num_batches_tracked", ()),
    ("layer2.0.conv2.weight", (128, 128, 3, 3)),
    ("layer2.0.bn2.weight", (128,)),
    ("layer2.0.bn2.bias", (128,)),
    ("layer2.0.bn2.running_mean", (128,)),
    ("layer2.0.bn2.running_var", (128,)),
    ("layer2.0.bn2.num_batches_tracked", ()),
    ("layer2.0.downsample.0.weight", (128, 64, 1, 1)),
    ("layer2.0.downsample.1.weight", (128,)),
    ("layer2.0.downsample.1.bias", (128,)),
    ("layer2.0.downsample.1.running_mean", (128,)),
    ("layer2.0.downsample.1.running_var", (128,)),
    ("layer2.0.downsample.1.num_batches_tracked", ()),
    ("layer2.1.conv1.weight", (128, 128, 3, 3)),
    ("layer2.1.bn1.weight", (128,)),
    ("layer2.1.bn1.bias", (128,)),
    ("layer2.1.bn1.running_mean", (128,)),
    ("layer2.1.bn1.running_var", (128,)),
    ("layer2.1.bn1.num_batches_tracked", ()),
    ("layer2.1.conv2.weight", (128, 128, 3, 3)),
    ("layer2.1.bn2.weight", (128,)),
    ("layer2.1.bn2.bias", (128,)),
    ("layer2.1.bn2.running_mean", (128,)),
    ("layer2.1.bn2.running_var", (128,)),
    ("layer2.1.bn2.num_batches_tracked", ()),
    ("layer3.0.conv1.weight", (256, 128, 3, 3)),
    ("layer3.0.bn1.weight", (256,)),
    ("layer3.0.bn1.bias", (256,)),
    ("layer3.0.bn1.running_mean", (256,)),
    ("layer3.0.bn1.running_var", (256,)),
    ("layer3.0.bn1.num_batches_tracked", ()),
    ("layer3.0.conv2.weight", (256, 256, 3, 3)),
    ("layer3.0.bn2.weight", (256,)),
    ("layer3.0.bn2.bias", (256,)),
    ("layer3.0.bn2.running_mean", (256,)),
    ("layer3.0.bn2.running_var", (256,)),
    ("layer3.0.bn2.num_batches_tracked", ()),
    ("layer3.0.downsample.0.weight", (256, 128, 1, 1)),
    ("layer3.0.downsample.1.weight", (256,)),
    ("layer3.0.downsample.1.bias", (256,)),
    ("layer3.0.downsample.1.running_mean", (256,)),
    ("layer3.0.downsample.1.running_var", (256,)),
    ("layer3.0.downsample.1.num_batches_tracked", ()),
    ("layer3.1.conv1.weight", (256, 256, 3, 3)),
    ("layer3.1.bn1.weight", (256,)),
    ("layer3.1.bn1.bias", (256,)),
    ("layer3.1.bn1.running_mean", (256,)),
    ("layer3.1.bn1.running_var", (256,)),
    ("layer3.1.bn1.num_batches_tracked", ()),
    ("layer3.1.conv2.weight", (256, 256, 3, 3)),
    ("layer3.1.bn2.weight", (256,)),
    ("layer3.1.bn2.bias", (256,)),
    ("layer3.1.bn2.running_mean", (256,)),
    ("layer3.1.bn2.running_var", (256,)),
    ("layer3.1.bn2.num_batches_tracked", ()),
    ("layer4.0.conv1.weight", (512, 256, 3, 3)),
    ("layer4.0.bn1.weight", (512,)),
    ("layer4.0.bn1.bias", (512,)),
    ("layer4.0.bn1.running_mean", (512,)),
    ("layer4.0.bn1.running_var", (512,)),
    ("layer4.0.bn1.num_batches_tracked", ()),
    ("layer4.0.conv2.weight", (512, 512, 3, 3)),
    ("layer4.0.bn2.weight", (512,)),
    ("layer4.0.bn2.bias", (512,)),
    ("layer4.0.bn2.running_mean", (512,)),
    ("layer4.0.bn2.running_var", (512,)),
    ("layer4.0.bn2.num_batches_tracked", ()),
    ("layer4.0.downsample.0.weight", (512, 256, 1, 1)),
    ("layer4.0.downsample.1.weight", (512,)),
    ("layer4.0.downsample.1.bias", (512,)),
    ("layer4.0.downsample.1.running_mean", (512,)),
    ("layer4.0.downsample.1.running_var", (512,)),
    ("layer4.0.downsample.1.num_batches_tracked", ()),
    ("layer4.1.conv1.weight", (512, 512, 3, 3)),
    ("layer4.1.bn1.weight", (512,)),
    ("layer4.1.bn1.bias", (512,)),
    ("layer4.1.bn1.running_mean", (512,)),
    ("layer4.1.bn1.running_var", (512,)),
    ("layer4.1.bn1.num_batches_tracked", ()),
    ("layer4.1.conv2.weight", (512, 512, 3, 3)),
    ("layer4.1.bn2.weight", (512,)),
    ("layer4.1.bn2.bias", (512,)),
    ("layer4.1.bn2.running_mean", (512,)),
    ("layer4.1.bn2.running_var", (512,)),
    ("layer4.1.bn2.num_batches_tracked", ()),
    ("fc.weight", (1000, 512)),
    ("fc.bias", (1000,)),
]


def _build(text: str, **kwargs: Any) -> TorchModel:
    model = build_model(yaml.safe_load(text), seed=0, **kwargs)
    assert isinstance(model, TorchModel)
    return model


def _names(model: TorchModel) -> list[tuple[str, tuple[int, ...]]]:
    return [(k, tuple(v.shape)) for k, v in model.module.state_dict().items()]


@pytest.fixture(scope="module")
def resnet18() -> TorchModel:
    model = build_model(load_spec(RESNET18).arch, seed=0)
    assert isinstance(model, TorchModel)
    return model


def test_resnet18_state_dict_equals_torchvision(resnet18: TorchModel) -> None:
    assert _names(resnet18) == TORCHVISION_RESNET18
    summary = summarize(resnet18)
    assert summary.total_params == 11_689_512
    assert sum(p.numel() for p in resnet18.module.parameters()) == 11_689_512
    assert resnet18.module.shapes["fc"] == (1000,)
    assert resnet18.module.shapes["layer4"] == (512, 7, 7)


def test_resnet18_spec_is_short() -> None:
    lines = [
        line
        for line in RESNET18.read_text().splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    assert len(lines) <= 35


def test_torchvision_style_safetensors_loads_strictly_without_rename_rules(
    resnet18: TorchModel, tmp_path: Path
) -> None:
    """A checkpoint with torchvision's names, through the fine-tuning section's init."""
    gen = torch.Generator().manual_seed(3)
    weights = {
        name: torch.tensor(7) if not shape else torch.randn(*shape, generator=gen)
        for name, shape in TORCHVISION_RESNET18
    }
    save_file(weights, str(tmp_path / "resnet18.safetensors"))
    spec = FinetuneSpec.model_validate(
        {"init": {"from": str(tmp_path / "resnet18.safetensors"), "strict": True}}
    )
    plan = prepare_finetune(resnet18.module, spec, run_dir=None, base_lr=0.01)
    report = plan.load_report
    assert report is not None
    assert not report.missing and not report.unexpected and not report.mismatched
    assert not report.renamed
    assert len(report.loaded) == len(TORCHVISION_RESNET18)
    state = resnet18.module.state_dict()
    for name, value in weights.items():
        assert torch.equal(state[name], value), name
    # The loaded network runs: a 64x64 image gives 1,000 logits.
    resnet18.module.eval()
    with torch.no_grad():
        assert resnet18.module(torch.randn(2, 3, 64, 64)).shape == (2, 1000)


BASIC = """
inputs: [4, 16]
define:
  block:
    required: [width]
    params: {stride: 1, project: false, scale: 1}
    blocks:
      conv: {type: Conv1d, out_channels: "width * scale", kernel_size: 3, stride: stride,
             padding: 1}
      norm: BatchNorm1d
      short: {type: Conv1d, in: x, out_channels: "width * scale", kernel_size: 1,
              stride: stride, enabled: project}
      sum: {type: add, in: [norm, short]}
layers:
  - {type: block, width: 8, repeat: 3, overrides: [{stride: 2, project: true}, {}, {scale: 2,
     project: true}]}
  - {type: global_pool}
  - {type: Linear, out_features: 3}
"""


def test_repeat_chains_copies_with_per_copy_overrides() -> None:
    model = _build(BASIC)
    names = dict(_names(model))
    assert names["0.0.conv.weight"] == (8, 4, 3)  # stride 2 and a projection
    assert names["0.0.short.weight"] == (8, 4, 1)
    assert names["0.1.conv.weight"] == (8, 8, 3)  # defaults: no projection
    assert not any(k.startswith("0.1.short") for k in names)
    assert names["0.2.conv.weight"] == (16, 8, 3)  # scale 2
    assert model.module.shapes["0"] == (16, 8)
    x = torch.randn(5, 4, 16)
    assert model.module(x).shape == (5, 3)


def test_disabled_block_passes_its_input_through() -> None:
    model = _build(BASIC.replace("{scale: 2,\n     project: true}", "{}"))
    copy = model.module.get_submodule("0.1")
    copy.eval()
    x = torch.randn(2, 8, 8)
    with torch.no_grad():
        expected = copy.get_submodule("norm")(copy.get_submodule("conv")(x)) + x
        assert torch.allclose(copy(x), expected)


def test_parameters_name_types_repeats_and_nested_sub_graphs() -> None:
    text = """
    inputs: {x: [6]}
    define:
      dense:
        required: [units]
        params: {act: ReLU}
        layers: [{type: Linear, out_features: units}, act]
      tower:
        params: {depth: 2, act: Tanh}
        blocks:
          body: {type: dense, units: "4 + i", repeat: depth, act: act}
    blocks:
      a: {type: tower, depth: 3}
      b: {type: tower, act: GELU}
    """
    model = _build(text)
    names = [k for k, _ in _names(model)]
    assert names[:2] == ["a.body.0.0.weight", "a.body.0.0.bias"]
    assert "a.body.2.0.weight" in names and "b.body.1.0.weight" in names
    assert isinstance(model.module.get_submodule("a.body.0.1"), torch.nn.Tanh)
    assert isinstance(model.module.get_submodule("b.body.0.1"), torch.nn.GELU)
    assert model.module.shapes["b"] == (5,)


def test_residual_and_per_step_on_a_sub_graph() -> None:
    text = """
    inputs: {seq: [null, 2, 12]}
    define:
      cnn:
        layers: [{type: Conv1d, out_channels: 3, kernel_size: 3}, {type: global_pool}]
      mix:
        blocks: {lin: {type: Linear, out_features: 3}}
    blocks:
      per_epoch: {type: cnn, per_step: true}
      mixed: {type: mix, residual: true}
    """
    model = _build(text)
    assert model.module.shapes["mixed"] == (None, 3)
    assert model.module(torch.randn(2, 7, 2, 12)).shape == (2, 7, 3)


def test_saved_model_with_sub_graphs_loads_again(tmp_path: Path) -> None:
    model = _build(BASIC)
    model.save(tmp_path / "m")
    again = load_model(tmp_path / "m")
    assert isinstance(again, TorchModel)
    x = torch.randn(3, 4, 16)
    model.module.eval()
    again.module.eval()
    assert torch.equal(model.module(x), again.module(x))


# The examples of docs/architectures.md's section on sub-graphs are built as written.
def _doc_examples() -> list[str]:
    text = (ROOT / "docs" / "architectures.md").read_text()
    section = text.split("## Sub-graphs: define once, use by name", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```yaml\n(.*?)```", section, flags=re.S)
    return [b for b in blocks if "define:" in b]


def test_docs_resnet18_is_the_example_file() -> None:
    docs = _doc_examples()[0]
    assert docs.startswith("# examples/resnet/resnet18.yaml")
    strip = [ln for ln in docs.splitlines() if ln and not ln.startswith("#")]
    file = [ln for ln in RESNET18.read_text().splitlines() if ln and not ln.startswith("#")]
    assert strip == file


def test_docs_transformer_encoder_layer_used_n_times() -> None:
    (text,) = [b for b in _doc_examples() if "encoder_layer" in b]
    model = _build(text)
    names = dict(_names(model))
    assert names["encoder.0.attn.in_proj_weight"] == (192, 64)
    assert names["encoder.3.ff2.weight"] == (64, 128)
    assert not any(k.startswith("encoder.4") for k in names)
    tokens = torch.randint(0, 1000, (2, 9))
    assert model.module(tokens).shape == (2, 5)


def test_docs_unet_skip() -> None:
    (text,) = [b for b in _doc_examples() if "double_conv" in b]
    model = _build(text)
    shapes = model.module.shapes
    assert shapes["enc2"] == (32, 16, 16) and shapes["bottom"] == (64, 8, 8)
    assert shapes["dec1"] == (16, 32, 32) and shapes["head"] == (2, 32, 32)
    names = dict(_names(model))
    assert names["dec2.upsample.weight"] == (64, 32, 2, 2)
    assert names["dec2.conv.0.weight"] == (32, 64, 3, 3)  # 32 upsampled + 32 skip channels
    assert model.module(torch.randn(2, 1, 32, 32)).shape == (2, 2, 32, 32)


def test_a_bad_value_names_the_use_and_the_block_inside() -> None:
    text = BASIC.replace("width: 8", "width: wide")
    with pytest.raises(ModelError) as caught:
        _build(text)
    message = str(caught.value)
    assert message.startswith("model.layers[0] (block, copy 0) -> ")
    assert "model.define.block.blocks.conv: width is 'wide', not a number" in message
    text = BASIC.replace('"width * scale"', "width")
    with pytest.raises(ModelError) as caught:
        _build(text.replace("width: 8", "width: [8]"))
    message = str(caught.value)
    assert message.startswith("model.layers[0] (block, copy 0) -> 2 problems")
    assert (
        "model.define.block.blocks.conv.out_channels: block Conv1d: parameter 'out_channels' "
        "must be int; got [8]" in message
    )


def test_type_from_a_parameter_that_loops_back_is_caught() -> None:
    text = """
    inputs: [4]
    define:
      loop:
        params: {kind: loop}
        blocks: {body: {type: kind, kind: kind}}
    layers: [{type: loop}]
    """
    with pytest.raises(ModelError, match=r"circle: loop -> loop"):
        _build(text)


def test_unknown_type_near_a_sub_graph_name() -> None:
    text = BASIC.replace("type: block, width", "type: blok, width")
    with pytest.raises(
        ModelError, match=r"model.layers\[0\]: unknown block 'blok' \(did you mean 'block'"
    ):
        _build(text)


NOISY = """
import torch
from torch import nn


class Noisy(nn.Module):
    def __init__(self, n_features: int = 64, n_classes: int = 10) -> None:
        super().__init__()
        print("building Noisy with", n_features)
        self.fc = nn.Linear(n_features, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        print("forward on", tuple(x.shape))
        return self.fc(x)
"""


def test_summary_json_is_only_json_when_the_module_prints(
    tmp_path: Path, cli: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    (tmp_path / "noisy_nets.py").write_text(NOISY)
    (tmp_path / "job.yaml").write_text(
        "allow_imports: [noisy_nets]\n"
        "model: {target: noisy_nets.Noisy, inputs: {x: x}}\n"
        "data: {source: {type: sklearn, name: digits}}\n"
    )
    result = cli("model", "summary", "job.yaml", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)  # stdout holds the JSON and nothing else
    assert data["total_params"] == 64 * 10 + 10
    assert "building Noisy with 64" in result.stderr
    assert "forward on" in result.stderr
    text = cli("model", "summary", "job.yaml")
    assert "forward on" not in text.stdout and "total parameters: 650" in text.stdout


@pytest.mark.integration
def test_resnet18_summary_from_the_command_line(
    cli: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    result = cli("model", "summary", str(RESNET18), "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["total_params"] == 11_689_512
    assert [r["name"] for r in data["rows"]][5:9] == ["layer1", "layer2", "layer3", "layer4"]
