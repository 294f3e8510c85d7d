"""``fit``: the training loop, top to bottom.

One epoch: the sampler's permutation for ``(seed, epoch)``, batches from the source starting at
the saved position, forward, loss, backward, an optimiser step every ``accumulate_steps``
batches; then evaluation, the monitored value, early stopping and checkpoints. Everything a
later step depends on is in the checkpoint, so a resumed run repeats an uninterrupted one.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from torch import Tensor, nn

from trainspec.data import Batch, BatchSource
from trainspec.errors import TrainingError
from trainspec.files import RunDir, find_checkpoints

from ._callbacks import Callback, Progress, call, make_progress
from ._checkpoint import Checkpoint, load_checkpoint, load_latest, write_checkpoint
from ._compile import first_call
from ._device import AnyForward, autocast, deterministic, rank, takes_module, to_device, world_size
from ._dist import (
    LossAndStop,
    agree_stop,
    broadcast_object,
    gather_objects,
    process_group,
    sum_across,
)
from ._evaluate import run_eval
from ._meter import LossMeter
from ._publish import prune, publish, repair
from ._result import FitContext, FitResult
from ._rng import augmentation_generator, capture_global_rng, seed_everything
from ._serialize import flatten, unflatten
from ._settings import FitSettings
from ._setup import Setup, build_setup
from ._signals import StopRequests
from ._state import TrainState, check_compat, jsonl_line, pack_state, rewrite_jsonl, unpack_state

__all__ = ["fit"]

log = logging.getLogger(__name__)


class _Saver:
    """Checkpoints of the run, when due: rank 0 writes them, holding every rank's generators.

    Every rank takes the same decisions (the step, the epoch and the monitored value are the
    same everywhere) and joins the gather of the generators, so a process whose random draws
    differ from rank 0's (dropout in a model whose draws depend on its data) resumes exactly.
    With ``best_at_end`` a new best that is not otherwise due is held in memory (a CPU copy)
    and written before the next checkpoint, or by ``flush`` when training fails.
    """

    def __init__(
        self,
        run_dir: Path | None,
        setup: Setup,
        compat: Mapping[str, str],
        callbacks: Sequence[Callback],
        writer: bool,
    ) -> None:
        self.active = run_dir is not None
        self.writer = writer
        self.root = RunDir(run_dir or Path()).checkpoints
        self.spec = setup.config.checkpoint
        self.setup = setup
        self.compat = compat
        self.callbacks = callbacks
        self.pending: _Snapshot | None = None

    def due_step(self, step: int) -> bool:
        every = self.spec.every_steps
        return self.active and every is not None and step % every == 0

    def due_step_set(self) -> bool:
        """Whether checkpoints are due every so many steps at all."""
        return self.active and self.spec.every_steps is not None

    def due_epoch(self, epoch: int) -> bool:
        every = self.spec.every_epochs
        return self.active and every is not None and epoch % every == 0

    def save(self, state: TrainState, *, best: bool = False, due: bool = True) -> bool:
        """Checkpoint ``state``: ``due`` when a checkpoint is due now, else for a new best
        alone. True when one was written (the same answer on every rank)."""
        if not self.active:
            return False
        rank_rng = None
        if self.setup.world > 1:
            rank_rng = gather_objects(capture_global_rng())
        hold = self.spec.best_at_end and not due
        if not self.writer:
            return not hold
        snapshot = self._snapshot(state, rank_rng, copy=hold)
        if hold:
            self.pending = snapshot
            return False
        if self.pending is not None and not best:
            self._write(self.pending, last=False, best=True)
        self.pending = None
        self._write(snapshot, last=True, best=best)
        return True

    def flush(self) -> None:
        """Write the best checkpoint held in memory (training ended by an error, or a
        callback such as a sweep's pruner); a failure to write it is logged, not raised."""
        if self.pending is None:
            return
        pending, self.pending = self.pending, None
        try:
            self._write(pending, last=True, best=True)
        except Exception as exc:  # the error that ended training is the one to report
            log.warning("the best checkpoint held in memory could not be written: %s", exc)

    def _snapshot(
        self, state: TrainState, rank_rng: list[dict[str, Any]] | None, *, copy: bool
    ) -> _Snapshot:
        tensors: dict[str, Tensor] = {}
        packed = pack_state(state, self.setup.components(), self.compat, rank_rng)
        tree = flatten(packed, tensors)
        model = self.setup.module.state_dict()
        if copy:  # later steps change the weights and optimiser state in place
            model = {k: v.detach().to("cpu", copy=True) for k, v in model.items()}
            tensors = {k: v.clone() for k, v in tensors.items()}
        return _Snapshot(state.global_step, model, tensors, tree)

    def _write(self, snap: _Snapshot, *, last: bool, best: bool) -> None:
        path = write_checkpoint(self.root, snap.step, snap.model, snap.tensors, snap.tree)
        if last:
            publish(path, "last")
        if best:
            publish(path, "best")
        prune(self.root, self.spec.keep_last)
        call(self.callbacks, "on_checkpoint", path, best=best)


@dataclass
class _Snapshot:
    """What one checkpoint holds, ready to write: the step it is named by, the weights, the
    training state's tensors and its JSON tree (``flatten``)."""

    step: int
    model: dict[str, Tensor]
    tensors: dict[str, Tensor]
    tree: Any


class _Loop:
    """One call of ``fit``: the setup, the state, and the sources."""

    def __init__(
        self,
        setup: Setup,
        state: TrainState,
        train: BatchSource,
        val: BatchSource | None,
        saver: _Saver,
        progress: Progress,
        callbacks: Sequence[Callback],
        metrics_file: Path | None,
    ) -> None:
        self.setup = setup
        self.state = state
        self.train = train
        self.val = val
        self.saver = saver
        self.progress = progress
        self.callbacks = callbacks
        self.metrics_file = metrics_file
        self.meter = LossMeter(setup.config.nan_policy, setup.device, state)
        self.stop_seen = False
        self.checked = False
        # Under DDP with ``setup.share``: this rank's loss sum over the optimiser step's
        # batches so far, and their number.
        self.staged: Tensor | None = None
        self.staged_count = 0
        sched = setup.config.scheduler
        self.step_scheduler = (
            setup.scheduler is not None
            and not setup.plateau
            and sched is not None
            and sched.interval == "step"
        )
        # One process: no gradient synchronisation to hold back, no loss or stop to share.
        self.local = setup.world == 1
        self.mixed = setup.config.precision != "fp32"  # autocast around the forward pass
        # The optimiser step as it is, or with gradient clipping or a loss scaler around it.
        self.plain_update = setup.config.grad_clip_norm is None and setup.scaler is None
        # After the first (checked) batch, a one-process fp32 step without a loss scaler or
        # torch.compile is forward, loss, backward in one frame: a step of a small network
        # is tens of microseconds of Python, and every call layer shows (bench_engine).
        self.direct = (
            self.local
            and not self.mixed
            and not setup.compiled
            and setup.scaler is None
            and setup.train_module in (None, setup.module)
        )
        # Checks after each optimiser step that only some runs need.
        self.watch_steps = setup.config.max_steps is not None or saver.due_step_set()

    def run(self, stop: StopRequests) -> bool:
        """Train until the last epoch, early stop, ``max_steps`` or a stop request.

        Returns True when interrupted.
        """
        while self._more():
            started = time.perf_counter()
            self._unfreeze()
            if self.state.order is None:
                self.state.order = self.setup.sampler.permutation(self.state.epoch)
            outcome = self.train_epoch(stop)
            if outcome == "interrupted":
                self.meter.flush()
                self.saver.save(self.state)
                return True
            saved = self.end_epoch(time.perf_counter() - started)
            if agree_stop(bool(stop)) and self._more():
                if not saved:
                    self.saver.save(self.state)
                return True
        return False

    def _unfreeze(self) -> None:
        """Let the parameters scheduled for this epoch (or earlier) learn. A function of the
        epoch alone, so a resumed run, mid-epoch included, trains the same parameters."""
        for item in self.setup.unfreeze:
            if item.at_epoch > self.state.epoch + 1:
                continue
            flipped = [p for p in item.params if not p.requires_grad]
            for p in flipped:
                p.requires_grad_(True)
            if flipped and self.setup.world > 1:
                self.setup.wrap()
            if flipped:
                log.info(
                    "epoch %d: unfroze %d parameter tensors (%s, %d values)",
                    self.state.epoch + 1,
                    len(flipped),
                    item.label,
                    sum(p.numel() for p in flipped),
                )

    def _more(self) -> bool:
        state = self.state
        return (
            state.epoch < self.setup.config.epochs
            and not state.stopped_early
            and not self._max_hit()
        )

    def _max_hit(self) -> bool:
        limit = self.setup.config.max_steps
        return limit is not None and self.state.global_step >= limit

    def train_epoch(self, stop: StopRequests) -> Literal["done", "interrupted", "max_steps"]:
        setup, state, cfg = self.setup, self.state, self.setup.config
        assert state.order is not None
        bs, acc, n = setup.batch_size, cfg.accumulate_steps, setup.batches_per_epoch
        gen = augmentation_generator(setup.seed, state.epoch)
        if state.position and state.aug_state is not None:
            gen.set_state(state.aug_state)
        self.progress.start_epoch(state.epoch, cfg.epochs, n, state.position)
        setup.module.train()
        # The state holds the whole epoch's order (what every rank shares); this rank trains on
        # its slice of each global batch.
        mine = setup.sampler.shard(state.order)
        batches = self.train.iter_batches(
            mine[state.position * bs :], bs, drop_last=cfg.drop_last, generator=gen
        )
        # One optimiser step takes `acc` batches (train.accumulate_steps), the epoch's last
        # step what is left of it. `taken` counts the current step's batches; `contributed`
        # stays False while every one of them was skipped (nan_policy: skip): no update then.
        taken, contributed = 0, False
        for raw in batches:
            step_batches = min(acc, n - (state.position - taken))
            closes_step = taken + 1 >= step_batches
            batch = to_device(raw, setup.device)
            if self.local:
                contributed |= self._local_forward_backward(batch, step_batches)
            else:
                contributed |= self._forward_backward(batch, step_batches, closes_step, stop)
            del raw, batch  # let the allocator reuse this batch's memory for the next one
            state.position += 1
            taken += 1
            if not closes_step:
                continue
            self._optimizer_step(contributed)
            taken, contributed = 0, False
            self.progress.step(state.position, self.meter.mean)
            stopping = self.stop_seen if setup.world > 1 else bool(stop)
            if not (stopping or self.watch_steps):
                continue
            hit = self._max_hit()
            if stopping or hit or self.saver.due_step(state.global_step):
                state.aug_state = gen.get_state()
                if stopping:
                    return "interrupted"
                if hit:
                    return "max_steps"
                self.meter.flush()
                self.saver.save(state)
        if taken:  # the source gave fewer batches than its length promised
            self._settle(stop)
            self._optimizer_step(contributed)
        return "done"

    def _local_forward_backward(self, batch: Batch, step_batches: int) -> bool:
        """Forward, loss and backward of one batch in one process; its gradients add up over
        the step's ``step_batches`` batches (the loss is divided by their number). False when
        the batch is skipped (a non-finite loss under ``nan_policy: skip``)."""
        direct = self.direct and self.checked and step_batches == 1
        if direct:
            setup = self.setup
            loss = setup.loss_fn(setup.forward(setup.module, batch), batch)
        else:
            loss = self._loss(batch)
        if not self.meter.add(loss, self.state.epoch, self.state.global_step):
            return False
        if direct:
            loss.backward()  # type: ignore[no-untyped-call]
        else:
            self._backward(loss, step_batches)
        return True

    def _forward_backward(
        self, batch: Batch, step_batches: int, closes_step: bool, stop: StopRequests
    ) -> bool:
        """``_local_forward_backward`` in data-parallel training: gradients synchronised on
        the step's last batch only, the loss and stop requests shared by every rank."""
        setup = self.setup
        # Gradients are averaged across processes once per optimiser step, on its last batch.
        sync = contextlib.nullcontext()
        if not closes_step:
            sync = setup.train_module.no_sync()  # type: ignore[union-attr, operator]
        with sync:
            loss = self._loss(batch)
            # Every rank sees the mean loss of the global batch (so all ranks take the same
            # NaN decision) and whether any rank was asked to stop. Failing can wait until
            # after the backward pass (still before the optimiser step), so both ride on the
            # gradients' all-reduce (``StepShare``). Skipping a batch must be decided before
            # its backward pass: a reduction of its own, waited for at once.
            shared, early = None, False
            if setup.share is not None:
                self._stage(loss, closes_step, stop)
            else:
                shared = LossAndStop(loss, bool(stop), setup.world)
                early = setup.config.nan_policy == "skip"
            if early and not self._record(loss, shared):
                return False
            self._backward(loss, step_batches)
        if shared is not None and not early:
            self._record(loss, shared)  # raises on a non-finite loss (nan_policy: fail)
        elif closes_step:
            self._settle(stop)
        return True

    def _loss(self, batch: Batch) -> Tensor:
        """The loss of one batch; the first batch's shapes are checked against the loss."""
        setup = self.setup
        out = self._forward(batch)
        if not self.checked:
            setup.loss_fn.check(out, batch, num_classes=setup.num_classes)
            self.checked = True
        return setup.loss_fn(out, batch)

    def _backward(self, loss: Tensor, step_batches: int) -> None:
        """Gradients of ``loss``, divided by the step's number of batches (through the loss
        scaler under fp16)."""
        scaled = loss / step_batches if step_batches > 1 else loss
        if self.setup.scaler is not None:
            self.setup.scaler.scale(scaled).backward()
        else:
            scaled.backward()  # type: ignore[no-untyped-call]

    def _stage(self, loss: Tensor, last: bool, stop: StopRequests) -> None:
        """Add ``loss`` to this rank's sum for the optimiser step; on its last batch, hand the
        sum and the stop request to the gradients' all-reduce."""
        value = loss.detach().double()
        self.staged = value if self.staged is None else self.staged + value
        self.staged_count += 1
        if last:
            assert self.setup.share is not None
            self.setup.share.arm(self._packed(stop))

    def _packed(self, stop: StopRequests) -> Tensor:
        assert self.staged is not None
        flag = torch.tensor(float(bool(stop)), dtype=torch.float64, device=self.staged.device)
        return torch.stack([self.staged, flag])

    def _settle(self, stop: StopRequests) -> None:
        """Record the optimiser step's loss (the sum over its batches of the global batch's
        mean) and whether any rank wants to stop, as the all-reduce brought them; reduced
        here when no gradient bucket carried them (the same on every rank)."""
        share = self.setup.share
        if share is None or self.staged is None:
            return
        result = share.take()
        if result is None:
            result = sum_across(self._packed(stop))
        count, self.staged, self.staged_count = self.staged_count, None, 0
        self.stop_seen = bool(result[1].item() > 0)
        self.meter.add(
            result[0].double() / share.world, self.state.epoch, self.state.global_step, count
        )

    def _record(self, loss: Tensor, shared: LossAndStop | None) -> bool:
        """Add the step's loss (the global batch's mean under DDP) to the epoch's; False when
        the batch is to be skipped."""
        seen = loss
        if shared is not None:
            seen, self.stop_seen = shared.wait()
        return self.meter.add(seen, self.state.epoch, self.state.global_step)

    def _forward(self, batch: Batch) -> Tensor:
        """The model's output on ``batch`` (under autocast for bf16 and fp16)."""
        setup = self.setup
        model = setup.module if setup.train_module is None else setup.train_module
        if self.mixed:
            with autocast(setup.config.precision, setup.device):
                return self._call(model, batch)
        return self._call(model, batch)

    def _call(self, model: nn.Module, batch: Batch) -> Tensor:
        setup = self.setup
        if setup.compiled and not self.checked:
            return first_call(setup.module, lambda: setup.forward(model, batch))
        return setup.forward(model, batch)

    def _optimizer_step(self, contributed: bool) -> None:
        setup, cfg = self.setup, self.setup.config
        if contributed and self.plain_update:
            setup.optimizer.step()
        elif contributed:
            if cfg.grad_clip_norm is not None:
                if setup.scaler is not None:
                    setup.scaler.unscale_(setup.optimizer)
                torch.nn.utils.clip_grad_norm_(setup.trainable, cfg.grad_clip_norm)
            if setup.scaler is not None:
                setup.scaler.step(setup.optimizer)
                setup.scaler.update()
            else:
                setup.optimizer.step()
        setup.optimizer.zero_grad(set_to_none=True)
        self.state.global_step += 1
        if self.step_scheduler:
            setup.scheduler.step()

    def end_epoch(self, elapsed: float) -> bool:
        """Evaluate, record the row, step epoch schedulers, checkpoint; True when saved."""
        setup, state, cfg = self.setup, self.state, self.setup.config
        row: dict[str, float] = {
            "epoch": state.epoch + 1,
            "step": state.global_step,
            "train/loss": self.meter.mean(),
        }
        if cfg.nan_policy == "skip":
            row["train/skipped"] = state.skipped
        if self.val is not None:
            scores = run_eval(
                setup.module,
                self.val,
                batch_size=cfg.eval_batch_size or setup.batch_size,
                loss_fn=setup.loss_fn,
                metrics=setup.metrics,
                task=setup.task,
                forward=setup.forward,
                device=setup.device,
                precision="fp32" if cfg.precision == "fp16" else cfg.precision,
                sharded=setup.world > 1,
            )
            row.update({f"val/{k}": v for k, v in scores.items()})
        row["lr"] = float(setup.optimizer.param_groups[0]["lr"])
        value = row[setup.monitor]
        improved = self._monitor(value)
        # The stop rank 0 decided is the one every rank follows.
        state.stopped_early = broadcast_object(state.stopped_early)
        if setup.scheduler is not None and setup.plateau:
            setup.scheduler.step(value)
        elif setup.scheduler is not None and not self.step_scheduler:
            setup.scheduler.step()
        row["time"] = round(elapsed, 3)
        state.history.append(row)
        if self.metrics_file is not None:
            with self.metrics_file.open("a", encoding="utf-8") as fh:
                fh.write(jsonl_line(row))
        self.progress.end_epoch(row)
        call(self.callbacks, "on_epoch_end", row)
        state.epoch += 1
        state.position, state.order, state.aug_state = 0, None, None
        state.loss_total, state.loss_count, state.skipped = 0.0, 0, 0
        best = improved and cfg.checkpoint.save_best
        final = state.epoch >= cfg.epochs or state.stopped_early or self._max_hit()
        due = final or self.saver.due_epoch(state.epoch)
        if best or due:
            return self.saver.save(state, best=best, due=due)
        return False

    def _monitor(self, value: float) -> bool:
        """Update best value and early stopping; True on a new (finite) best."""
        state, es = self.state, self.setup.config.early_stopping
        delta = es.min_delta if es is not None else 0.0
        improved = math.isfinite(value) and (
            state.best is None
            or (
                value < state.best - delta
                if self.setup.mode == "min"
                else value > state.best + delta
            )
        )
        if improved:
            state.best, state.best_epoch, state.bad_epochs = value, state.epoch + 1, 0
        else:
            state.bad_epochs += 1
        if es is not None and state.bad_epochs >= es.patience:
            state.stopped_early = True
            log.info(
                "early stopping: %s has not improved for %d epochs (best %s at epoch %s)",
                self.setup.monitor,
                state.bad_epochs,
                state.best,
                state.best_epoch,
            )
        return improved


def _start(
    setup: Setup, run_dir: Path | None, resume: bool, settings: FitSettings, writer: bool
) -> tuple[TrainState, bool]:
    """A fresh state (seeded), or the state of the newest valid checkpoint when resuming."""
    if run_dir is None:
        if resume:
            raise TrainingError("resume needs a run directory (run_dir) to read checkpoints from")
        seed_everything(setup.seed)
        return TrainState(), False
    root = RunDir(run_dir).checkpoints
    if resume and writer:
        repair(root, best=setup.config.checkpoint.save_best)
    ckpt = _load_for_resume(root, writer) if resume else None
    if ckpt is not None and writer:
        repair(root, best=setup.config.checkpoint.save_best)  # a corrupt one set aside
    if ckpt is None:
        if not resume and find_checkpoints(root):
            raise TrainingError(
                f"{run_dir} already holds checkpoints of a run; resume it (--resume) or use a "
                "new run directory"
            )
        if resume:
            log.warning("no checkpoint in %s: starting from the beginning", root)
        if writer:
            run_dir.mkdir(parents=True, exist_ok=True)
            rewrite_jsonl(RunDir(run_dir).metrics, [])
        seed_everything(setup.seed)
        return TrainState(), False
    packed = unflatten(ckpt.state, ckpt.tensors)
    if settings.allow_changes:
        log.info("resuming with changed spec fields (allowed): %s", ckpt.path)
    else:
        check_compat(packed.get("compat", {}), dict(settings.compat))
    try:
        setup.module.load_state_dict(ckpt.model)
    except RuntimeError as exc:
        raise TrainingError(
            f"checkpoint {ckpt.path} does not fit the model: {exc}; resume with the model the "
            "run was started with"
        ) from None
    state = unpack_state(packed, setup.components(), rank())
    _check_world(state, setup, ckpt.path)
    _check_order(state, setup)
    if writer:
        rewrite_jsonl(RunDir(run_dir).metrics, state.history)
    log.info(
        "resuming from %s: epoch %d, batch %d, step %d",
        ckpt.path,
        state.epoch + 1,
        state.position,
        state.global_step,
    )
    return state, True


def _load_for_resume(root: Path, writer: bool) -> Checkpoint | None:
    """The newest valid checkpoint; in data-parallel training the one rank 0 picked, read by
    every rank (so the run directory must be visible to all of them)."""
    if world_size() == 1:
        return load_latest(root, set_aside=writer)
    ckpt = load_latest(root, set_aside=True) if writer else None
    path = broadcast_object(None if ckpt is None else str(ckpt.path))
    if writer or path is None:
        return ckpt
    if not Path(path).is_dir():
        raise TrainingError(
            f"rank {rank()} cannot read checkpoint {path}: resuming a run on several machines "
            "needs its run directory on a file system all of them share"
        )
    return load_checkpoint(Path(path))


def _check_world(state: TrainState, setup: Setup, path: Path) -> None:
    """A resume may change the number of processes only while the global batch stays the
    same (then the batches, and the position in the epoch, mean the same samples)."""
    old_world, old_batch = state.world_size, state.global_batch
    new_batch = setup.batch_size * setup.world
    if old_batch and old_batch != new_batch:
        raise TrainingError(
            f"cannot resume from {path}: it was trained by {old_world} process(es) with a "
            f"global batch of {old_batch} samples; {setup.world} process(es) make a global batch "
            f"of {new_batch}. Resume with --nproc {old_world}, or use "
            "train.batch_size_scope: global, which keeps the global batch fixed"
        )
    if old_world != setup.world:
        log.info(
            "resuming a run of %d process(es) on %d (the global batch of %d is unchanged)",
            old_world,
            setup.world,
            new_batch,
        )
    state.world_size, state.global_batch = setup.world, new_batch


def _check_order(state: TrainState, setup: Setup) -> None:
    """Checkpoints of data-parallel runs written before the state held the whole epoch's order
    hold rank 0's share of it; the order is a function of (seed, epoch), so derive it again."""
    if state.order is not None and len(state.order) != setup.sampler.size:
        log.info("the checkpoint holds one process's share of the epoch's order: recomputed")
        state.order = setup.sampler.permutation(state.epoch)


def _reporting(
    callbacks: Sequence[Callback], forward: AnyForward | None, writer: bool
) -> Sequence[Callback]:
    """The callbacks this rank calls: all on rank 0, none on the others (rank 0 reports)."""
    if world_size() == 1:
        return callbacks
    if forward is not None and not takes_module(forward):
        raise TrainingError(
            "data-parallel training calls forward on the DDP wrapper: pass forward(module, "
            "batch), not a forward bound to the model"
        )
    return callbacks if writer else ()


def fit(
    module: nn.Module,
    train: BatchSource,
    val: BatchSource | None,
    settings: FitSettings,
    *,
    run_dir: Path | None = None,
    resume: bool = False,
    stop_flag: Callable[[], bool] | None = None,
) -> FitResult:
    """Train ``module`` on ``train`` as ``settings`` say; evaluate on ``val`` every epoch.

    With ``run_dir``: ``metrics.jsonl`` and ``checkpoints/`` are written there, and ``resume``
    (or ``settings.config.resume``) continues from the newest valid checkpoint, mid-epoch
    included. ``stop_flag`` is polled after every step: when it returns True (or on
    SIGINT/SIGTERM) the run saves a checkpoint and returns with ``interrupted=True``.

    ``settings.unfreeze`` parameters are in the optimiser from the start (without gradients
    until their epoch), so resuming across the unfreeze point is exact.
    """
    config = settings.config
    # Under a launcher (torchrun, --nproc) this joins the process group, unless the caller
    # already has; with one process it does nothing.
    group = process_group(config.distributed, config.device)
    with group, deterministic(config.deterministic):
        writer = rank() == 0
        callbacks = _reporting(settings.callbacks, settings.forward, writer)
        setup = build_setup(module, train, has_val=val is not None, settings=settings, rank=rank())
        state, resumed = _start(setup, run_dir, resume or config.resume, settings, writer)
        state.world_size, state.global_batch = setup.world, setup.batch_size * setup.world
        context = FitContext(
            run_dir,
            resumed,
            state.epoch,
            config.epochs,
            state.global_step,
            list(state.history),
            state.tracker_run_id,
            setup.monitor,
        )
        call(callbacks, "on_fit_start", context)
        state.tracker_run_id = context.tracker_run_id
        saver = _Saver(run_dir, setup, dict(settings.compat), callbacks, writer)
        progress = make_progress(config.progress, rank=rank(), monitor=setup.monitor)
        metrics_file = RunDir(run_dir).metrics if run_dir is not None and writer else None
        loop = _Loop(setup, state, train, val, saver, progress, callbacks, metrics_file)
        try:
            with StopRequests(stop_flag) as stop:
                interrupted = loop.run(stop)
        except BaseException:
            saver.flush()  # a best checkpoint held in memory (best_at_end) is not lost
            raise
        finally:
            progress.close()
    result = FitResult(
        module=module,
        history=state.history,
        best_metric=state.best,
        best_epoch=state.best_epoch,
        monitor=setup.monitor,
        stopped_early=state.stopped_early,
        interrupted=interrupted,
        global_step=state.global_step,
        run_dir=run_dir,
        tracker_run_id=state.tracker_run_id,
    )
    call(callbacks, "on_fit_end", result)
    return result
