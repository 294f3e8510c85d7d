"""Micro-batching without HTTP: ``ModelService.predict_many`` and ``InferenceRunner``.

Requests answered together must get the answers each gets alone (the same labels; the same
probabilities up to float32 rounding of matrix products over a different number of rows), and
a request the transforms refuse fails alone."""

from __future__ import annotations

import asyncio
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
