"""The fine-tuning init file checked from its header: names and shapes without the tensors,
against a model built on the meta device, with the same policy as the real load."""

from __future__ import annotations

import pickle
from pathlib import Path
from unittest import mock

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from trainspec.engine import check_init
from trainspec.errors import ModelError
from trainspec.models import build_on_meta
from trainspec.models._weights import read_state_dict, read_state_shapes
from trainspec.spec._schema_finetune import InitSpec


def _net(out: int = 3) -> nn.Module:
    return nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, out))


def _meta_net(out: int = 3) -> nn.Module:
    net, reason = build_on_meta(lambda: _net(out))
    assert reason is None
    assert all(p.is_meta for p in net.parameters())
    return net


def _init(path: Path, **kw: object) -> InitSpec:
    return InitSpec.model_validate({"from": str(path), **kw})


SHAPES = {
    "0.weight": (8, 4),
    "0.bias": (8,),
    "1.weight": (8,),
    "1.bias": (8,),
    "1.running_mean": (8,),
    "1.running_var": (8,),
    "1.num_batches_tracked": (),
    "3.weight": (3, 8),
    "3.bias": (3,),
}


@pytest.mark.parametrize("layout", ["safetensors", "zip", "legacy", "nested"])
def test_shapes_come_from_the_header_of_every_format(tmp_path: Path, layout: str) -> None:
    state = _net().state_dict()
    key = None
    if layout == "safetensors":
        path = tmp_path / "w.safetensors"
        save_file(state, str(path))
    elif layout == "nested":
        path, key = tmp_path / "ckpt.pth", "checkpoint.weights"
        torch.save({"epoch": 3, "checkpoint": {"weights": state}}, path)
    else:
        path = tmp_path / "w.pt"
        torch.save(state, path, _use_new_zipfile_serialization=layout == "zip")
    assert read_state_shapes(path, key=key) == SHAPES
    # The real reader agrees, name for name.
    assert {k: tuple(v.shape) for k, v in read_state_dict(path, key=key).items()} == SHAPES


def test_no_tensor_is_read_from_a_safetensors_file(tmp_path: Path) -> None:
    path = tmp_path / "w.safetensors"
    save_file(_net().state_dict(), str(path))
    with mock.patch("safetensors.torch.load_file", side_effect=AssertionError("tensors read")):
        assert read_state_shapes(path)["3.weight"] == (3, 8)


def test_a_torch_file_is_mapped_onto_the_meta_device(tmp_path: Path) -> None:
    path = tmp_path / "w.pt"
    torch.save(_net().state_dict(), path)
    real = torch.load
    seen: list[dict[str, object]] = []

    def spy(*args: object, **kw: object) -> object:
        seen.append(kw)
        return real(*args, **kw)  # type: ignore[arg-type]

    with mock.patch("torch.load", spy):
        read_state_shapes(path)
    assert seen == [{"weights_only": True, "map_location": "meta", "mmap": True}]


def test_check_init_passes_a_matching_file_against_a_meta_model(tmp_path: Path) -> None:
    path = tmp_path / "w.safetensors"
    save_file(_net().state_dict(), str(path))
    report = check_init(_meta_net(), _init(path, strict=True))
    assert sorted(report.loaded) == sorted(SHAPES)
    assert not report.missing and not report.unexpected and not report.mismatched


def test_a_mismatched_head_is_an_error_naming_both_shapes(tmp_path: Path) -> None:
    path = tmp_path / "w.pt"
    torch.save({"model_state_dict": _net(out=10).state_dict()}, path)
    with pytest.raises(ModelError) as info:
        check_init(_meta_net(), _init(path))
    text = str(info.value)
    assert text.startswith("finetune.init: ")
    assert "3.weight: checkpoint [10, 8], model [3, 8]" in text and "on_mismatch: skip" in text
    # skip keeps the new head: the check passes and reports it.
    report = check_init(_meta_net(), _init(path, on_mismatch="skip"))
    assert [m["key"] for m in report.mismatched] == ["3.weight", "3.bias"]


def test_rename_rules_and_strict_apply_as_in_the_real_load(tmp_path: Path) -> None:
    path = tmp_path / "dp.pt"
    torch.save({"state_dict": nn.DataParallel(_net()).state_dict()}, path)
    with pytest.raises(ModelError, match="not in the checkpoint"):
        check_init(_meta_net(), _init(path, strict=True))
    report = check_init(_meta_net(), _init(path, strict=True, rename=[[r"^module\.", ""]]))
    assert report.renamed["module.0.weight"] == "0.weight"


def test_unreadable_and_unsafe_files_are_refused_from_the_header(tmp_path: Path) -> None:
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a safetensors file")
    with pytest.raises(ModelError, match="not a readable safetensors file"):
        check_init(_meta_net(), _init(bad))
    pickled = tmp_path / "obj.pt"
    pickled.write_bytes(pickle.dumps({"weights": object()}))
    with pytest.raises(ModelError, match="weights_only=True"):
        check_init(_meta_net(), _init(pickled))
    with pytest.raises(ModelError, match="does not exist"):
        check_init(_meta_net(), _init(tmp_path / "missing.pt"))


def test_a_module_that_needs_real_tensors_is_built_on_the_cpu() -> None:
    class NeedsValues(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.scale = float(torch.ones(1).item())  # impossible on meta
            self.lin = nn.Linear(2, 2)

    module, reason = build_on_meta(NeedsValues)
    assert reason is not None and "meta" in reason
    assert not any(p.is_meta for p in module.parameters())


def test_a_real_error_is_raised_from_the_cpu_build() -> None:
    calls: list[str] = []

    def broken() -> nn.Module:
        calls.append(str(torch.empty(0).device))
        raise ValueError("width must be even")

    with pytest.raises(ValueError, match="width must be even"):
        build_on_meta(broken)
    assert calls == ["meta", "cpu"]
