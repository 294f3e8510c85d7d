"""Micro-batching without HTTP: ``ModelService.predict_many`` and ``InferenceRunner``.

Requests answered together must get the answers each gets alone (the same labels; the same
probabilities up to float32 rounding of matrix products over a different number of rows), and
a request the transforms refuse fails alone."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from trainspec.inference import ModelService, ServeOptions
from trainspec.inference._batching import InferenceRunner
from trainspec.inference._schema import RequestShapeError, request_model, to_inputs
from trainspec.inference._service import Request, default_threads


@pytest.fixture(scope="module")
def service(digits_run: Path) -> ModelService:
    loaded = ModelService(digits_run, ServeOptions(threads=1))
    loaded.load()
    assert loaded.ready, loaded.error
    return loaded


def make_request(
    service: ModelService, frame: pd.DataFrame, start: int, n: int, bad: int | None = None
) -> Request:
    """Instances ``start:start+n`` of the digits as the server would read them; ``bad``: that
    instance gets a pixel the standardisation turns into infinity (a finite JSON number that
    passes the schema and fails in the transforms)."""
    rows = frame.drop(columns=["target"]).iloc[start : start + n].to_dict(orient="records")
    if bad is not None:
        rows[bad]["pixel_1_0"] = 3.0e38  # training std of that pixel is ~0.1
    schema, _ = request_model(service.inputs, 1000)
    instances = list(schema.model_validate({"instances": rows}).instances)  # type: ignore[attr-defined]
    inputs, offsets = to_inputs(service.inputs, instances)
    return Request(inputs, offsets, n)


def assert_same(got: dict[str, Any], alone: dict[str, Any]) -> None:
    assert got["predictions"] == alone["predictions"]
    assert got["classes"] == alone["classes"]
    np.testing.assert_allclose(got["probabilities"], alone["probabilities"], rtol=0, atol=1e-6)


def test_a_batch_answers_each_request_as_alone_and_a_bad_one_fails_alone(
    service: ModelService, digits_frame: pd.DataFrame
) -> None:
    sizes = [3, 1, 8, 0, 5, 2]
    requests, start = [], 0
    for n in sizes:
        requests.append(make_request(service, digits_frame, start, n))
        start += n
    requests.insert(2, make_request(service, digits_frame, 100, 4, bad=2))
    answers = service.predict_many(requests)
    bad = answers.pop(2)
    assert isinstance(bad, RequestShapeError)
    assert bad.loc[:3] == ("body", "instances", 2)  # its own instance index, not the batch's
    del requests[2]
    for request, answer in zip(requests, answers, strict=True):
        assert not isinstance(answer, Exception), answer
        assert len(answer["predictions"]) == request.n
        assert_same(answer, service.predict(request.inputs, request.offsets, request.n))


def test_requests_queued_while_the_model_is_busy_share_one_forward_pass(
    service: ModelService, digits_frame: pd.DataFrame
) -> None:
    requests = [make_request(service, digits_frame, 8 * k, 8) for k in range(10)]
    passes: list[tuple[int, int]] = []

    async def concurrently(runner: InferenceRunner, batch: list[Request]) -> list[Any]:
        try:
            return await asyncio.gather(*(runner.predict(r) for r in batch))
        finally:
            runner.close()

    # max_wait_ms 0: the first request runs at once; the nine that queued meanwhile run next,
    # together, in batches of at most 32 rows (4 requests).
    def record(requests: int, instances: int) -> None:
        passes.append((requests, instances))

    runner = InferenceRunner(service, max_rows=32, max_wait_ms=0, on_pass=record)
    answers = asyncio.run(concurrently(runner, requests))
    assert passes == [(1, 8), (4, 32), (4, 32), (1, 8)]
    for request, answer in zip(requests, answers, strict=True):
        assert_same(answer, service.predict(request.inputs, request.offsets, request.n))

    # A wait lets the first request be joined by the others: one pass.
    passes.clear()
    runner = InferenceRunner(service, max_rows=1000, max_wait_ms=200, on_pass=record)
    asyncio.run(concurrently(runner, requests))
    assert passes == [(10, 80)]

    # Off: every request runs alone.
    passes.clear()
    runner = InferenceRunner(service, max_rows=0, on_pass=record)
    asyncio.run(concurrently(runner, requests))
    assert passes == [(1, 8)] * 10


def test_a_bad_request_in_a_queued_batch_gets_its_error_the_others_their_answers(
    service: ModelService, digits_frame: pd.DataFrame
) -> None:
    good = [make_request(service, digits_frame, 8 * k, 8) for k in range(4)]
    bad = make_request(service, digits_frame, 50, 3, bad=1)

    async def main() -> list[Any]:
        runner = InferenceRunner(service, max_rows=1000, max_wait_ms=200)
        try:
            calls = [runner.predict(r) for r in [good[0], good[1], bad, good[2], good[3]]]
            return await asyncio.gather(*calls, return_exceptions=True)
        finally:
            runner.close()

    answers = asyncio.run(main())
    assert isinstance(answers[2], RequestShapeError)
    assert answers[2].loc[:3] == ("body", "instances", 1)
    for request, answer in zip(good, answers[:2] + answers[3:], strict=True):
        assert_same(answer, service.predict(request.inputs, request.offsets, request.n))


def test_thread_defaults_share_the_cores_among_workers_and_their_event_loops(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import trainspec.inference._service as service_module

    monkeypatch.setattr(service_module, "available_cores", lambda: 16)
    assert [default_threads(w) for w in (1, 2, 4, 32)] == [15, 7, 3, 1]


def test_the_workers_socket_gets_connections_with_nagle_off() -> None:
    """Connections to the socket ``serve --workers`` shares have TCP_NODELAY set by asyncio, so
    an answer's head and body are not held back waiting for the client's delayed ACK."""
    import socket

    from trainspec.inference._app import _listen

    async def accepted_nodelay() -> int:
        listener = _listen("127.0.0.1", 0)
        listener.listen()
        flags: list[int] = []

        def on_connect(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            conn = writer.get_extra_info("socket")
            flags.append(conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(on_connect, sock=listener)
        port = listener.getsockname()[1]
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        while not flags:
            await asyncio.sleep(0.01)
        writer.close()
        server.close()
        return flags[0]

    assert asyncio.run(accepted_nodelay()) != 0


def test_a_batch_of_good_requests_goes_through_the_transforms_once(
    service: ModelService, digits_frame: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    requests = [make_request(service, digits_frame, 8 * k, n) for k, n in enumerate([8, 3, 5])]
    alone = [service.predict(r.inputs, r.offsets, r.n) for r in requests]
    assert service.run is not None
    transforms = service.run.transforms
    calls: list[int] = []
    apply = transforms.apply

    def counted(inputs: Any, **kwargs: Any) -> Any:
        calls.append(len(next(iter(inputs.values()))))
        return apply(inputs, **kwargs)

    monkeypatch.setattr(transforms, "apply", counted)
    answers = service.predict_many(requests)
    assert calls == [16]  # the three requests' rows, mapped together
    for answer, expected in zip(answers, alone, strict=True):
        assert not isinstance(answer, Exception), answer
        assert_same(answer, expected)
    # one bad request: each is mapped alone, and only the bad one fails
    calls.clear()
    bad = make_request(service, digits_frame, 50, 3, bad=1)
    answers = service.predict_many([requests[0], bad, requests[1]])
    assert calls == [14, 8, 3, 3]  # together (refused), then each alone
    assert isinstance(answers[1], RequestShapeError) and answers[1].loc[:3] == (
        "body",
        "instances",
        1,
    )
    assert_same(answers[0], alone[0])  # type: ignore[arg-type]
    assert_same(answers[2], alone[1])  # type: ignore[arg-type]


def test_a_free_model_waits_for_requests_still_being_read_but_not_for_long(
    service: ModelService, digits_frame: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    """max_wait_ms 0: a request runs at once, unless other requests are being read (between
    ``receiving`` and ``submit``): then it waits for them, ARRIVAL_WAIT_S at most."""
    import trainspec.inference._batching as batching

    requests = [make_request(service, digits_frame, 8 * k, 8) for k in range(3)]
    passes: list[tuple[int, int]] = []

    async def read_then_submit(runner: InferenceRunner, request: Request, read: Any) -> Any:
        with runner.receiving():
            await read.wait()  # the body being read and validated
            pending = runner.submit(request)
        return await pending

    async def main(read_in_time: list[bool]) -> list[Any]:
        """Requests 1 and 2 are being read when request 0 is submitted; those read in time
        finish reading as soon as the loop is free, the others only after two waits."""
        runner = InferenceRunner(
            service, max_rows=1000, max_wait_ms=0, on_pass=lambda r, n: passes.append((r, n))
        )
        reads = [asyncio.Event() for _ in read_in_time]
        try:
            readers = [
                asyncio.ensure_future(read_then_submit(runner, r, e))
                for r, e in zip(requests[1:], reads, strict=True)
            ]
            await asyncio.sleep(0)  # both are being read now
            first = asyncio.ensure_future(runner.predict(requests[0]))
            await asyncio.sleep(0)
            for event, in_time in zip(reads, read_in_time, strict=True):
                if in_time:
                    event.set()
            if not all(read_in_time):
                await asyncio.sleep(2 * batching.ARRIVAL_WAIT_S)
            for event in reads:
                event.set()
            return await asyncio.gather(first, *readers)
        finally:
            runner.close()

    monkeypatch.setattr(batching, "ARRIVAL_WAIT_S", 1.0)
    answers = asyncio.run(main([True, True]))
    assert passes == [(3, 24)]  # one pass: the first request waited for the other two
    for request, answer in zip(requests, answers, strict=True):
        assert_same(answer, service.predict(request.inputs, request.offsets, request.n))

    # A request still being read after the wait: the others run without it.
    monkeypatch.setattr(batching, "ARRIVAL_WAIT_S", 0.05)
    passes.clear()
    asyncio.run(main([True, False]))
    assert passes == [(2, 16), (1, 8)]

    # Nothing being read: a request runs at once, alone.
    async def alone() -> list[Any]:
        runner = InferenceRunner(
            service, max_rows=1000, max_wait_ms=0, on_pass=lambda r, n: passes.append((r, n))
        )
        try:
            return await asyncio.gather(runner.predict(requests[0]))
        finally:
            runner.close()

    passes.clear()
    monkeypatch.setattr(batching, "ARRIVAL_WAIT_S", 60.0)
    start = time.monotonic()
    asyncio.run(alone())
    assert passes == [(1, 8)] and time.monotonic() - start < 60.0  # no wait at all


def test_requests_read_in_one_round_of_the_event_loop_share_a_pass(
    service: ModelService, digits_frame: pd.DataFrame
) -> None:
    """Requests that reached the server together (read without waiting, in one round of the
    loop, as bodies already received are) run in one pass, though nothing was being read
    when the first of them was submitted."""
    requests = [make_request(service, digits_frame, 8 * k, 8) for k in range(3)]
    passes: list[tuple[int, int]] = []

    async def main() -> list[Any]:
        runner = InferenceRunner(
            service, max_rows=1000, max_wait_ms=0, on_pass=lambda r, n: passes.append((r, n))
        )

        async def read(request: Request) -> Any:
            with runner.receiving():
                pending = runner.submit(request)
            return await pending

        try:
            return await asyncio.gather(*(read(r) for r in requests))
        finally:
            runner.close()

    answers = asyncio.run(main())
    assert passes == [(3, 24)]
    for request, answer in zip(requests, answers, strict=True):
        assert_same(answer, service.predict(request.inputs, request.offsets, request.n))
