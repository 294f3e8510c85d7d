"""Evaluation: loss and metrics over a whole split, and raw outputs for inference."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor, nn

from trainspec.data import TARGET, Batch, BatchSource
from trainspec.metrics import DEFAULT_METRICS, MetricFn, compute_metrics, get_metric

from ._device import (
    AnyForward,
    Forward,
    as_forward,
    autocast,
    rank,
    resolve_device,
    to_device,
    world_size,
)
from ._dist import broadcast_object, gather_objects
from ._losses import build_loss, collect_targets
from ._lossfn import LossFn
from ._settings import FitSettings

__all__ = ["Outputs", "evaluate", "predict_outputs", "resolve_metrics", "run_eval"]


def resolve_metrics(
    names: Sequence[str], task: str, *, allow: Iterable[str] = ()
) -> list[MetricFn]:
    """The run's metrics (defaults by task when ``names`` is empty), checked against the task."""
    from trainspec.errors import SpecError

    out = []
    for i, name in enumerate(names or DEFAULT_METRICS[task]):
        path = ("train", "metrics", i)
        metric = get_metric(name, allow=allow, path=path)
        if metric.task is not None and metric.task != task:
            raise SpecError.single(
                f"metric {name!r} is for {metric.task}, but the task is {task}",
                path=path,
                hint=f"use {', '.join(DEFAULT_METRICS[task])}",
            )
        out.append(metric)
    return out


@dataclass
class Outputs:
    """Per-row tensors accumulated over an epoch, ready for the metrics.

    They stay on the device the model runs on; the host gets them once, concatenated, when
    the metrics are computed (``.cpu()`` per batch would wait for the device every batch).
    Class logits are kept as they are and turned into probabilities and labels once, over
    all batches (softmax is row by row, so the values are those of a per-batch softmax).
    Batches of (B, C) logits with (B,) class targets, the common case, are only held until
    then: the rows whose target is the loss's ``ignore_index`` are dropped once, over the
    concatenation, rather than batch by batch.
    """

    y_true: list[Tensor] = field(default_factory=list)
    y_pred: list[Tensor] = field(default_factory=list)
    y_score: list[Tensor] = field(default_factory=list)
    logits: list[Tensor] = field(default_factory=list)
    # (B, C) logits and (B,) targets not yet masked, and the ignore_index to mask them with.
    held: list[tuple[Tensor, Tensor]] = field(default_factory=list)
    ignore_index: int = -100

    def add(self, out: Tensor, batch: Batch, loss_fn: LossFn, task: str) -> None:
        if task == "classification" and loss_fn.class_targets and out.dim() == 2:
            self.held.append((out.detach(), batch[TARGET]))
            self.ignore_index = loss_fn.ignore_index
            return
        self._release()  # keeps the rows in the order the batches came
        a = loss_fn.align(out.detach(), batch)
        pred, target = a.out, a.target
        if a.valid is not None:  # ignored or padded positions do not count
            pred, target = pred[a.valid], target[a.valid]
        if task == "classification" and loss_fn.class_targets:
            self.logits.append(pred.float())
        elif task == "classification":  # one logit per sample (BCEWithLogitsLoss)
            score = torch.sigmoid(pred.float())
            self.y_pred.append((score > 0.5).long())
            self.y_score.append(score)
            target = target.long()
        else:
            self.y_pred.append(pred.float())
        self.y_true.append(target)

    def _release(self) -> None:
        """The held batches' rows, those not ignored, moved to ``logits`` and ``y_true``."""
        if not self.held:
            return
        pred = torch.cat([out for out, _ in self.held])
        target = torch.cat([t for _, t in self.held])
        self.held.clear()
        valid = target != self.ignore_index
        if not bool(valid.all()):
            pred, target = pred[valid], target[valid]
        self.logits.append(pred.float())
        self.y_true.append(target)

    def _settle(self) -> None:
        """Class probabilities and labels from the logits gathered so far."""
        self._release()
        if self.logits:
            score = torch.softmax(torch.cat(self.logits), dim=-1)
            self.logits.clear()
            self.y_score.append(score)
            self.y_pred.append(score.argmax(dim=-1))

    def arrays(self) -> tuple[list[np.ndarray], ...]:
        """The accumulated tensors as NumPy arrays (to send to another process)."""
        self._settle()
        return tuple(
            [] if not part else [_host(part)] for part in (self.y_true, self.y_pred, self.y_score)
        )

    def extend(self, arrays: tuple[list[np.ndarray], ...]) -> None:
        for part, more in zip((self.y_true, self.y_pred, self.y_score), arrays, strict=True):
            part.extend(torch.from_numpy(a) for a in more)

    def metrics(
        self, metrics: Sequence[MetricFn], inverse: Callable[[np.ndarray], np.ndarray] | None = None
    ) -> dict[str, float]:
        """``inverse`` maps rescaled regression targets and predictions back to the data's
        units (``data.target_transform``), so that the metrics read in those units."""
        if not metrics:
            return {}
        self._settle()
        y_true = _host(self.y_true) if self.y_true else np.zeros(0)
        y_pred = _host(self.y_pred) if self.y_pred else np.zeros(0)
        if inverse is not None:
            y_true, y_pred = inverse(y_true), inverse(y_pred)
        y_score = _host(self.y_score) if self.y_score else None
        return compute_metrics(metrics, y_true, y_pred, y_score)


