"""Model calls off the event loop, with dynamic micro-batching.

Each server process runs its model on one dedicated thread (``trainspec-infer``): the event
loop only parses, validates and answers HTTP, so it keeps accepting requests while the model
works, and the model's own intra-op threads (``ServeOptions.threads``) use the cores. One
thread, not a pool, because concurrent forward passes would fight over those same intra-op
threads; concurrency comes from batching and from worker processes instead.

Micro-batching: a request for fewer than ``max_batch_rows`` instances joins a queue. When the
model is free the queue runs as one batch of up to ``max_batch_rows`` instances (a request is
never split), through ``ModelService.predict_many``: one forward pass, answers split back per
request, a bad request failing alone. A batch short of ``max_batch_rows`` waits at most
``max_wait_ms`` after its first request arrived for others to join; with 0 it runs as soon as
the model is free, so a lone client pays no wait and batches form from the requests that
queued while the previous batch ran. Whatever ``max_wait_ms``, a batch the model is free to
run also waits, up to ``ARRIVAL_WAIT_S``, while the server is reading other requests
(``receiving``: received, their bodies being read, validated and turned into arrays): on the
one core that the event loop and the model thread share through Python's GIL, running a
one-request batch then would only slow that reading down, and each batch costs two thread
hand-offs, so reading them first and running them together does the same work with fewer
passes. A lone client is never kept waiting: nothing else is being read. For the same reason
a request read by ``receiving`` is scheduled at the end of the event loop's current round, so
that requests that reached the server together (one wake-up of the loop) share a pass.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from trainspec.inference._service import ModelService, Request

__all__ = ["ARRIVAL_WAIT_S", "InferenceRunner"]

T = TypeVar("T")

# The longest a batch waits for requests the server is still reading (a few requests' reading,
# validation and array building on a loaded core).
ARRIVAL_WAIT_S = 0.002


@dataclass
class _Queued:
    request: Request
    future: asyncio.Future[dict[str, Any]]
    arrived: float = field(default_factory=time.monotonic)


class InferenceRunner:
    """Runs ``service``'s model calls on one thread; batches small concurrent requests."""

    def __init__(
        self,
        service: ModelService,
        *,
        max_rows: int | None = None,
        max_wait_ms: float | None = None,
        on_pass: Callable[[int, int], None] | None = None,
    ) -> None:
        """``max_rows`` and ``max_wait_ms`` default to the service's options; ``on_pass`` is
        told the requests and instances of each forward pass."""
        self.service = service
        self.on_pass = on_pass
        opts = service.options
        self.max_rows = opts.max_batch_rows if max_rows is None else max_rows
        self.max_wait = (opts.max_wait_ms if max_wait_ms is None else max_wait_ms) / 1000.0
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="trainspec-infer")
        self._queue: list[_Queued] = []
        self._arriving = 0  # requests being read (``receiving``), not yet queued or refused
        self._busy = False
        self._timer: asyncio.TimerHandle | None = None

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on the model's thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, *args)

    async def predict(self, request: Request) -> dict[str, Any]:
        """The answer to ``request`` (its exception raised here), batched with others when
        micro-batching is on and the request is small enough to share a batch."""
        pending = self.submit(request)
        self._schedule(asyncio.get_running_loop())
        return await pending

    @contextlib.contextmanager
    def receiving(self) -> Iterator[None]:
        """Around the reading of a request, up to its ``submit``: while requests are being
        read, a batch the model is free to run waits for them (``ARRIVAL_WAIT_S`` at most);
        the batch is looked at again once the loop's current round is done."""
        self._arriving += 1
        try:
            yield
        finally:
            self._arriving -= 1
            # At the end of the loop's round, not now: requests received with this one (their
            # tasks already queued in this round) are read and queued first, and join it.
            loop = asyncio.get_running_loop()
            loop.call_soon(self._schedule, loop)

    def submit(self, request: Request) -> Awaitable[dict[str, Any]]:
        """Queue ``request`` and return its answer to await. Queued requests run when the
        model is free and the batch is ready (checked by ``predict`` at once, by
        ``receiving`` as its block ends); a request too large to share a batch, or with
        batching off, runs alone."""
        if request.n == 0 or self.max_rows <= 0 or request.n >= self.max_rows:
            return self._alone(request)
        queued = _Queued(request, asyncio.get_running_loop().create_future())
        self._queue.append(queued)
        return queued.future

    async def _alone(self, request: Request) -> dict[str, Any]:
        if request.n == 0:
            return self.service.predict(request.inputs, request.offsets, 0)  # no model call
        answer = await self.call(self.service.predict, request.inputs, request.offsets, request.n)
        self._count(1, request.n)
        return answer

    def _count(self, requests: int, instances: int) -> None:
        if self.on_pass is not None and instances > 0:
            self.on_pass(requests, instances)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    def _schedule(self, loop: asyncio.AbstractEventLoop) -> None:
        """Run a batch now if the model is free and the batch is full or has waited long
        enough; otherwise make sure a timer will look again."""
        if self._busy or not self._queue:
            return
        rows = sum(q.request.n for q in self._queue)
        waited = time.monotonic() - self._queue[0].arrived
        wait = max(self.max_wait, ARRIVAL_WAIT_S) if self._arriving else self.max_wait
        if rows >= self.max_rows or waited >= wait:
            self._run(loop)
        elif self._timer is None:
            self._timer = loop.call_later(wait - waited, self._on_timer, loop)

    def _on_timer(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        self._schedule(loop)

    def _take(self) -> list[_Queued]:
        """The oldest requests that fit in one batch (always at least one)."""
        batch: list[_Queued] = []
        rows = 0
        while self._queue and (not batch or rows + self._queue[0].request.n <= self.max_rows):
            queued = self._queue.pop(0)
            batch.append(queued)
            rows += queued.request.n
        return batch

    def _run(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch = self._take()
        self._busy = True
        requests = [q.request for q in batch]
        done = loop.run_in_executor(self._executor, self.service.predict_many, requests)

        def finish(task: asyncio.Future[list[dict[str, Any] | Exception]]) -> None:
            self._busy = False
            failed = task.exception() if not task.cancelled() else asyncio.CancelledError()
            if failed is None:
                answered = [r for r, a in zip(requests, task.result(), strict=True)
                            if not isinstance(a, Exception)]  # fmt: skip
                self._count(len(answered), sum(r.n for r in answered))
            for k, queued in enumerate(batch):
                if queued.future.done():  # the client went away
                    continue
                answer = failed if failed is not None else task.result()[k]
                if isinstance(answer, BaseException):
                    queued.future.set_exception(answer)
                else:
                    queued.future.set_result(answer)
            self._schedule(loop)

        done.add_done_callback(finish)
