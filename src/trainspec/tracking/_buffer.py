"""Metric values held in memory until a batch is worth writing."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import NamedTuple

from trainspec.tracking._base import TrackingError
from trainspec.tracking._params import clean_key

__all__ = ["MetricBuffer", "MetricPoint", "as_float", "check_step"]

log = logging.getLogger(__name__)

# Points kept while the store keeps failing; past this the oldest are dropped.
_MAX_PENDING = 100_000
# Longest wait, in seconds, between automatic retries of a failing store.
_MAX_BACKOFF = 300.0


class MetricPoint(NamedTuple):
    key: str
    value: float
    timestamp_ms: int
    step: int


class MetricBuffer:
    """Buffers metric points; ``due`` says when ``flush_every`` points or ``flush_seconds`` passed.

    ``floors`` hold, per key, the last step a resumed run already has in its store: points at or
    below it are skipped, so replaying the epochs after the last checkpoint logs nothing twice.
    """

    def __init__(
        self,
        *,
        flush_every: int,
        flush_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.flush_every = flush_every
        self.flush_seconds = flush_seconds
        self._clock = clock
        self._points: list[MetricPoint] = []
        self._floors: dict[str, int] = {}
        self._renamed: dict[str, str] = {}
        self._last_flush = clock()
        self._failures = 0
        self._hold_until = 0.0

    def __len__(self) -> int:
        return len(self._points)

    def set_floors(self, floors: Mapping[str, int]) -> None:
        self._floors = dict(floors)

    def add(self, metrics: Mapping[str, float], *, step: int) -> None:
        check_step(step)
        now_ms = int(time.time() * 1000)
        for raw_key, raw_value in metrics.items():
            key = self._key(raw_key)
            if step <= self._floors.get(key, -1):
                continue
            self._points.append(MetricPoint(key, as_float(raw_key, raw_value), now_ms, step))

    def due(self) -> bool:
        if not self._points or self._clock() < self._hold_until:
            return False
        waited = self._clock() - self._last_flush
        return len(self._points) >= self.flush_every or waited >= self.flush_seconds

    def take(self) -> list[MetricPoint]:
        points, self._points = self._points, []
        self._last_flush = self._clock()
        return points

    def written(self) -> None:
        """The last batch was stored: automatic writes resume their normal pace."""
        self._failures = 0
        self._hold_until = 0.0

    def put_back(self, points: list[MetricPoint]) -> None:
        """Return points a failed write did not store, ahead of newer ones.

        Automatic writes then wait (``flush_seconds``, doubling per failure, at most five
        minutes), so a dead server does not stall every training step with its retries.
        """
        self._points = points + self._points
        self._failures += 1
        backoff = min(self.flush_seconds * 2 ** (self._failures - 1), _MAX_BACKOFF)
        self._hold_until = self._clock() + backoff
        if len(self._points) > _MAX_PENDING:
            dropped = len(self._points) - _MAX_PENDING
            log.warning(
                "tracking store keeps failing: dropped the %d oldest metric values", dropped
            )
            self._points = self._points[dropped:]

    def _key(self, raw_key: str) -> str:
        key = self._renamed.get(raw_key)
        if key is None:
            key = clean_key(str(raw_key))
            if key != raw_key:
                log.warning(
                    "metric name %r is logged as %r (MLflow refuses its characters)", raw_key, key
                )
            self._renamed[raw_key] = key
        return key


def check_step(step: int) -> None:
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise TrackingError(
            f"a metric step is a non-negative int (an epoch or a global step); got {step!r}"
        )


def as_float(key: str, value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]  # numpy and 0-d torch scalars convert
    except (TypeError, ValueError):
        raise TrackingError(
            f"metric {key!r} must be a number; got {type(value).__name__} {value!r}: log "
            "a float (e.g. tensor.item())"
        ) from None
