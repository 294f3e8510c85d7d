"""MetricBuffer: when a batch is due, and what a resumed run skips."""

from __future__ import annotations

import pytest

from trainspec.tracking import TrackingError
from trainspec.tracking._buffer import MetricBuffer


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_batch_is_due_by_count_or_by_time() -> None:
    clock = Clock()
    buffer = MetricBuffer(flush_every=4, flush_seconds=10.0, clock=clock)
    assert not buffer.due()
    buffer.add({"a": 1.0, "b": 2.0}, step=0)
    assert not buffer.due()
    buffer.add({"a": 1.0, "b": 2.0}, step=1)
    assert buffer.due() and len(buffer.take()) == 4
    buffer.add({"a": 1.0}, step=2)
    clock.now = 9.9
    assert not buffer.due()
    clock.now = 10.0
    assert buffer.due()


def test_floors_skip_steps_a_resumed_run_already_has() -> None:
    buffer = MetricBuffer(flush_every=100, flush_seconds=10.0)
    buffer.set_floors({"loss": 4})
    for step in range(3, 7):
        buffer.add({"loss": float(step), "lr": 0.1}, step=step)
    points = buffer.take()
    assert [p.step for p in points if p.key == "loss"] == [5, 6]
    assert [p.step for p in points if p.key == "lr"] == [3, 4, 5, 6]


def test_values_and_steps_are_checked_and_numbers_converted() -> None:
    buffer = MetricBuffer(flush_every=100, flush_seconds=10.0)
    with pytest.raises(TrackingError, match="'acc' must be a number; got NoneType None"):
        buffer.add({"acc": None}, step=0)  # type: ignore[dict-item]
    with pytest.raises(TrackingError, match=r"non-negative int.*got 1\.5"):
        buffer.add({"acc": 1.0}, step=1.5)  # type: ignore[arg-type]
    buffer.add({"acc": True, "top@1": 3}, step=0)
    assert [(p.key, p.value) for p in buffer.take()] == [("acc", 1.0), ("top_1", 3.0)]


def test_points_put_back_after_a_failed_write_come_first() -> None:
    buffer = MetricBuffer(flush_every=100, flush_seconds=10.0)
    buffer.add({"a": 0.0}, step=0)
    failed = buffer.take()
    buffer.add({"a": 1.0}, step=1)
    buffer.put_back(failed)
    assert [p.step for p in buffer.take()] == [0, 1]


def test_a_failing_store_is_retried_with_growing_pauses() -> None:
    clock = Clock()
    buffer = MetricBuffer(flush_every=1, flush_seconds=2.0, clock=clock)
    buffer.add({"a": 0.0}, step=0)
    buffer.put_back(buffer.take())  # first failure: wait 2 s
    assert not buffer.due()
    clock.now = 2.0
    assert buffer.due()
    buffer.put_back(buffer.take())  # second failure: wait 4 s
    clock.now = 5.9
    assert not buffer.due()
    clock.now = 6.0
    assert buffer.due()
    buffer.take()
    buffer.written()
    buffer.add({"a": 1.0}, step=1)
    assert buffer.due()
