"""Optimisers and learning-rate schedulers from the ``train:`` section.

Every ``torch.optim`` optimiser and ``torch.optim.lr_scheduler`` scheduler is registered under
its class name (kinds ``optimizer`` and ``scheduler``); import paths work too. Besides those:
``cosine`` (cosine annealing over the whole run) and ``warmup_cosine`` (linear warm-up, then
cosine), and ``warmup_steps`` in front of any scheduler.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import nn
from torch.optim import Optimizer, lr_scheduler

from trainspec.errors import SpecError, closest
from trainspec.registry import instantiate, lookup, registry
from trainspec.spec import OptimizerSpec, ParamGroupSpec, SchedulerSpec, UnfreezeSpec

__all__ = [
    "SET_BY_ENGINE",
    "build_optimizer",
    "build_scheduler",
    "is_plateau",
    "param_groups",
    "unfreeze_members",
    "upgrade_scheduler_state",
    "warmup_cosine",
    "with_warmup",
]

_SCHEDULER_FIELDS = ("name", "interval", "warmup_steps", "warmup_start_factor")
# Need callables or other schedulers as parameters, which a spec cannot give.
_UNSPECIFIABLE = {"LambdaLR", "MultiplicativeLR", "SequentialLR", "ChainedScheduler", "LBFGS"}


def _register_torch() -> None:
    for name in dir(torch.optim):
        obj = getattr(torch.optim, name)
        if (
            isinstance(obj, type)
            and issubclass(obj, Optimizer)
            and obj is not Optimizer
            and name not in _UNSPECIFIABLE
        ):
            registry.add("optimizer", name, obj)
    for name in dir(lr_scheduler):
        obj = getattr(lr_scheduler, name)
        base = (lr_scheduler.LRScheduler, lr_scheduler.ReduceLROnPlateau)
        if (
            isinstance(obj, type)
            and issubclass(obj, base)
            and not name.startswith("_")
            and name not in _UNSPECIFIABLE
            and name != "LRScheduler"
        ):
            registry.add("scheduler", name, obj)


def with_warmup(optimizer: Optimizer, main: Any, steps: int, start_factor: float) -> Any:
    """``main`` after a linear warm-up from ``start_factor * lr`` over ``steps`` (torch's
    ``LinearLR`` then ``main`` in a ``SequentialLR``); ``main`` itself without warm-up."""
    if not steps:
        return main
    ramp = lr_scheduler.LinearLR(optimizer, start_factor=start_factor, total_iters=steps)
    return lr_scheduler.SequentialLR(optimizer, [ramp, main], milestones=[steps])


def warmup_cosine(
    optimizer: Optimizer,
    total_steps: int,
    warmup_steps: int = 0,
    eta_min: float = 0.0,
    start_factor: float = 0.01,
) -> Any:
    """Linear warm-up from ``start_factor * lr`` over ``warmup_steps``, then cosine decay to
    ``eta_min`` at ``total_steps`` (steps are calls to ``step()``): ``cosine`` with the warm-up
    any scheduler takes, under one name."""
    span = max(1, total_steps - warmup_steps)
    cosine = lr_scheduler.CosineAnnealingLR(optimizer, T_max=span, eta_min=eta_min)
    return with_warmup(optimizer, cosine, warmup_steps, start_factor)


def upgrade_scheduler_state(scheduler: Any, state: dict[str, Any]) -> dict[str, Any]:
    """``state`` for ``scheduler``: the state of the ``WarmupCosineLR`` class that
    ``warmup_cosine`` was before it became torch's schedulers (a checkpoint of an older run)
    recast for them, so such a run resumes; any other state as it is. The cosine goes on from
    the optimiser's restored learning rate, as torch's ``CosineAnnealingLR`` always does."""
    if "warmup_steps" not in state or "total_steps" not in state or "_schedulers" in state:
        return state
    t, warmup = int(state["last_epoch"]), int(state["warmup_steps"])
    fresh = scheduler.state_dict()
    parts = fresh.get("_schedulers", [fresh])
    # SequentialLR steps the warm-up for epochs 1..warmup-1, then the cosine from 0 on.
    epochs = [min(t, warmup - 1), max(0, t - warmup)] if len(parts) == 2 else [t]
    for part, epoch in zip(parts, epochs, strict=True):
        part.update(last_epoch=epoch, _step_count=epoch + 1, _last_lr=list(state["_last_lr"]))
    fresh.update(last_epoch=t, _last_lr=list(state["_last_lr"]))
    return dict(fresh)


_register_torch()
registry.add("scheduler", "warmup_cosine", warmup_cosine)
registry.add("scheduler", "cosine", lr_scheduler.CosineAnnealingLR)

# Scheduler parameters that build_scheduler sets from the run when the spec leaves them out.
SET_BY_ENGINE: dict[Any, tuple[str, ...]] = {
    lr_scheduler.CosineAnnealingLR: ("T_max",),
    warmup_cosine: ("total_steps", "warmup_steps", "start_factor"),
    lr_scheduler.OneCycleLR: ("total_steps",),
}


def _globs(params: str | Sequence[str]) -> list[str]:
    return [params] if isinstance(params, str) else list(params)


def _matching(
    named: Sequence[tuple[str, nn.Parameter]], globs: Sequence[str], claimed: set[str]
) -> list[tuple[str, nn.Parameter]]:
    return [
        (n, p)
        for n, p in named
        if n not in claimed and any(fnmatch.fnmatchcase(n, g) for g in globs)
    ]


def _empty_group(
    module: nn.Module,
    globs: Sequence[str],
    trainable: Sequence[tuple[str, nn.Parameter]],
    path: tuple[str | int, ...],
) -> SpecError:
    """Why a parameter group got no parameter: a typo, frozen ones, or an earlier group."""
    names = [n for n, _ in module.named_parameters()]
    hit = [n for n in names if any(fnmatch.fnmatchcase(n, g) for g in globs)]
    if not hit:
        blocks = sorted({n.split(".")[0] for n in names})
        near = closest(globs[0].split(".")[0].rstrip("*"), blocks)
        return SpecError.single(
            f"parameter group {list(globs)!r} matches no parameter",
            path=path,
            hint=(f"did you mean '{near}.*'? " if near else "")
            + f"Top-level blocks: {', '.join(blocks)}",
        )
    if not any(n in hit for n, _ in trainable):
        return SpecError.single(
            f"parameter group {list(globs)!r} matches only frozen parameters ({hit[0]}, ...)",
            path=path,
            hint="frozen parameters are not optimised; drop the group or make them trainable",
        )
    return SpecError.single(
        f"parameter group {list(globs)!r} matches only parameters taken by earlier groups",
        path=path,
        hint="the first group that matches a parameter wins; reorder or narrow the groups",
    )


def unfreeze_members(
    module: nn.Module, unfreeze: Sequence[UnfreezeSpec]
) -> list[tuple[int, UnfreezeSpec, list[tuple[str, nn.Parameter]]]]:
    """``(index, entry, frozen parameters it unfreezes)`` for each ``unfreeze`` entry.

    Entries are taken by ``at_epoch`` (ties in spec order); a parameter matched by two entries
    belongs to the earlier one. An entry that matches no frozen parameter is an error.
    """
    frozen = [(n, p) for n, p in module.named_parameters() if not p.requires_grad]
    claimed: set[str] = set()
    out = []
    for i, entry in sorted(enumerate(unfreeze), key=lambda pair: pair[1].at_epoch):
        globs = _globs(entry.params)
        members = _matching(frozen, globs, claimed)
        if not members:
            names = [n for n, _ in module.named_parameters()]
            anywhere = any(fnmatch.fnmatchcase(n, g) for n in names for g in globs)
            why = (
                "matches only parameters that are trainable from the start (or already "
                "unfrozen by an earlier entry)"
                if anywhere
                else "matches no parameter"
            )
            raise SpecError.single(
                f"unfreeze pattern {globs!r} {why}",
                path=("finetune", "unfreeze", i, "params"),
                hint="freeze them first (finetune.freeze) and name frozen parameters here; "
                f"parameter names look like: {', '.join(names[:6])}",
            )
        claimed.update(n for n, _ in members)
        out.append((i, entry, members))
    return out


def param_groups(
    module: nn.Module,
    groups: Sequence[ParamGroupSpec],
    unfreeze: Sequence[UnfreezeSpec] = (),
) -> list[dict[str, Any]]:
    """Optimiser parameter groups: trainable parameters split by the first glob group that
    matches their name, the rest in one group with the optimiser's defaults, then one group
    per ``unfreeze`` entry.

    Frozen parameters are left out, except those an ``unfreeze`` entry names: they are in the
    optimiser from the start, without gradients (optimisers skip parameters whose ``grad`` is
    None, weight decay included), so the optimiser's groups never change during the run and a
    checkpoint's optimiser state always fits. A group that matches no trainable parameter is
    an error.
    """
    named = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
    scheduled = unfreeze_members(module, unfreeze)
    if not named and not any(entry.at_epoch == 1 for _, entry, _ in scheduled):
        raise SpecError.single(
            "the model has no trainable parameters (all have requires_grad=False)",
            path=("finetune",),
            hint="leave some layers trainable (finetune.trainable) or unfreeze some at epoch 1",
        )
    claimed: set[str] = set()
    out: list[dict[str, Any]] = []
    for i, group in enumerate(groups):
        globs = _globs(group.params)
        members = _matching(named, globs, claimed)
        if not members:
            raise _empty_group(module, globs, named, ("finetune", "param_groups", i, "params"))
        claimed.update(n for n, _ in members)
        entry: dict[str, Any] = {"params": [p for _, p in members]}
        if group.lr is not None:
            entry["lr"] = group.lr
        if group.weight_decay is not None:
            entry["weight_decay"] = group.weight_decay
        out.append(entry)
    rest = [p for n, p in named if n not in claimed]
    if rest:
        out.append({"params": rest})
    for _, spec, members in scheduled:
        entry = {"params": [p for _, p in members]}
        if spec.lr is not None:
            entry["lr"] = spec.lr
        out.append(entry)
    return out


def build_optimizer(
    module: nn.Module,
    spec: OptimizerSpec,
    groups: Sequence[ParamGroupSpec] = (),
    *,
    unfreeze: Sequence[UnfreezeSpec] = (),
    allow: Iterable[str] = (),
) -> Optimizer:
    """The optimiser named in ``spec`` over the module's trainable parameters."""
    path = ("train", "optimizer")
    name, cls = lookup("optimizer", spec.name, (*path, "name"), allow)
    if not (isinstance(cls, type) and issubclass(cls, Optimizer)):
        raise SpecError.single(
            f"{spec.name!r} is not a torch.optim.Optimizer", path=(*path, "name")
        )
    entry = {"name": name, "lr": spec.lr, **(spec.model_extra or {})}
    optimizer: Optimizer = instantiate(
        "optimizer",
        entry,
        path,
        target=cls,
        fixed={"params": param_groups(module, groups, unfreeze)},
    )
    return optimizer


