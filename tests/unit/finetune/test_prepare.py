"""prepare_finetune: where weights come from, re-initialisation, freezing, parameter groups."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from trainspec.engine import LOAD_REPORT_FILE, prepare_finetune, resolve_init_path
from trainspec.errors import ModelError, SpecError
from trainspec.files import write_manifest
from trainspec.spec import FinetuneSpec


class _Net(nn.Module):
    def __init__(self, out: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.ReLU())
        self.act = nn.ReLU()  # no parameters: not a block for layer-wise decay
        self.mid = nn.Linear(16, 16)
        self.head = nn.Linear(16, out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.head(self.mid(self.act(self.body(x))))
        return out


def _net(out: int = 3, seed: int = 0) -> _Net:
    torch.manual_seed(seed)
    return _Net(out)


def _spec(**kw: Any) -> FinetuneSpec:
    return FinetuneSpec.model_validate(kw)


def _run_dir(root: Path, net: nn.Module, *names: str) -> Path:
    """A directory laid out like a trainspec run, with the given published checkpoints."""
    for name in names:
        folder = root / "checkpoints" / name
        folder.mkdir(parents=True)
        save_file(net.state_dict(), str(folder / "model.safetensors"))
        write_manifest(folder, ["model.safetensors"])
    return root


def _trainable(net: nn.Module) -> list[str]:
    return [n for n, p in net.named_parameters() if p.requires_grad]


def test_init_from_paths_run_dirs_checkpoint_folders_and_files(tmp_path: Path) -> None:
    run = _run_dir(tmp_path / "run", _net(), "best", "last")
    assert resolve_init_path(run) == run / "checkpoints/best/model.safetensors"
    assert resolve_init_path(run, "last") == run / "checkpoints/last/model.safetensors"
    folder = run / "checkpoints/last"
    assert resolve_init_path(folder) == folder / "model.safetensors"
    assert resolve_init_path(folder / "model.safetensors") == folder / "model.safetensors"

    only_last = _run_dir(tmp_path / "only_last", _net(), "last")
    with pytest.raises(ModelError, match=r"no 'best' checkpoint.*has \['last'\]"):
        resolve_init_path(only_last)
    with pytest.raises(ModelError, match="finetune.init.from: .*nope does not exist"):
        resolve_init_path(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match="neither model.safetensors nor checkpoints"):
        resolve_init_path(tmp_path / "empty")


def test_a_cross_validated_run_needs_a_fold(tmp_path: Path) -> None:
    for k in ("0", "1", "2"):
        _run_dir(tmp_path / "cv" / "folds" / k, _net(), "best")
    with pytest.raises(ModelError, match=r"cross-validated run .*folds 0, 1, 2.*folds/0"):
        resolve_init_path(tmp_path / "cv")
    fold = tmp_path / "cv" / "folds" / "1"
    assert resolve_init_path(fold) == fold / "checkpoints/best/model.safetensors"


def test_head_replacement_keeps_the_body_and_reports_every_key(tmp_path: Path) -> None:
    pretrained = _net(out=5, seed=1)
    source = _run_dir(tmp_path / "pre", pretrained, "best")
    net, fresh = _net(out=3), _net(out=3)
    spec = _spec(init={"from": str(source), "on_mismatch": "skip"})
    plan = prepare_finetune(net, spec, run_dir=tmp_path / "ft", base_lr=0.1)
    assert torch.equal(net.mid.weight, pretrained.mid.weight)
    assert torch.equal(net.head.weight, fresh.head.weight)  # as built: freshly initialised
    assert plan.load_report is not None
    report = json.loads((tmp_path / "ft" / LOAD_REPORT_FILE).read_text())
    assert report["status"] == "loaded"
    assert report["source"].endswith("pre/checkpoints/best/model.safetensors")
    assert {m["key"] for m in report["mismatched"]} == {"head.weight", "head.bias"}
    assert "mid.weight" in report["loaded"] and "body.1.running_mean" in report["loaded"]
    assert len(report["loaded"]) + len(report["mismatched"]) == len(net.state_dict())


def test_a_failed_load_writes_its_report_and_names_the_spec_key(tmp_path: Path) -> None:
    source = _run_dir(tmp_path / "pre", _net(out=5), "best")
    net = _net(out=3)
    before = net.mid.weight.clone()
    with pytest.raises(
        ModelError, match=r"(?s)finetune.init: .*head.weight: checkpoint \[5, 16\], model \[3, 16\]"
    ):
        prepare_finetune(net, _spec(init={"from": str(source)}), run_dir=tmp_path, base_lr=0.1)
    assert torch.equal(net.mid.weight, before)
    report = json.loads((tmp_path / LOAD_REPORT_FILE).read_text())
    assert report["status"].startswith("failed") and report["loaded"] == []
    assert {m["key"] for m in report["mismatched"]} == {"head.weight", "head.bias"}


def test_a_resumed_run_does_not_need_the_init_weights_any_more(tmp_path: Path) -> None:
    (tmp_path / "checkpoints" / "ckpt-00000004").mkdir(parents=True)
    spec = _spec(init={"from": str(tmp_path / "deleted-since")}, freeze=["body.*"])
    plan = prepare_finetune(_net(), spec, run_dir=tmp_path, base_lr=0.1)
    assert plan.resumed and plan.load_report is None
    assert plan.freeze_report.frozen == 8 * 16 + 16 + 2 * 16
    with pytest.raises(ModelError, match="does not exist"):
        prepare_finetune(_net(), spec, run_dir=tmp_path / "fresh", base_lr=0.1)


def test_reinit_resets_whole_layers_with_a_seeded_generator(tmp_path: Path) -> None:
    source = _run_dir(tmp_path / "pre", _net(seed=1), "best")
    spec = _spec(init={"from": str(source)}, reinit=["head.weight"])
    a, b = _net(), _net()
    plan = prepare_finetune(a, spec, run_dir=None, base_lr=0.1)
    prepare_finetune(b, spec, run_dir=None, base_lr=0.1)
    assert plan.reinit == {"head.weight": ["head"]}
    pretrained = _net(seed=1)
    assert torch.equal(a.mid.weight, pretrained.mid.weight)
    assert not torch.equal(a.head.weight, pretrained.head.weight)
    assert not torch.equal(a.head.bias, pretrained.head.bias)  # the whole layer
    assert torch.equal(a.head.weight, b.head.weight)  # reproducible
    with pytest.raises(ModelError, match=r"finetune.reinit\[0\]: pattern 'haed\.\*'.*'head"):
        prepare_finetune(_net(), _spec(reinit=["haed.*"]), run_dir=None, base_lr=0.1)


def test_freeze_trainable_and_their_typos() -> None:
    net = _net()
    plan = prepare_finetune(
        net, _spec(freeze=["*"], trainable=["head.*"]), run_dir=None, base_lr=0.1
    )
    assert _trainable(net) == ["head.weight", "head.bias"]
    assert plan.freeze_report.matched["trainable: head.*"] == ["head.weight", "head.bias"]
    assert plan.freeze_report.trainable == 16 * 3 + 3
    assert plan.bn_fixed == ["body.1"]
    with pytest.raises(ModelError, match=r"finetune.freeze\[1\]: pattern 'bdy\.\*'.*'body"):
        prepare_finetune(_net(), _spec(freeze=["mid.*", "bdy.*"]), run_dir=None, base_lr=0.1)


def test_param_groups_first_match_wins_and_unmatched_use_the_defaults() -> None:
    spec = _spec(
        param_groups=[
            {"params": "head.*", "lr": 0.01, "weight_decay": 0.0},
            {"params": ["head.bias", "mid.*"], "lr": 0.001},
        ]
    )
    plan = prepare_finetune(_net(), spec, run_dir=None, base_lr=0.1)
    rows = {r["group"]: r for r in plan.groups}
    assert rows["head.*"]["tensors"] == 2 and rows["head.*"]["weight_decay"] == 0.0
    assert rows["head.bias, mid.*"]["tensors"] == 2  # head.bias went to the first group
    assert rows["(all other trainable)"]["lr"] == 0.1
    assert rows["(all other trainable)"]["tensors"] == 4  # body.0 and body.1 (BN) weights


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        (
            {"param_groups": [{"params": "haed.*"}]},
            r"finetune\.param_groups\[0\]\.params: .*matches no parameter.*'head\.\*'",
        ),
        (
            {"freeze": ["head.*"], "param_groups": [{"params": "head.*"}]},
            r"matches only frozen parameters",
        ),
        (
            {"param_groups": [{"params": "head.*"}, {"params": "head.bias"}]},
            r"param_groups\[1\].*taken by earlier groups",
        ),
        ({"unfreeze": [{"at_epoch": 2, "params": "mid.*"}]}, "trainable from the start"),
        (
            {"freeze": ["mid.*"], "unfreeze": [{"at_epoch": 2, "params": "mdi.*"}]},
            r"finetune\.unfreeze\[0\]\.params: .*matches no parameter",
        ),
        ({"freeze": ["*"]}, "no trainable parameters"),
    ],
    ids=[
        "group-typo",
        "group-frozen",
        "group-taken",
        "unfreeze-trainable",
        "unfreeze-typo",
        "all-frozen",
    ],
)
def test_patterns_that_cannot_work_are_errors_before_training(
    spec: dict[str, Any], match: str
) -> None:
    with pytest.raises(SpecError, match=match):
        prepare_finetune(_net(), _spec(**spec), run_dir=None, base_lr=0.1)


def test_layer_decay_over_blocks_in_module_order() -> None:
    spec = _spec(layer_decay=0.5, param_groups=[{"params": "mid.bias", "lr": 0.3}])
    plan = prepare_finetune(_net(), spec, run_dir=None, base_lr=0.1)
    lrs = {r["group"]: r["lr"] for r in plan.groups}
    # Blocks with parameters: body, mid, head (act has none); explicit groups come first.
    assert lrs == pytest.approx({"mid.bias": 0.3, "body.*": 0.025, "mid.*": 0.05, "head.*": 0.1})
    assert [r["tensors"] for r in plan.groups] == [1, 4, 1, 2]


def test_layer_decay_gives_unfrozen_blocks_their_decayed_lr() -> None:
    spec = _spec(
        freeze=["body.*", "mid.*"],
        layer_decay=0.5,
        unfreeze=[
            {"at_epoch": 3, "params": "body.*", "lr": 0.7},
            {"at_epoch": 2, "params": ["mid.*", "body.0.*"]},
        ],
    )
    plan = prepare_finetune(_net(), spec, run_dir=None, base_lr=0.1)
    schedule = [(u.at_epoch, u.params, u.lr) for u in plan.unfreeze]
    assert schedule == [
        (2, ["body.0.weight", "body.0.bias"], pytest.approx(0.025)),
        (2, ["mid.weight", "mid.bias"], pytest.approx(0.05)),
        (3, "body.*", 0.7),  # its own lr; body.0 was taken by the earlier epoch
    ]
    assert [r["tensors"] for r in plan.groups] == [2, 2, 2, 2]  # head, then three unfreezes
