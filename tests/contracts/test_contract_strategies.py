"""Every registered strategy through the public :func:`transferkit.testing.check_strategy`, on
image data (tiny-cnn) and on text data (a tiny random BERT): it trains, or refuses the data
with a user error that names it; the same seed gives the same predictions; the run alone
predicts what the trained model predicted; its own options are documented and range-checked.
A new strategy file is picked up here with no edit."""

from __future__ import annotations

import pytest

import transferkit
from transferkit.errors import UserError
from transferkit.strategies import STRATEGIES
from transferkit.testing import check_strategy


@pytest.mark.parametrize("strategy", STRATEGIES.list())
def test_strategy_on_images(strategy):
    check_strategy(strategy)


@pytest.mark.parametrize("strategy", STRATEGIES.list())
def test_strategy_on_texts(strategy, topics_csv, tiny_bert):
    check_strategy(strategy, data=str(topics_csv), model=f"hf:{tiny_bert}")


def test_an_option_of_another_strategy_is_refused():
    with pytest.raises(UserError, match="--lora-rank does not apply to finetune"):
        transferkit.fit("builtin:digits", model="tiny-cnn", strategy="finetune", lora_rank=4)
