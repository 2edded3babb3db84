"""The request batcher: concurrent requests share batches of at most max_batch inputs, each gets
its own rows back, and a failing input fails only its own request."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

from transferkit.serving.batcher import Batcher


class Recorder:
    """A predict_proba of K=2 classes whose row for input x is [x/100, 1 - x/100]; it records
    the size of every batch it was called with and takes 20 ms per call (as a model would)."""

    def __init__(self) -> None:
        self.sizes: list[int] = []

    def __call__(self, inputs: list) -> np.ndarray:
        if "bad" in inputs:
            raise ValueError("bad input")
        self.sizes.append(len(inputs))
        time.sleep(0.02)
        x = np.asarray(inputs, dtype=float) / 100
        return np.stack([x, 1 - x], axis=1)


def _run(coro):
    return asyncio.run(coro)


def test_waiting_requests_share_batches_up_to_max_batch():
    rec = Recorder()

    async def main():
        b = Batcher(rec, max_batch=4)
        await b.start()
        try:
            return await asyncio.gather(*(b.predict([i]) for i in range(10))), b
        finally:
            await b.stop()

    results, b = _run(main())
    assert [float(r[0, 0]) for r in results] == pytest.approx([i / 100 for i in range(10)])
    assert max(rec.sizes) <= 4 and sum(rec.sizes) == 10
    assert len(rec.sizes) == 3  # 10 requests queued together: 4 + 4 + 2, not 10 calls
    assert (b.batches, b.inputs) == (3, 10)


def test_a_request_larger_than_max_batch_is_split_and_reassembled():
    rec = Recorder()

    async def main():
        b = Batcher(rec, max_batch=3)
        await b.start()
        try:
            return await b.predict(list(range(8)))
        finally:
            await b.stop()

    probs = _run(main())
    assert probs.shape == (8, 2)
    np.testing.assert_allclose(probs[:, 0], np.arange(8) / 100)
    assert max(rec.sizes) <= 3 and sum(rec.sizes) == 8


def test_a_failing_input_fails_only_its_own_request():
    rec = Recorder()

    async def main():
        b = Batcher(rec, max_batch=8)
        await b.start()
        try:
            return await asyncio.gather(
                b.predict([1, 2]), b.predict(["bad"]), b.predict([3]), return_exceptions=True
            )
        finally:
            await b.stop()

    good1, failed, good2 = _run(main())
    assert isinstance(failed, ValueError)
    np.testing.assert_allclose(good1[:, 0], [0.01, 0.02])
    np.testing.assert_allclose(good2[:, 0], [0.03])
