"""``prepare_finetune``: the ``finetune:`` section applied to a module before ``fit``.

In order: initial weights (read, renamed, loaded, reported), re-initialised layers, freezing,
fixed batch-norm statistics, then the optimiser's parameter groups (explicit groups, layer-wise
decay) and the gradual-unfreezing schedule, which ``fit`` takes as ``param_groups`` and
``unfreeze``.
"""

from __future__ import annotations

import fnmatch
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

import torch
from torch import nn

from trainspec.errors import ModelError
from trainspec.files import RunDir, find_checkpoints
from trainspec.models import (
    FreezeReport,
    LoadReport,
    apply_freeze,
    fix_batchnorm_stats,
    load_problems,
    load_weights,
    match_params,
    match_shapes,
    match_state,
    no_match_error,
    read_state_dict,
    read_state_shapes,
    rename_keys,
)
from trainspec.spec import FinetuneSpec, InitSpec, ParamGroupSpec, UnfreezeSpec

from ._optim import param_groups, unfreeze_members

__all__ = [
    "LOAD_REPORT_FILE",
    "FinetunePlan",
    "check_init",
    "prepare_finetune",
    "resolve_init_path",
]

log = logging.getLogger(__name__)

LOAD_REPORT_FILE = "load_report.json"


@dataclass
class FinetunePlan:
    """What ``prepare_finetune`` did to the module, and what ``fit`` is to do with it."""

    param_groups: list[ParamGroupSpec] = field(default_factory=list)
    unfreeze: list[UnfreezeSpec] = field(default_factory=list)
    load_report: LoadReport | None = None
    freeze_report: FreezeReport = field(default_factory=FreezeReport)
    reinit: dict[str, list[str]] = field(default_factory=dict)  # pattern -> layers reset
    bn_fixed: list[str] = field(default_factory=list)
    groups: list[dict[str, Any]] = field(default_factory=list)  # one row per optimiser group
    resumed: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "load": None if self.load_report is None else self.load_report.to_dict(),
            "freeze": self.freeze_report.to_dict(),
            "reinit": self.reinit,
            "bn_stats_fixed": self.bn_fixed,
            "groups": self.groups,
            "unfreeze": [u.model_dump() for u in self.unfreeze],
        }


def resolve_init_path(source: str | Path, checkpoint: str = "best") -> Path:
    """The weights file behind ``finetune.init.from``.

    A file is used as it is; a folder holding ``model.safetensors`` (a checkpoint, a saved
    model) gives that file; a trainspec run directory gives
    ``checkpoints/<checkpoint>/model.safetensors``. A cross-validated run has one model per
    fold, so its directory is refused with the folds to choose from.
    """
    path = Path(source).expanduser()
    where = "finetune.init.from"
    if not path.exists():
        raise ModelError(
            f"{where}: {path} does not exist (working directory {Path.cwd()}); give a run "
            "directory, a checkpoint folder or a weights file (relative paths are relative to "
            "the working directory, ${here}/... to the spec)"
        )
    if path.is_file():
        return path
    if (path / RunDir.WEIGHTS).is_file():
        return path / RunDir.WEIGHTS
    run = RunDir(path)
    checkpoints = run.checkpoints
    if checkpoints.is_dir():
        chosen = run.checkpoint(checkpoint) / RunDir.WEIGHTS
        if chosen.is_file():
            return chosen
        others = sorted(p.parent.name for p in checkpoints.glob(f"*/{RunDir.WEIGHTS}"))
        raise ModelError(
            f"{where}: run {path} has no {checkpoint!r} checkpoint ({chosen} is missing); it "
            f"has {others or 'none'}. Set finetune.init.checkpoint to best or last, or name a "
            "checkpoint folder"
        )
    folds = run.folds_dir
    if folds.is_dir():
        names = [f.path.name for f in run.folds()]
        first = names[0] if names else "0"
        raise ModelError(
            f"{where}: {path} is a cross-validated run with one model per fold (folds "
            f"{', '.join(names)}); name the fold to start from, e.g. from: {folds / first}"
        )
    raise ModelError(
        f"{where}: the folder {path} holds neither {RunDir.WEIGHTS} nor checkpoints/ (a trainspec "
        "run); name a run directory, a checkpoint folder or a weights file"
    )


def _has_checkpoints(run_dir: Path | None) -> bool:
    return run_dir is not None and bool(find_checkpoints(RunDir(run_dir).checkpoints))