def _host(parts: list[Tensor]) -> np.ndarray:
    """The batches' tensors as one host array: one concatenation, one copy off the device."""
    return torch.cat(parts).cpu().numpy()


def run_eval(
    module: nn.Module,
    source: BatchSource,
    *,
    batch_size: int,
    loss_fn: LossFn,
    metrics: Sequence[MetricFn],
    task: str,
    forward: Forward,
    device: torch.device,
    precision: str = "fp32",
    sharded: bool = False,
) -> dict[str, float]:
    """``{"loss": ..., <metric>: ...}`` over ``source`` in its natural order, no augmentation.

    The loss is the mean of the batch losses weighted by batch size. ``sharded`` (data-parallel
    training): each rank scores every ``world``-th sample, rank 0 gathers the predictions and
    targets and computes the metrics over all of them (so kappa, F1 or AUC are those of one
    process, not a mean of per-rank values), and every rank gets rank 0's result.
    """
    was_training = module.training
    module.eval()
    outputs = Outputs()
    losses: list[Tensor] = []  # each batch's mean loss, read off the device once at the end
    sizes: list[int] = []
    order = np.arange(len(source), dtype=np.int64)
    if sharded:
        order = order[rank() :: world_size()]
    try:
        with torch.no_grad(), autocast(precision, device):
            for raw in source.iter_batches(order, batch_size, drop_last=False, generator=None):
                batch = to_device(raw, device)
                out = forward(module, batch)
                sizes.append(int(batch[TARGET].shape[0]))
                losses.append(loss_fn(out, batch).detach())
                outputs.add(out, batch, loss_fn, task)
    finally:
        module.train(was_training)
    total, count = _weighted_sum(losses, sizes), sum(sizes)
    inverse = getattr(source, "target_inverse", None)
    if sharded:
        return _gathered(total, count, outputs, metrics, inverse)
    result = {"loss": total / count if count else float("nan")}
    result.update(outputs.metrics(metrics, inverse))
    return result


def _weighted_sum(losses: list[Tensor], sizes: list[int]) -> float:
    """The sum of each batch's mean loss times its size, added batch by batch in float64."""
    if not losses:
        return 0.0
    total = 0.0
    for value, n in zip(torch.stack(losses).double().tolist(), sizes, strict=True):
        total += value * n
    return total


def _gathered(
    total: float,
    count: int,
    outputs: Outputs,
    metrics: Sequence[MetricFn],
    inverse: Callable[[np.ndarray], np.ndarray] | None,
) -> dict[str, float]:
    parts = gather_objects((total, count, outputs.arrays()))
    result: dict[str, float] = {}
    if parts is not None:
        merged = Outputs()
        for _, _, arrays in parts:
            merged.extend(arrays)
        n = sum(c for _, c, _ in parts)
        result = {"loss": sum(t for t, _, _ in parts) / n if n else float("nan")}
        result.update(merged.metrics(metrics, inverse))
    return broadcast_object(result)


def evaluate(module: nn.Module, source: BatchSource, settings: FitSettings) -> dict[str, float]:
    """Loss and the configured metrics of ``module`` over ``source``.

    ``class_weights: balanced`` weights are computed from ``source``'s own targets here.
    """
    config, task, allow = settings.config, settings.task, settings.allow_imports
    device = resolve_device(config.device)
    module.to(device)
    metrics = resolve_metrics(config.metrics, task, allow=allow)
    targets = None
    if config.loss.class_weights == "balanced":
        targets = collect_targets(source, config.batch_size)
    loss_fn = build_loss(
        config.loss,
        task=task,
        num_classes=settings.num_classes,
        train_targets=targets,
        allow=allow,
        output_kind=settings.output_kind,
    )
    loss_fn.module.to(device)
    return run_eval(
        module,
        source,
        batch_size=config.eval_batch_size or config.batch_size,
        loss_fn=loss_fn,
        metrics=metrics,
        task=task,
        forward=as_forward(settings.forward),
        device=device,
        precision="fp32" if config.precision == "fp16" else config.precision,
    )


def predict_outputs(
    module: nn.Module,
    source: BatchSource,
    *,
    batch_size: int,
    forward: AnyForward | None = None,
    device: torch.device | str | None = None,
) -> np.ndarray:
    """The raw outputs (logits or values) for every sample of ``source``, in its order.

    Sequence outputs (B, T, ...) of batches padded to different lengths are padded with NaN
    to the longest T, so that positions past a sequence's end read as missing.
    """
    call = as_forward(forward)
    dev = (
        torch.device(device)
        if device is not None
        else next((p.device for p in module.parameters()), torch.device("cpu"))
    )
    was_training = module.training
    module.eval()
    chunks: list[np.ndarray] = []
    order = np.arange(len(source), dtype=np.int64)
    try:
        with torch.no_grad():
            for raw in source.iter_batches(order, batch_size, drop_last=False, generator=None):
                out = call(module, to_device(raw, dev))
                chunks.append(out.float().cpu().numpy())
    finally:
        module.train(was_training)
    if not chunks:
        return np.zeros((0,), dtype=np.float32)
    if len({c.shape[1:] for c in chunks}) > 1 and all(c.ndim >= 2 for c in chunks):
        longest = max(c.shape[1] for c in chunks)
        chunks = [
            np.pad(
                c,
                [(0, 0), (0, longest - c.shape[1])] + [(0, 0)] * (c.ndim - 2),
                constant_values=np.nan,
            )
            for c in chunks
        ]
    return np.concatenate(chunks, axis=0)
