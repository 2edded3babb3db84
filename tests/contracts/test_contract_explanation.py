"""Every registered explanation method through the public
:func:`transferkit.testing.check_explanation`: one finite map per input in the input's layout
(pixels of an image; tokens of a text, for the methods that explain texts, on a tiny random
BERT), the same maps each time, its package installed."""

from __future__ import annotations

import pytest

from transferkit.explanation.methods import METHODS
from transferkit.testing import check_explanation


@pytest.mark.parametrize("method", METHODS.list())
def test_explanation_method_honours_the_contract(method, tiny_bert):
    check_explanation(method, text_model=f"hf:{tiny_bert}")
