"""SIGINT and SIGTERM during training: finish the step, save, stop."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType, TracebackType
from typing import Any

__all__ = ["StopRequests"]

log = logging.getLogger(__name__)

_SIGNALS = tuple(
    s for s in (getattr(signal, "SIGINT", None), getattr(signal, "SIGTERM", None)) if s is not None
)


class StopRequests:
    """A context manager that turns SIGINT/SIGTERM into a flag the loop polls between steps.

    Handlers are installed only in the main thread and the previous ones are restored on exit.
    A second SIGINT while stopping raises ``KeyboardInterrupt`` as usual. ``external`` is
    polled too (a sweep's pruner, a server's cancel button).
    """

    def __init__(self, external: Callable[[], bool] | None = None) -> None:
        self.requested: int | None = None
        self._external = external
        self._previous: dict[int, Any] = {}

    def __bool__(self) -> bool:
        return self.requested is not None or bool(self._external and self._external())

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = signum
        log.warning(
            "received %s: finishing the current step and saving a checkpoint",
            signal.Signals(signum).name,
        )

    def __enter__(self) -> StopRequests:
        if threading.current_thread() is threading.main_thread():
            for sig in _SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()
