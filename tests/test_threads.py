"""Native thread limits for small numeric work (transferkit.threads)."""

import numpy as np
from threadpoolctl import threadpool_info

from transferkit.threads import SMALL_WORK, native_threads


def _threads() -> dict[str, int]:
    return {i["internal_api"]: i["num_threads"] for i in threadpool_info()}


def test_small_work_gets_one_thread_and_the_limits_come_back():
    np.ones((4, 4)) @ np.ones((4, 4))  # load BLAS
    before = _threads()
    assert before, "no native thread pool was found to limit"
    with native_threads(10):
        assert set(_threads().values()) == {1}
    with native_threads():
        assert set(_threads().values()) == {1}
    assert _threads() == before


def test_big_work_keeps_the_libraries_choice():
    before = _threads()
    with native_threads(SMALL_WORK + 1):
        assert _threads() == before


def test_the_probe_is_the_same_under_the_limit():
    from transferkit.strategies.linear import _logreg

    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 8))
    y = (x[:, 0] + 0.3 * rng.normal(size=60) > 0).astype(int)
    a = _logreg(1.0, x, y, 0)
    with native_threads(SMALL_WORK + 1):  # no limit: whatever the machine has
        b = _logreg(1.0, x, y, 0)
    np.testing.assert_allclose(a.coef_, b.coef_, rtol=1e-6, atol=1e-8)
