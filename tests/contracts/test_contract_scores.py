"""Every registered transferability score through the public
:func:`transferkit.testing.check_score`: finite and deterministic, independent of the order of
the examples where its definition is, true labels above random labels on separable synthetic
features, bad inputs refused with a user error."""

from __future__ import annotations

import pytest

from transferkit.testing import check_score
from transferkit.transferability import SCORES


@pytest.mark.parametrize("score", SCORES.list())
def test_score_honours_the_contract(score):
    check_score(score)