def _write_report(run_dir: Path | None, report: LoadReport, status: str) -> None:
    if run_dir is None:
        return
    run_dir.mkdir(parents=True, exist_ok=True)
    data = {"status": status, **report.to_dict()}
    (run_dir / LOAD_REPORT_FILE).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def _load_init(module: nn.Module, init: InitSpec, run_dir: Path | None) -> LoadReport:
    path = resolve_init_path(init.from_, init.checkpoint)
    state = read_state_dict(path, key=init.key)
    state, renamed = rename_keys(state, init.rename)
    on_mismatch = cast(Literal["error", "skip"], init.on_mismatch)
    try:
        report = load_weights(
            module,
            state,
            source=str(path),
            strict=init.strict,
            on_mismatch=on_mismatch,
            renamed=renamed,
        )
    except ModelError as exc:
        failed = LoadReport(source=str(path), renamed=renamed)
        match_state(module, state, failed)
        failed.loaded = []  # nothing was copied
        _write_report(run_dir, failed, f"failed: {exc}")
        raise ModelError(f"finetune.init: {exc}") from None
    _write_report(run_dir, report, "loaded")
    log.info("%s", report.render())
    return report


def check_init(module: nn.Module, init: InitSpec) -> LoadReport:
    """What loading ``init`` into ``module`` would do, from the file's names and shapes alone
    (no tensor is read, and ``module`` may live on the meta device); ``ModelError`` when the
    loading policy (``strict``, ``on_mismatch``) would refuse it, as ``_load_init`` would."""
    path = resolve_init_path(init.from_, init.checkpoint)
    try:
        found = read_state_shapes(path, key=init.key)
    except ModelError as exc:
        keyed = init.key is not None and f"no {init.key!r}" in str(exc)
        raise ModelError(f"finetune.init.{'key' if keyed else 'from'}: {exc}") from None
    try:
        shapes, renamed = rename_keys(found, init.rename)
    except ModelError as exc:
        raise ModelError(f"finetune.init.rename: {exc}") from None
    report = LoadReport(source=str(path), renamed=renamed)
    match_shapes(module, shapes, report)
    on_mismatch = cast(Literal["error", "skip"], init.on_mismatch)
    problems = load_problems(report, strict=init.strict, on_mismatch=on_mismatch)
    if problems is not None:
        raise ModelError(f"finetune.init: {problems}")
    return report


def _owner(module: nn.Module, param_name: str) -> tuple[str, nn.Module]:
    owner = param_name.rpartition(".")[0]
    return owner, module.get_submodule(owner)


def _reset_fn(sub: nn.Module) -> Callable[[], None] | None:
    for attr in ("reset_parameters", "_reset_parameters"):  # MultiheadAttention: the latter
        fn = getattr(sub, attr, None)
        if callable(fn):
            return cast("Callable[[], None]", fn)
    return None


def reinit_layers(module: nn.Module, patterns: Sequence[str], *, seed: int) -> dict[str, list[str]]:
    """Re-initialise the layers owning the parameters matched by ``patterns`` (all of each
    layer's parameters: ``head.weight`` resets ``head.bias`` too), with a seeded generator."""
    done: dict[str, list[str]] = {}
    owners: dict[str, nn.Module] = {}
    for i, pattern in enumerate(patterns):
        names = match_params(module, pattern)
        if not names:
            raise no_match_error(module, pattern, f"finetune.reinit[{i}]")
        layers = []
        for name in names:
            owner, sub = _owner(module, name)
            if _reset_fn(sub) is None:
                raise ModelError(
                    f"finetune.reinit[{i}]: pattern {pattern!r} matches {name!r}, whose layer "
                    f"{owner or '<root>'!r} ({type(sub).__name__}) has no reset_parameters(); "
                    "name the parameters of standard layers (Linear, Conv, norms) inside it"
                )
            if owner not in owners:
                owners[owner] = sub
                layers.append(owner)
        done[pattern] = layers
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for sub in owners.values():
            reset = _reset_fn(sub)
            assert reset is not None
            reset()
    return done


def _blocks(module: nn.Module) -> list[str]:
    """Top-level blocks that hold parameters, in module order."""
    return [n for n, child in module.named_children() if any(True for _ in child.parameters())]


def _block_lrs(module: nn.Module, base_lr: float, decay: float) -> dict[str, float]:
    blocks = _blocks(module)
    return {name: base_lr * decay ** (len(blocks) - 1 - i) for i, name in enumerate(blocks)}


def _claimed_by_groups(module: nn.Module, groups: Sequence[ParamGroupSpec]) -> set[str]:
    named = [n for n, p in module.named_parameters() if p.requires_grad]
    claimed: set[str] = set()
    for group in groups:
        globs = [group.params] if isinstance(group.params, str) else group.params
        claimed.update(n for n in named if any(fnmatch.fnmatchcase(n, g) for g in globs))
    return claimed


def _layer_decay_groups(
    module: nn.Module, groups: Sequence[ParamGroupSpec], lrs: dict[str, float]
) -> list[ParamGroupSpec]:
    claimed = _claimed_by_groups(module, groups)
    out = []
    for block, lr in lrs.items():
        left = [
            n
            for n, p in module.named_parameters()
            if p.requires_grad and n.startswith(block + ".") and n not in claimed
        ]
        if left:
            out.append(ParamGroupSpec(params=f"{block}.*", lr=lr))
    return out


