"""Concurrent calls answered in one model call: the event loop's turn is the batch window.

A model call has a fixed cost (featurizing, the sparse product, ~0.3 ms) far larger than
one sentence's share, so 8 clients each sending one sentence cost almost 8 model calls
where one would do. :class:`Coalescer` queues the small calls that reach the app and
answers all of them at the next turn of the event loop, with no timer: an idle server
answers a lone call at once, a busy one answers together whatever arrived while the
model was working. Each call is still routed, answered, logged and counted on its own
(:meth:`gramops.serving.service.Service.answer_calls`), and finishes on the model it was
given. Large calls are already batches; they go straight to the model.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from gramops.inference.requests import PredictRequest
from gramops.serving.service import Served, Service

SMALL_CALL = 16  # calls with at most this many sentences are coalesced
JOINT_LIMIT = 256  # sentences per joint model call at most


class Coalescer:
    """Queues small calls and answers them together on the event loop's next turn."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self._waiting: list[tuple[Sequence[PredictRequest], str | None, asyncio.Future]] = []
        self._scheduled = False

    async def answer(self, requests: Sequence[PredictRequest], request_id: str | None) -> Served:
        if len(requests) > SMALL_CALL:
            return self.service.answer(requests, request_id)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Served] = loop.create_future()
        self._waiting.append((requests, request_id, future))
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        self._scheduled = False
        waiting, self._waiting = self._waiting, []
        while waiting:
            size, count = 0, 0
            while count < len(waiting) and size + len(waiting[count][0]) <= JOINT_LIMIT:
                size += len(waiting[count][0])
                count += 1
            chunk, waiting = waiting[:count], waiting[count:]
            try:
                results: list[Served | Exception] = self.service.answer_calls(
                    [(requests, request_id) for requests, request_id, _ in chunk]
                )
            except Exception as exc:  # a lone call's failure: it is the only one waiting
                results = [exc] * len(chunk)
            for (_, _, future), result in zip(chunk, results, strict=True):
                if future.done():  # the client went away
                    continue
                if isinstance(result, Exception):
                    future.set_exception(result)
                else:
                    future.set_result(result)
