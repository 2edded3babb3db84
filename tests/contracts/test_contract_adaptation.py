"""Every registered adaptation method, deep and shallow, through the public
:func:`transferkit.testing.check_adaptation`: a finite transfer term that trains the backbone
and the method's modules, a seeded short fit with finite label-free scores that never reads
target labels, and a saved model that loads back with the same outputs."""

from __future__ import annotations

import pytest

from transferkit.adaptation import DEEP_METHODS, SHALLOW_METHODS
from transferkit.testing import check_adaptation


@pytest.mark.parametrize("method", DEEP_METHODS.list() + SHALLOW_METHODS.list())
def test_adaptation_method_honours_the_contract(method):
    check_adaptation(method, hidden=16)  # a small domain discriminator, for the methods with one
