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
        nn.init.zeros_(dst[0].weight)
        load_weights(dst, read_state_dict(tmp_path / name), strict=True)
        assert torch.equal(dst[0].weight, src[0].weight)


def test_explicit_key_and_unknown_layout(tmp_path: Path) -> None:
    torch.save(
        {"ema": {"w": torch.ones(1)}, "weights_of_model": _net().state_dict()}, tmp_path / "a.pt"
    )
    assert "0.weight" in read_state_dict(tmp_path / "a.pt", key="weights_of_model")
    torch.save({"something": {"else": 1}}, tmp_path / "b.pt")
    with pytest.raises(ModelError, match="cannot find the weights.*something"):
        read_state_dict(tmp_path / "b.pt")
    with pytest.raises(ModelError, match="no 'nope'"):
        read_state_dict(tmp_path / "a.pt", key="nope")


class _Evil:
    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (print, ("executed",))


def test_pickled_code_is_never_executed(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "evil.pt"
    with open(path, "wb") as fh:
        pickle.dump({"state_dict": _Evil()}, fh)
    with pytest.raises(ModelError, match="weights_only=True"):
        read_state_dict(path)
    assert "executed" not in capsys.readouterr().out


def test_shape_mismatch_error_or_skip_for_a_new_head() -> None:
    pretrained = _net(out=5).state_dict()
    with pytest.raises(ModelError, match=r"3\.weight.*\[5, 8\].*\[3, 8\].*on_mismatch: skip"):
        load_weights(_net(out=3), pretrained)
    head_before = _net(out=3)[3].weight.clone()
    target = _net(out=3)
    report = load_weights(target, pretrained, on_mismatch="skip")
    assert {m["key"] for m in report.mismatched} == {"3.weight", "3.bias"}
    assert torch.equal(target[0].weight, pretrained["0.weight"])
    assert torch.equal(target[3].weight, head_before)  # left as initialised
    assert "mismatched (re-initialised): 3.weight" in report.render()


def test_nothing_matching_is_an_error_not_a_silent_no_op() -> None:
    state = {f"module.{k}": v for k, v in _net().state_dict().items()}
    with pytest.raises(ModelError, match="no tensor of the checkpoint matches"):
        load_weights(_net(), state)
    with pytest.raises(ModelError, match="strict loading failed"):
        load_weights(_net(), {**_net().state_dict(), "extra": torch.ones(1)}, strict=True)


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
    before = net[1].running_mean.clone()
    net.train()
    net(torch.randn(16, 4) * 5 + 3)
    assert torch.equal(net[1].running_mean, before)
