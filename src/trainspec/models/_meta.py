"""Models built for checking only: on the meta device, where parameters have shapes and no
storage, so a checked model of any size costs no memory and no initialisation time, and
probe batches still carry shapes through every block.

A user's module may need real values while it is built (``from_pretrained`` loading weights,
``.item()`` or ``.numpy()`` in ``__init__``, a data-dependent ``forward``); such a build is
repeated on the CPU, and the reason is returned so that the caller can say so.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

import torch

__all__ = ["build_on_meta"]

log = logging.getLogger(__name__)
T = TypeVar("T")


def build_on_meta(build: Callable[[], T]) -> tuple[T, str | None]:
    """``build()`` with the meta device as the default device; when that raises, ``build()``
    again on the CPU (whose error, if it fails too, is the one raised). Returns the result and
    None, or the result and why the meta build failed."""
    try:
        with torch.device("meta"):
            return build(), None
    except Exception as exc:  # any failure on meta: the CPU build tells a real error apart
        first = str(exc).strip().splitlines()
        reason = f"{type(exc).__name__}: {first[0] if first else ''}".strip()
    with torch.device("cpu"):
        built = build()
    log.debug("the meta-device build failed (%s); built on the CPU", reason)
    return built, reason