def is_plateau(scheduler: object) -> bool:
    return isinstance(scheduler, lr_scheduler.ReduceLROnPlateau)


def build_scheduler(
    optimizer: Optimizer,
    spec: SchedulerSpec,
    *,
    total: int,
    monitor_mode: str,
    allow: Iterable[str] = (),
) -> Any:
    """The scheduler in ``spec``; ``total`` is the run's length in ``spec.interval`` units."""
    path = ("train", "scheduler")
    name, target = lookup("scheduler", spec.name, (*path, "name"), allow)
    args = dict(spec.model_extra or {})
    warmup = spec.warmup_steps
    plateau = target is lr_scheduler.ReduceLROnPlateau
    if plateau:
        if spec.interval == "step" or warmup:
            raise SpecError.single(
                "ReduceLROnPlateau steps once per epoch on the monitored metric, without warm-up",
                path=path,
                hint="set interval: epoch and warmup_steps: 0",
            )
        args.setdefault("mode", monitor_mode)
    if target is warmup_cosine:
        args.setdefault("total_steps", total)
        args.setdefault("start_factor", spec.warmup_start_factor)
        args["warmup_steps"] = warmup
        return instantiate(
            "scheduler", {"name": name, **args}, path, target=target, fixed={"optimizer": optimizer}
        )
    if target is lr_scheduler.CosineAnnealingLR:
        args.setdefault("T_max", max(1, total - warmup))
    if target is lr_scheduler.OneCycleLR and "epochs" not in args:
        args.setdefault("total_steps", max(1, total - warmup))
    main = instantiate(
        "scheduler", {"name": name, **args}, path, target=target, fixed={"optimizer": optimizer}
    )
    return with_warmup(optimizer, main, warmup, spec.warmup_start_factor)