def _layer_decay_unfreeze(
    module: nn.Module, unfreeze: Sequence[UnfreezeSpec], lrs: dict[str, float]
) -> list[UnfreezeSpec]:
    """Unfreeze entries without their own lr, split per block at each block's decayed lr."""
    out = []
    for _, entry, members in unfreeze_members(module, unfreeze):
        if entry.lr is not None:
            out.append(entry)
            continue
        by_block: dict[str, list[str]] = {}
        for name, _ in members:
            by_block.setdefault(name.split(".")[0], []).append(name)
        for block, names in by_block.items():
            out.append(UnfreezeSpec(at_epoch=entry.at_epoch, params=names, lr=lrs.get(block)))
    return out


def _short(params: str | Sequence[str]) -> str:
    names = [params] if isinstance(params, str) else list(params)
    return ", ".join(names[:2]) + (f", ... ({len(names)})" if len(names) > 2 else "")


def _group_rows(
    module: nn.Module,
    groups: Sequence[ParamGroupSpec],
    unfreeze: Sequence[UnfreezeSpec],
    base_lr: float,
) -> list[dict[str, Any]]:
    """One row per optimiser group: what it holds and how fast it learns."""
    built = param_groups(module, groups, unfreeze)  # also checks every pattern
    labels = [g.params if isinstance(g.params, str) else ", ".join(g.params) for g in groups]
    if len(built) > len(groups) + len(unfreeze):
        labels.append("(all other trainable)")
    labels += [f"unfreeze at epoch {u.at_epoch}: {_short(u.params)}" for u in unfreeze]
    rows = []
    for label, group in zip(labels, built, strict=True):
        rows.append(
            {
                "group": label,
                "tensors": len(group["params"]),
                "values": sum(p.numel() for p in group["params"]),
                "lr": group.get("lr", base_lr),
                "weight_decay": group.get("weight_decay"),
            }
        )
    return rows


def prepare_finetune(
    module: nn.Module,
    spec: FinetuneSpec,
    *,
    run_dir: Path | None,
    base_lr: float,
    allow_imports: Sequence[str] = (),
    load: bool = True,
    seed: int = 0,
) -> FinetunePlan:
    """Apply ``spec`` to ``module`` in place and return what ``fit`` needs.

    Applies ``freeze`` then ``trainable``; loads ``spec.init`` (unless ``load`` is False or
    ``run_dir`` already holds checkpoints: a resumed run takes its weights from its own
    checkpoint) and writes ``load_report.json`` to ``run_dir``; re-initialises ``reinit``
    layers (seeded by ``seed``); fixes frozen batch-norm statistics; and builds the parameter groups
    (``param_groups``, then ``layer_decay`` over the rest) and the unfreezing schedule.
    ``base_lr`` is the optimiser's lr, the reference of layer-wise decay. Every pattern is
    checked here: one that matches nothing is an error naming its key.
    """
    del allow_imports  # no import paths in this section yet; kept for a uniform call
    plan = FinetunePlan()
    # Patterns first: a typo fails before a large checkpoint is read.
    plan.freeze_report = apply_freeze(module, freeze=spec.freeze, trainable=spec.trainable)
    for i, pattern in enumerate(spec.reinit):
        if not match_params(module, pattern):
            raise no_match_error(module, pattern, f"finetune.reinit[{i}]")
    if spec.init is not None and load:
        if _has_checkpoints(run_dir):
            plan.resumed = True
            log.info("finetune.init skipped: the run resumes from its own checkpoint")
        else:
            plan.load_report = _load_init(module, spec.init, run_dir)
    if spec.reinit:
        plan.reinit = reinit_layers(module, spec.reinit, seed=seed)
    if spec.freeze_bn_stats:
        plan.bn_fixed = fix_batchnorm_stats(module)
    groups = list(spec.param_groups)
    unfreeze = list(spec.unfreeze)
    unfreeze_members(module, unfreeze)  # errors name the spec's own indices
    param_groups(module, groups, unfreeze)
    if spec.layer_decay is not None:
        lrs = _block_lrs(module, base_lr, spec.layer_decay)
        groups += _layer_decay_groups(module, groups, lrs)
        unfreeze = _layer_decay_unfreeze(module, unfreeze, lrs)
    plan.param_groups, plan.unfreeze = groups, unfreeze
    plan.groups = _group_rows(module, groups, unfreeze, base_lr)
    log.info(
        "finetune: %s trainable, %s frozen parameter values",
        f"{plan.freeze_report.trainable:,}",
        f"{plan.freeze_report.frozen:,}",
    )
    return plan
