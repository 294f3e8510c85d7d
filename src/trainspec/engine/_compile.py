"""``train.compile``: ``torch.compile`` where it works, plain eager PyTorch where it does not.

``torch.compile`` is lazy: an unsupported Python, a missing C++ compiler or Triton, or a model
it cannot trace shows up only when the first batch runs. Either way training goes on without
it, after one warning that says why, rather than ending the run.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import TypeVar

import torch
from torch import nn

__all__ = ["compile_module", "first_call"]

log = logging.getLogger(__name__)

T = TypeVar("T")

_ADVICE = "training continues without it (set train.compile: false to skip the attempt)"


def compile_module(module: nn.Module, backend: str | Callable[..., object] = "inductor") -> bool:
    """Compile ``module`` in place (its state_dict keys stay the same); False when this
    Python or platform has no ``torch.compile``."""
    import torch._dynamo

    # (a module attribute since torch 2.1; present wherever torch.compile is)
    supported: Callable[[], bool] = getattr(torch._dynamo, "is_dynamo_supported", lambda: True)
    if not supported():
        version = ".".join(map(str, sys.version_info[:3]))
        log.warning(
            "train.compile: torch.compile is not supported with Python %s and torch %s; %s",
            version,
            torch.__version__,
            _ADVICE,
        )
        return False
    module.compile(backend=backend)
    return True


def first_call(module: nn.Module, call: Callable[[], T]) -> T:
    """``call()``, the first forward of a compiled ``module``; when compiling fails, the
    module goes back to eager mode and ``call()`` runs again."""
    from torch._dynamo.exc import TorchDynamoException

    try:
        return call()
    except TorchDynamoException as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        log.warning("train.compile: torch.compile failed (%s); %s", reason[:300], _ADVICE)
        module._compiled_call_impl = None  # what Module.compile set
        torch._dynamo.reset()
        return call()
