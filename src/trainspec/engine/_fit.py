"""``fit``: the training loop, top to bottom.

One epoch: the sampler's permutation for ``(seed, epoch)``, batches from the source starting at
the saved position, forward, loss, backward, an optimiser step every ``accumulate_steps``
batches; then evaluation, the monitored value, early stopping and checkpoints. Everything a
later step depends on is in the checkpoint, so a resumed run repeats an uninterrupted one.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Literal

import torch
from torch import Tensor, nn

from trainspec.data._batch import Batch, BatchSource
from trainspec.errors import TrainingError
from trainspec.spec._schema_finetune import ParamGroupSpec, UnfreezeSpec
from trainspec.spec._schema_train import TrainSpec

from ._callbacks import Callback, Progress, call, make_progress
from ._checkpoint import load_latest, prune, publish, write_checkpoint
from ._device import AnyForward, autocast, deterministic, rank, to_device
from ._evaluate import run_eval
from ._result import FitContext, FitResult
from ._rng import augmentation_generator, seed_everything
from ._serialize import flatten, unflatten
from ._setup import Setup, build_setup
from ._signals import StopRequests
from ._state import TrainState, check_compat, jsonl_line, pack_state, rewrite_jsonl, unpack_state

__all__ = ["fit"]

log = logging.getLogger(__name__)

METRICS_FILE = "metrics.jsonl"


class _LossMeter:
    """The epoch's training loss and the NaN policy.

    On the CPU each loss is read at once (cheap); on an accelerator losses are kept as tensors
    and read in groups, so the loop does not wait for the device every step. Either way the
    epoch mean is the same sequence of float additions.
    """

    def __init__(self, policy: str, device: torch.device, state: TrainState) -> None:
        self.policy = policy
        self.eager = device.type == "cpu" or policy == "skip"
        self.state = state
        self.pending: list[tuple[int, int, Tensor]] = []

    def add(self, loss: Tensor, epoch: int, step: int) -> bool:
        """Record ``loss``; False when the batch is to be skipped (non-finite, policy skip)."""
        if not self.eager:
            self.pending.append((epoch, step, loss.detach()))
            if len(self.pending) >= 64:
                self.flush()
            return True
        value = loss.item()
        if math.isfinite(value):
            self.state.loss_total += value
            self.state.loss_count += 1
            return True
        if self.policy == "fail":
            raise self._error(value, epoch, step)
        self.state.skipped += 1
        log.warning(
            "skipping a batch with non-finite loss %s at epoch %d, step %d",
            value,
            epoch + 1,
            step + 1,
        )
        return False

    def flush(self) -> None:
        if not self.pending:
            return
        values = torch.stack([v for _, _, v in self.pending]).double().cpu().tolist()
        for (epoch, step, _), value in zip(self.pending, values, strict=True):
            if not math.isfinite(value):
                self.pending.clear()
                raise self._error(value, epoch, step)
            self.state.loss_total += value
            self.state.loss_count += 1
        self.pending.clear()

    def mean(self) -> float:
        self.flush()
        count = self.state.loss_count
        return self.state.loss_total / count if count else math.nan

    @staticmethod
    def _error(value: float, epoch: int, step: int) -> TrainingError:
        return TrainingError(
            f"non-finite training loss {value} at epoch {epoch + 1}, step {step + 1} "
            "(train.nan_policy: fail); lower the learning rate, clip gradients "
            "(train.grad_clip_norm), check the data for NaN, or set train.nan_policy: skip"
        )


class _Saver:
    """Checkpoints of the run, on rank 0 only, when due."""

    def __init__(
        self,
        run_dir: Path | None,
        setup: Setup,
        compat: Mapping[str, str],
        callbacks: Sequence[Callback],
        writer: bool,
    ) -> None:
        self.enabled = run_dir is not None and writer
        self.root = (run_dir or Path()) / "checkpoints"
        self.spec = setup.config.checkpoint
        self.setup = setup
        self.compat = compat
        self.callbacks = callbacks

    def due_step(self, step: int) -> bool:
        every = self.spec.every_steps
        return self.enabled and every is not None and step % every == 0

    def due_epoch(self, epoch: int) -> bool:
        every = self.spec.every_epochs
        return self.enabled and every is not None and epoch % every == 0

    def save(self, state: TrainState, *, best: bool = False) -> None:
        if not self.enabled:
            return
        tensors: dict[str, Tensor] = {}
        tree = flatten(pack_state(state, self.setup.components(), self.compat), tensors)
        model = self.setup.module.state_dict()
        path = write_checkpoint(self.root, state.global_step, model, tensors, tree)
        publish(path, "last")
        if best:
            publish(path, "best")
        prune(self.root, self.spec.keep_last)
        call(self.callbacks, "on_checkpoint", path, best=best)


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
        self.s = setup
        self.st = state
        self.train = train
        self.val = val
        self.saver = saver
        self.progress = progress
        self.callbacks = callbacks
        self.metrics_file = metrics_file
        self.meter = _LossMeter(setup.config.nan_policy, setup.device, state)
        self.checked = False
        sched = setup.config.scheduler
        self.step_scheduler = (
            setup.scheduler is not None
            and not setup.plateau
            and sched is not None
            and sched.interval == "step"
        )

    def run(self, stop: StopRequests) -> bool:
        """Train until the last epoch, early stop, ``max_steps`` or a stop request.

        Returns True when interrupted.
        """
        while self._more():
            started = time.perf_counter()
            self._unfreeze()
            if self.st.order is None:
                self.st.order = self.s.sampler.order(self.st.epoch)
            outcome = self.train_epoch(stop)
            if outcome == "interrupted":
                self.meter.flush()
                self.saver.save(self.st)
                return True
            saved = self.end_epoch(time.perf_counter() - started)
            if stop and self._more():
                if not saved:
                    self.saver.save(self.st)
                return True
        return False

    def _unfreeze(self) -> None:
        """Let the parameters scheduled for this epoch (or earlier) learn. A function of the
        epoch alone, so a resumed run, mid-epoch included, trains the same parameters."""
        for item in self.s.unfreeze:
            if item.at_epoch > self.st.epoch + 1:
                continue
            flipped = [p for p in item.params if not p.requires_grad]
            for p in flipped:
                p.requires_grad_(True)
            if flipped:
                log.info(
                    "epoch %d: unfroze %d parameter tensors (%s, %d values)",
                    self.st.epoch + 1,
                    len(flipped),
                    item.label,
                    sum(p.numel() for p in flipped),
                )

    def _more(self) -> bool:
        st = self.st
        return st.epoch < self.s.config.epochs and not st.stopped_early and not self._max_hit()

    def _max_hit(self) -> bool:
        limit = self.s.config.max_steps
        return limit is not None and self.st.global_step >= limit

    def train_epoch(self, stop: StopRequests) -> Literal["done", "interrupted", "max_steps"]:
        s, st, cfg = self.s, self.st, self.s.config
        assert st.order is not None
        bs, acc, n = cfg.batch_size, cfg.accumulate_steps, s.batches_per_epoch
        gen = augmentation_generator(s.seed, st.epoch)
        if st.position and st.aug_state is not None:
            gen.set_state(st.aug_state)
        self.progress.start_epoch(st.epoch, cfg.epochs, n, st.position)
        s.module.train()
        batches = self.train.iter_batches(
            st.order[st.position * bs :], bs, drop_last=cfg.drop_last, generator=gen
        )
        in_group, contributed = 0, False
        for raw in batches:
            group = min(acc, n - (st.position - in_group))
            contributed |= self._forward_backward(to_device(raw, s.device), group)
            del raw  # let the allocator reuse this batch's memory for the next one
            st.position += 1
            in_group += 1
            if in_group < group:
                continue
            self._optimizer_step(contributed)
            in_group, contributed = 0, False
            self.progress.step(st.position, self.meter.mean)
            hit = self._max_hit()
            if stop or hit or self.saver.due_step(st.global_step):
                st.aug_state = gen.get_state()
                if stop:
                    return "interrupted"
                if hit:
                    return "max_steps"
                self.meter.flush()
                self.saver.save(st)
        if in_group:  # the source gave fewer batches than its length promised
            self._optimizer_step(contributed)
        return "done"

    def _forward_backward(self, batch: Batch, group: int) -> bool:
        s = self.s
        with autocast(s.config.precision, s.device):
            out = s.forward(s.module, batch)
        if not self.checked:
            s.loss_fn.check(out, batch, num_classes=s.num_classes)
            self.checked = True
        loss = s.loss_fn(out, batch)
        if not self.meter.add(loss, self.st.epoch, self.st.global_step):
            return False
        if group > 1:
            loss = loss / group
        if s.scaler is not None:
            s.scaler.scale(loss).backward()
        else:
            loss.backward()  # type: ignore[no-untyped-call]
        return True

    def _optimizer_step(self, contributed: bool) -> None:
        s, cfg = self.s, self.s.config
        if contributed:
            if cfg.grad_clip_norm is not None:
                if s.scaler is not None:
                    s.scaler.unscale_(s.optimizer)
                torch.nn.utils.clip_grad_norm_(s.trainable, cfg.grad_clip_norm)
            if s.scaler is not None:
                s.scaler.step(s.optimizer)
                s.scaler.update()
            else:
                s.optimizer.step()
        s.optimizer.zero_grad(set_to_none=True)
        self.st.global_step += 1
        if self.step_scheduler:
            s.scheduler.step()

    def end_epoch(self, elapsed: float) -> bool:
        """Evaluate, record the row, step epoch schedulers, checkpoint; True when saved."""
        s, st, cfg = self.s, self.st, self.s.config
        row: dict[str, float] = {
            "epoch": st.epoch + 1,
            "step": st.global_step,
            "train/loss": self.meter.mean(),
        }
        if cfg.nan_policy == "skip":
            row["train/skipped"] = st.skipped
        if self.val is not None:
            scores = run_eval(
                s.module,
                self.val,
                batch_size=cfg.eval_batch_size or cfg.batch_size,
                loss_fn=s.loss_fn,
                metrics=s.metrics,
                task=s.task,
                forward=s.forward,
                device=s.device,
                precision="fp32" if cfg.precision == "fp16" else cfg.precision,
            )
            row.update({f"val/{k}": v for k, v in scores.items()})
        row["lr"] = float(s.optimizer.param_groups[0]["lr"])
        value = row[s.monitor]
        improved = self._monitor(value)
        if s.scheduler is not None and s.plateau:
            s.scheduler.step(value)
        elif s.scheduler is not None and not self.step_scheduler:
            s.scheduler.step()
        row["time"] = round(elapsed, 3)
        st.history.append(row)
        if self.metrics_file is not None:
            with self.metrics_file.open("a", encoding="utf-8") as fh:
                fh.write(jsonl_line(row))
        self.progress.end_epoch(row)
        call(self.callbacks, "on_epoch_end", row)
        st.epoch += 1
        st.position, st.order, st.aug_state = 0, None, None
        st.loss_total, st.loss_count, st.skipped = 0.0, 0, 0
        best = improved and cfg.checkpoint.save_best
        final = st.epoch >= cfg.epochs or st.stopped_early or self._max_hit()
        if best or final or self.saver.due_epoch(st.epoch):
            self.saver.save(st, best=best)
            return True
        return False

    def _monitor(self, value: float) -> bool:
        """Update best value and early stopping; True on a new (finite) best."""
        st, es = self.st, self.s.config.early_stopping
        delta = es.min_delta if es is not None else 0.0
        improved = math.isfinite(value) and (
            st.best is None
            or (value < st.best - delta if self.s.mode == "min" else value > st.best + delta)
        )
        if improved:
            st.best, st.best_epoch, st.bad_epochs = value, st.epoch + 1, 0
        else:
            st.bad_epochs += 1
        if es is not None and st.bad_epochs >= es.patience:
            st.stopped_early = True
            log.info(
                "early stopping: %s has not improved for %d epochs (best %s at epoch %s)",
                self.s.monitor,
                st.bad_epochs,
                st.best,
                st.best_epoch,
            )
        return improved


def _start(
    setup: Setup, run_dir: Path | None, resume: bool, compat: Mapping[str, str], writer: bool
) -> tuple[TrainState, bool]:
    """A fresh state (seeded), or the state of the newest valid checkpoint when resuming."""
    if run_dir is None:
        if resume:
            raise TrainingError("resume needs a run directory (run_dir) to read checkpoints from")
        seed_everything(setup.seed)
        return TrainState(), False
    root = run_dir / "checkpoints"
    ckpt = load_latest(root, set_aside=writer) if resume else None
    if ckpt is None:
        if not resume and any(root.glob("ckpt-*")):
            raise TrainingError(
                f"{run_dir} already holds checkpoints of a run; resume it (--resume) or use a "
                "new run directory"
            )
        if resume:
            log.warning("no checkpoint in %s: starting from the beginning", root)
        if writer:
            run_dir.mkdir(parents=True, exist_ok=True)
            rewrite_jsonl(run_dir / METRICS_FILE, [])
        seed_everything(setup.seed)
        return TrainState(), False
    packed = unflatten(ckpt.state, ckpt.tensors)
    check_compat(packed.get("compat", {}), compat)
    try:
        setup.module.load_state_dict(ckpt.model)
    except RuntimeError as exc:
        raise TrainingError(
            f"checkpoint {ckpt.path} does not fit the model: {exc}; resume with the model the "
            "run was started with"
        ) from None
    state = unpack_state(packed, setup.components())
    if writer:
        rewrite_jsonl(run_dir / METRICS_FILE, state.history)
    log.info(
        "resuming from %s: epoch %d, batch %d, step %d",
        ckpt.path,
        state.epoch + 1,
        state.position,
        state.global_step,
    )
    return state, True


def fit(
    module: nn.Module,
    *,
    train: BatchSource,
    val: BatchSource | None,
    config: TrainSpec,
    task: Literal["classification", "regression"],
    num_classes: int | None,
    seed: int,
    forward: AnyForward | None = None,
    run_dir: Path | None = None,
    resume: bool = False,
    compat: Mapping[str, str] | None = None,
    callbacks: Sequence[Callback] = (),
    param_groups: Sequence[ParamGroupSpec] | None = None,
    unfreeze: Sequence[UnfreezeSpec] = (),
    allow_imports: Sequence[str] = (),
    stop_flag: Callable[[], bool] | None = None,
) -> FitResult:
    """Train ``module`` on ``train`` as ``config`` says; evaluate on ``val`` every epoch.

    With ``run_dir``: ``metrics.jsonl`` and ``checkpoints/`` are written there, and ``resume``
    (or ``config.resume``) continues from the newest valid checkpoint, mid-epoch included.
    ``compat`` holds hashes of the spec fields a resume must not change. ``stop_flag`` is
    polled after every step: when it returns True (or on SIGINT/SIGTERM) the run saves a
    checkpoint and returns with ``interrupted=True``. ``forward`` is ``forward(module, batch)``
    or a bound ``forward(batch)`` (default: ``module(batch["x"])``).

    ``param_groups`` set the learning rate and weight decay of the trainable parameters
    matching their patterns (first match wins). ``unfreeze`` entries make frozen parameters
    learn from the start of epoch ``at_epoch``; they are in the optimiser from the start
    (without gradients until then), so resuming across the unfreeze point is exact.
    """
    writer = rank() == 0
    compat = dict(compat or {})
    with deterministic(config.deterministic):
        setup = build_setup(
            module,
            train=train,
            has_val=val is not None,
            config=config,
            task=task,
            num_classes=num_classes,
            seed=seed,
            forward=forward,
            param_groups=param_groups,
            allow_imports=allow_imports,
            rank=rank(),
            unfreeze=unfreeze,
        )
        state, resumed = _start(setup, run_dir, resume or config.resume, compat, writer)
        context = FitContext(
            run_dir,
            resumed,
            state.epoch,
            config.epochs,
            state.global_step,
            list(state.history),
            state.tracker_run_id,
        )
        call(callbacks, "on_fit_start", context)
        state.tracker_run_id = context.tracker_run_id
        saver = _Saver(run_dir, setup, compat, callbacks, writer)
        progress = make_progress(config.progress, rank=rank())
        metrics_file = run_dir / METRICS_FILE if run_dir is not None and writer else None
        loop = _Loop(setup, state, train, val, saver, progress, callbacks, metrics_file)
        try:
            with StopRequests(stop_flag) as stop:
                interrupted = loop.run(stop)
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
