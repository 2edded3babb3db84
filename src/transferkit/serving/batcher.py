"""Request batching: inputs of requests that wait together are predicted in one call.

Every request puts its inputs (in chunks of at most ``max_batch``) on one :class:`asyncio.Queue`
and awaits a future. One worker task takes the first waiting chunk, then every further chunk
already queued while the batch stays within ``max_batch`` inputs, and runs the predictor on
the lot in a worker thread (:func:`asyncio.to_thread`), so the event loop keeps accepting
requests meanwhile. There is no timer: while one batch is predicted the next requests queue
up, and they form the next batch. A lone request is therefore answered at once, and under load
the batches grow by themselves up to ``max_batch``.

One worker, one batch at a time: onnxruntime already spreads one batch over the CPU's
threads, and two batches at once would only contend for them. If a batch fails, its chunks
are predicted one by one, so a bad input fails its own request and no other.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

log = logging.getLogger("transferkit.serving")


@dataclass
class _Job:
    inputs: list[Any]
    future: asyncio.Future = field(repr=False)


class Batcher:
    """Predicts the inputs of concurrent requests together, at most ``max_batch`` at a time.

    ``predict_proba`` maps a list of inputs to an (n, K) array of probabilities; it runs in a
    thread, one call at a time.
    """

    def __init__(self, predict_proba: Callable[[list[Any]], np.ndarray], max_batch: int) -> None:
        self.predict_proba = predict_proba
        self.max_batch = max_batch
        self.batches = 0  # how many predictor calls, and how many inputs they took (metrics)
        self.inputs = 0
        self._queue: asyncio.Queue[_Job] | None = None
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        self._task = asyncio.create_task(self._work(), name="transferkit-batcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._task = None

    async def predict(self, inputs: Sequence[Any]) -> np.ndarray:
        """The probabilities of ``inputs`` (n, K), predicted in the batches of the moment."""
        if self._queue is None:
            raise RuntimeError("Batcher.start() was not awaited")
        loop = asyncio.get_running_loop()
        jobs = []
        for i in range(0, len(inputs), self.max_batch):
            job = _Job(list(inputs[i : i + self.max_batch]), loop.create_future())
            jobs.append(job)
            self._queue.put_nowait(job)
        parts = await asyncio.gather(*(j.future for j in jobs))
        return np.concatenate(parts, axis=0)

    async def _work(self) -> None:
        assert self._queue is not None
        held: _Job | None = None  # a job that did not fit in the last batch: first of the next
        while True:
            first = held if held is not None else await self._queue.get()
            held, batch, n = None, [first], len(first.inputs)
            while not self._queue.empty():
                job = self._queue.get_nowait()
                if n + len(job.inputs) > self.max_batch:
                    held = job
                    break
                batch.append(job)
                n += len(job.inputs)
            batch = [j for j in batch if not j.future.done()]  # a client that went away
            if batch:
                await self._run(batch)

    async def _run(self, batch: list[_Job]) -> None:
        inputs = [x for job in batch for x in job.inputs]
        try:
            probs = await asyncio.to_thread(self.predict_proba, inputs)
        except Exception as e:  # noqa: BLE001 - one bad input must not fail its neighbours' requests
            if len(batch) == 1:
                _fail(batch[0], e)
            else:
                for job in batch:
                    await self._one(job)
            return
        self.batches += 1
        self.inputs += len(inputs)
        start = 0
        for job in batch:
            stop = start + len(job.inputs)
            if not job.future.done():
                job.future.set_result(probs[start:stop])
            start = stop

    async def _one(self, job: _Job) -> None:
        try:
            probs = await asyncio.to_thread(self.predict_proba, job.inputs)
        except Exception as e:  # noqa: BLE001 - handed to the request that sent the input
            _fail(job, e)
            return
        self.batches += 1
        self.inputs += len(job.inputs)
        if not job.future.done():
            job.future.set_result(probs)


def _fail(job: _Job, error: Exception) -> None:
    """Hand ``error`` to the request waiting for ``job`` (its handler answers 400 or 500)."""
    if not job.future.done():
        job.future.set_exception(error)
