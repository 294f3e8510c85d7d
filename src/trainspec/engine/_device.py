"""Device, precision and distributed rank: where and how the arithmetic runs."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import Tensor, nn

from trainspec.data import Batch
from trainspec.errors import SpecError
from trainspec.registry import positional_arity

__all__ = [
    "AnyForward",
    "Forward",
    "as_forward",
    "autocast",
    "default_forward",
    "deterministic",
    "rank",
    "resolve_device",
    "takes_module",
    "to_device",
    "world_size",
]

Forward = Callable[[nn.Module, Batch], Tensor]
# What callers may pass: ``forward(module, batch)`` or a bound ``forward(batch)``, such as
# ``TorchModel.forward_batch``.
AnyForward = Callable[[nn.Module, Batch], Tensor] | Callable[[Batch], Tensor]


def default_forward(module: nn.Module, batch: Batch) -> Tensor:
    """``module(batch["x"])``: the forward of a model with one input."""
    out: Tensor = module(batch["x"])
    return out


def as_forward(forward: AnyForward | None) -> Forward:
    """``forward`` as a ``(module, batch)`` callable; None is :func:`default_forward`."""
    if forward is None:
        return default_forward
    if _takes_module(forward):
        return forward  # type: ignore[return-value]
    batch_only: Callable[[Batch], Tensor] = forward  # type: ignore[assignment]

    def call(module: nn.Module, batch: Batch) -> Tensor:
        return batch_only(batch)

    return call


def takes_module(forward: AnyForward) -> bool:
    """Whether ``forward`` is ``forward(module, batch)`` (rather than bound to a model)."""
    return _takes_module(forward)


def _takes_module(fn: Callable[..., Any]) -> bool:
    arity = positional_arity(fn)
    return arity is None or arity >= 2


def resolve_device(name: str) -> torch.device:
    """``auto`` is CUDA, then MPS, then CPU; an unavailable device is a ``SpecError``."""
    path = ("train", "device")
    if name in ("auto", "cuda") and torch.cuda.is_available() and _launched_ranks() > 1:
        # One device per process on a node: the launcher's LOCAL_RANK picks it.
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SpecError.single(
            f"device {name!r} is not available: no CUDA device is visible",
            path=path,
            hint="use device: auto or cpu",
        )
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise SpecError.single(
            f"device {name!r} is not available: {torch.cuda.device_count()} CUDA device(s)",
            path=path,
        )
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise SpecError.single(
            f"device {name!r} is not available", path=path, hint="use device: auto or cpu"
        )
    return device


def _launched_ranks() -> int:
    try:
        return int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        return 1


def check_precision(precision: str, device: torch.device) -> None:
    if precision == "fp16" and device.type != "cuda":
        raise SpecError.single(
            f"precision fp16 needs a CUDA device (it trains with a gradient scaler); the device "
            f"is {device.type}",
            path=("train", "precision"),
            hint="use bf16 on CPU, or fp32",
        )


def autocast(precision: str, device: torch.device) -> contextlib.AbstractContextManager[Any]:
    """The autocast context for ``precision`` (a no-op for fp32)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def to_device(batch: Batch, device: torch.device) -> Batch:
    if device.type == "cpu":
        # Moving CPU tensors to the CPU is a no-op; skipping the calls keeps the hot loop lean.
        return batch
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


@contextlib.contextmanager
def deterministic(enabled: bool) -> Iterator[None]:
    """``torch.use_deterministic_algorithms`` (warn only) for the block, then as before."""
    if not enabled:
        yield
        return
    before = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    # cuBLAS needs a fixed workspace to be deterministic; only read when CUDA starts.
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=True)
    # In deterministic mode torch also fills every new uninitialised tensor with NaN, a check
    # against code that reads memory it never wrote; correct code gives the same values
    # without it, and on the CPU the fills were 5 % of a 1-D CNN's step (bench_engine).
    fill = torch.utils.deterministic.fill_uninitialized_memory  # type: ignore[attr-defined]
    torch.utils.deterministic.fill_uninitialized_memory = False  # type: ignore[attr-defined]
    try:
        yield
    finally:
        torch.utils.deterministic.fill_uninitialized_memory = fill  # type: ignore[attr-defined]
        torch.use_deterministic_algorithms(before, warn_only=warn_only)


def rank() -> int:
    """This process's rank in a ``torch.distributed`` group (0 when not distributed)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return int(torch.distributed.get_rank())
    return 0


def world_size() -> int:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return int(torch.distributed.get_world_size())
    return 1
