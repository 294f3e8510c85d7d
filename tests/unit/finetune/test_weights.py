"""Pretrained weights from our runs and from other people's scripts."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from trainspec.errors import ModelError
from trainspec.models._freeze import apply_freeze, fix_batchnorm_stats
from trainspec.models._weights import load_weights, read_state_dict, rename_keys


def _net(out: int = 3) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, out))


def _w(net: nn.Module, index: int) -> torch.Tensor:
    """The weight of layer ``index`` of a ``_net``."""
    return net.get_parameter(f"{index}.weight")


def test_dataparallel_checkpoint_from_a_plain_script_loads_with_rename(tmp_path: Path) -> None:
    source = nn.DataParallel(_net())
    for p in source.parameters():
        nn.init.normal_(p)
    opt = torch.optim.SGD(source.parameters(), lr=0.1)
    path = tmp_path / "ckpt.pth"
    torch.save(
        {
            "epoch": 7,
            "model_state_dict": source.state_dict(),
            "optimizer_state_dict": opt.state_dict(),
        },
        path,
    )
    state = read_state_dict(path)
    assert all(k.startswith("module.") for k in state)
    state, renamed = rename_keys(state, [(r"^module\.", "")])
    target = _net()
    report = load_weights(target, state, source=str(path), strict=True, renamed=renamed)
    assert not report.missing and not report.unexpected and not report.mismatched
    assert renamed["module.0.weight"] == "0.weight"
    for (name, a), b in zip(
        target.state_dict().items(), source.module.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b), name


def test_bare_state_dict_and_safetensors(tmp_path: Path) -> None:
    src = _net()
    torch.save(src.state_dict(), tmp_path / "bare.pt")
    save_file(src.state_dict(), str(tmp_path / "w.safetensors"))
    for name in ("bare.pt", "w.safetensors"):
        dst = _net()
        nn.init.zeros_(_w(dst, 0))
        load_weights(dst, read_state_dict(tmp_path / name), strict=True)
        assert torch.equal(_w(dst, 0), _w(src, 0))


def test_explicit_key_and_unknown_layout(tmp_path: Path) -> None:
    torch.save(
        {"ema": {"w": torch.ones(1)}, "weights_of_model": _net().state_dict()}, tmp_path / "a.pt"
    )
    assert "0.weight" in read_state_dict(tmp_path / "a.pt", key="weights_of_model")
    torch.save({"something": {"else": 1}}, tmp_path / "b.pt")
    with pytest.raises(ModelError, match="cannot find the weights.*something"):
        read_state_dict(tmp_path / "b.pt")
    with pytest.raises(
        ModelError, match=r"no 'nope'.*top-level keys are \['ema', 'weights_of_model'\]"
    ):
        read_state_dict(tmp_path / "a.pt", key="nope")
    with pytest.raises(ModelError, match=r"no 'ema\.x'.*no 'x' among \['w'\]"):
        read_state_dict(tmp_path / "a.pt", key="ema.x")


class _Evil:
    """Unpickling this would create a file (and print): proof that code ran."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (open, (self.marker, "w"))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_pickled_code_is_never_executed(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    with open(path, "wb") as fh:
        pickle.dump({"state_dict": _Evil(str(marker))}, fh, protocol=2)
    torch.save({"state_dict": _Evil(str(marker))}, tmp_path / "evil_zip.pt")  # torch's format
    for name in ("evil.pt", "evil_zip.pt"):
        with pytest.raises(ModelError, match=r"weights_only=True \(Unsupported global: GLOBAL io"):
            read_state_dict(tmp_path / name)
    assert not marker.exists()
    assert "executed" not in capsys.readouterr().out


