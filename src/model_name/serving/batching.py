"""Requests that arrive together are predicted together: one model call for many requests.

A prediction of a small model costs about the same for 1 row as for 100 (the call's overhead
dominates), so under concurrent load the server predicts the requests waiting in one call of
their rows put together, and gives each request its own rows' predictions. Nothing waits for a
batch to fill: the first request is predicted at once, and the ones arriving while it runs form
the next batch (latency when idle is unchanged; throughput under load grows with concurrency).

A batch whose prediction fails (one request's rows the model refuses) is predicted again one
request at a time, so each request gets its own answer or its own error. A batch only holds
requests for the same model version: a switch in the middle starts a new batch. A quick model
(its last call under `INLINE_SECONDS`) is called on the event loop, a slower one in the thread pool.

Example:
    batcher = Batcher(max_rows=1000)
    predictions = await batcher.predict(served, frame)   # in a route, on the event loop
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd  # type: ignore[import-untyped, unused-ignore]

    from model_name.serving.models import Served

_T = TypeVar("_T")

INLINE_SECONDS = 0.002
"""A model call whose last run took less than this runs on the event loop itself: a hop to the
thread pool costs more than that under load (the pool's thread waits for the GIL, up to Python's
5 ms switch interval). A slower model is called in the pool, so the loop keeps answering probes;
every call is timed, so a model that slows down moves back to the pool at once."""


@dataclass
class _Waiting:
    served: Served
    frame: pd.DataFrame | np.ndarray[Any, Any]  # a table, or the lean read's array
    answer: asyncio.Future[list[Any]]


class Batcher:
    """Predicts the requests waiting on the event loop in batches of at most `max_rows` rows.

    Args:
        max_rows: the most rows one model call gets; 1 predicts every request alone.
    """

    def __init__(self, max_rows: int) -> None:
        self.max_rows = max_rows
        self._waiting: list[_Waiting] = []
        self._running = False
        self._task: asyncio.Task[None] | None = None  # referenced: a task nobody holds may vanish
        self.calls = 0
        """How many model calls were made (fewer than requests when batches formed)."""
        self._inline = False  # the first call is timed in the pool

    async def predict(
        self, served: Served, frame: pd.DataFrame | np.ndarray[Any, Any]
    ) -> list[Any]:
        """Return the predictions of `frame`'s rows by `served`, batched with others waiting.

        Raises:
            Exception: what the model raised for these rows.
        """
        answer: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self._waiting.append(_Waiting(served, frame, answer))
        if not self._running:
            self._running = True
            self._task = asyncio.get_running_loop().create_task(self._drain())
        return await answer

    async def _drain(self) -> None:
        try:
            while self._waiting:
                await self._predict(self._take())
        finally:
            self._running = False

    def _take(self) -> list[_Waiting]:
        """The next batch: the oldest request, and those after it for the same version and kind."""
        first = self._waiting[0]
        batch: list[_Waiting] = []
        rows = 0
        for waiting in self._waiting:
            if waiting.served is not first.served or type(waiting.frame) is not type(first.frame):
                break
            if batch and rows + len(waiting.frame) > self.max_rows:
                break
            batch.append(waiting)
            rows += len(waiting.frame)
        del self._waiting[: len(batch)]
        return batch

    async def _call(self, function: Callable[..., _T], *args: Any) -> _T:
        """Run a model call on the event loop if the last one was quick, else in the pool."""
        from starlette.concurrency import run_in_threadpool

        self.calls += 1
        if self._inline:
            started = time.perf_counter()
            try:
                return function(*args)
            finally:
                self._inline = time.perf_counter() - started < INLINE_SECONDS
        result, seconds = await run_in_threadpool(_timed, function, *args)
        self._inline = seconds < INLINE_SECONDS
        return result

    async def _predict(self, batch: list[_Waiting]) -> None:
        served = batch[0].served
        if len(batch) > 1:
            try:
                predictions = await self._call(_predict_together, served, batch)
            except Exception:  # one request's rows spoil the batch: each on its own below
                predictions = None
            if predictions is not None:
                for waiting, answer in zip(batch, predictions, strict=True):
                    _settle(waiting, result=answer)
                return
        for waiting in batch:
            try:
                _settle(waiting, result=await self._call(served.predict, waiting.frame))
            except Exception as error:
                _settle(waiting, error=error)


def _timed(function: Callable[..., _T], *args: Any) -> tuple[_T, float]:
    """Call a function; return its result and how long it took, in seconds."""
    started = time.perf_counter()
    return function(*args), time.perf_counter() - started


def _predict_together(served: Served, batch: list[_Waiting]) -> list[list[Any]] | None:
    """Predict the batch's rows in one call and split the predictions; None if they don't fit."""
    import numpy as np
    import pandas as pd

    frames = [waiting.frame for waiting in batch]
    if isinstance(frames[0], pd.DataFrame):
        predictions = served.predict(pd.concat(frames, ignore_index=True))
    else:
        predictions = served.predict(np.concatenate(frames))
    if len(predictions) != sum(len(frame) for frame in frames):
        return None  # not one prediction a row: the requests are predicted one by one
    parts, start = [], 0
    for frame in frames:
        parts.append(predictions[start : start + len(frame)])
        start += len(frame)
    return parts


def _settle(
    waiting: _Waiting, *, result: list[Any] | None = None, error: Exception | None = None
) -> None:
    if waiting.answer.done():  # the client went away and its request was cancelled
        return
    if error is not None:
        waiting.answer.set_exception(error)
    else:
        waiting.answer.set_result(result if result is not None else [])
