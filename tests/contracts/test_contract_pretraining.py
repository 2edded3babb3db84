"""Every registered pretraining method through the public
:func:`transferkit.testing.check_pretraining`: a finite loss that reaches the backbone and
falls over a few steps on one batch, seeded, and a kept backbone that honours the backbone
contract and round-trips through ``file:``."""

from __future__ import annotations

import pytest

from transferkit.pretraining import METHODS
from transferkit.testing import check_pretraining


@pytest.mark.parametrize("method", METHODS.list())
def test_pretraining_method_honours_the_contract(method):
    check_pretraining(method, latent_dim=16, projection_dim=16)  # small heads, where they apply