def test_files_that_hold_no_weights(tmp_path: Path) -> None:
    torch.save({"epoch": 3, "lr": 0.1}, tmp_path / "plain.pkl.pt")  # harmless, no tensors
    with pytest.raises(ModelError, match=r"cannot find the weights.*\['epoch', 'lr'\]"):
        read_state_dict(tmp_path / "plain.pkl.pt")
    (tmp_path / "notes.pt").write_text("not a checkpoint")
    with pytest.raises(ModelError, match="cannot be read with weights_only=True"):
        read_state_dict(tmp_path / "notes.pt")
    (tmp_path / "w.safetensors").write_bytes(b"garbage")
    with pytest.raises(ModelError, match="not a readable safetensors"):
        read_state_dict(tmp_path / "w.safetensors")
    with pytest.raises(ModelError, match="unknown checkpoint format '.npz'"):
        (tmp_path / "w.npz").write_bytes(b"")
        read_state_dict(tmp_path / "w.npz")
    with pytest.raises(ModelError, match="does not exist"):
        read_state_dict(tmp_path / "nope.pt")


def test_shape_mismatch_error_or_skip_for_a_new_head() -> None:
    pretrained = _net(out=5).state_dict()
    untouched = _net(out=3)
    nn.init.zeros_(_w(untouched, 0))
    with pytest.raises(
        ModelError,
        match=r"(?s)3\.weight: checkpoint \[5, 8\], model \[3, 8\]\n"
        r".*3\.bias: checkpoint \[5\], model \[3\].*on_mismatch: skip",
    ):
        load_weights(untouched, pretrained)
    assert not _w(untouched, 0).any()  # nothing copied when the policy is broken
    head_before = _w(_net(out=3), 3).clone()
    target = _net(out=3)
    report = load_weights(target, pretrained, on_mismatch="skip")
    assert {m["key"] for m in report.mismatched} == {"3.weight", "3.bias"}
    assert torch.equal(_w(target, 0), pretrained["0.weight"])
    assert torch.equal(_w(target, 3), head_before)  # left as initialised
    assert "mismatched (re-initialised): 3.weight" in report.render()


def test_nothing_matching_is_an_error_not_a_silent_no_op() -> None:
    state = {f"module.{k}": v for k, v in _net().state_dict().items()}
    with pytest.raises(ModelError, match="no tensor of the checkpoint matches"):
        load_weights(_net(), state)
    with pytest.raises(ModelError, match="(?s)1 checkpoint key.*not in the model.*extra"):
        load_weights(_net(), {**_net().state_dict(), "extra": torch.ones(1)}, strict=True)


def test_strict_loading_lists_every_unmatched_key_on_both_sides() -> None:
    state = {k.replace("0.", "enc.0.", 1): v for k, v in _net().state_dict().items()}
    with pytest.raises(ModelError) as info:
        load_weights(_net(), state, strict=True)
    text = str(info.value)
    assert "2 model tensor(s) not in the checkpoint" in text
    assert "    0.weight\n    0.bias" in text
    assert "2 checkpoint key(s) that are not in the model" in text
    assert "    enc.0.weight\n    enc.0.bias" in text
    assert "rename rules" in text


def test_rename_collision_and_bad_regex() -> None:
    state = {"a.w": torch.ones(1), "b.w": torch.ones(1)}
    with pytest.raises(ModelError, match="two checkpoint keys"):
        rename_keys(state, [(r"^[ab]\.", "")])
    with pytest.raises(ModelError, match="not a valid regular expression"):
        rename_keys(state, [("(", "")])


def test_freeze_all_but_head_and_pattern_typos() -> None:
    net = nn.Sequential()
    net.add_module("body", nn.Linear(4, 8))
    net.add_module("head", nn.Linear(8, 2))
    report = apply_freeze(net, freeze=["*"], trainable=["head.*"])
    assert [n for n, p in net.named_parameters() if p.requires_grad] == ["head.weight", "head.bias"]
    assert report.trainable == 18 and report.frozen == 40
    with pytest.raises(ModelError, match=r"finetune.trainable\[0\].*'hed\.\*'.*did you mean 'head"):
        apply_freeze(net, trainable=["hed.*"])


def test_frozen_batchnorm_keeps_its_statistics() -> None:
    net = _net()
    apply_freeze(net, freeze=["1.*"])
    assert fix_batchnorm_stats(net) == ["1"]
    before = net.get_buffer("1.running_mean").clone()
    net.train()
    net(torch.randn(16, 4) * 5 + 3)
    assert torch.equal(net.get_buffer("1.running_mean"), before)
