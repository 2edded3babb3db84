"""Every registered transferability score through the public
:func:`transferkit.testing.check_score`: finite and deterministic, independent of the order of
the examples where its definition is, true labels above random labels on separable synthetic
features, bad inputs refused with a user error."""

from __future__ import annotations

import pytest

from transferkit.testing import check_score
from transferkit.transferability import SCORES

#: Scores whose value follows the order of the examples by design, and why. (These belong on
#: the classes as ``order_free = False``, which check_score reads; listed here until then.)
ORDER_DEPENDENT = {
    "linear-probe": "its seeded stratified folds are drawn over the examples in their order",
    "nleep": "its Gaussian mixture starts from k-means++ seeds drawn in the examples' order",
}


@pytest.mark.parametrize("score", SCORES.list())
def test_score_honours_the_contract(score):
    check_score(score, order_free=False if score in ORDER_DEPENDENT else None)
