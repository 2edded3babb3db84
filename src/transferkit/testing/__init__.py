"""Public contract checks for transferkit plug-ins, as scikit-learn publishes
``check_estimator``: the checks the project runs on every registered backbone, strategy,
transferability score, adaptation, pretraining and explanation method, for a plug-in of one's
own too. Each ``check_*`` takes a registered name (or the registered class), runs its checks on
tiny synthetic data in a temporary folder, and raises an :class:`AssertionError` that names the
plug-in and the failed check, e.g.::

    AssertionError: strategy 'my-strategy' fails the check 'gives the same predictions for the
    same seed': two fits with seed 0 gave test probabilities that differ by up to 0.0312

Use them from a test::

    from transferkit.strategies import STRATEGIES, Strategy
    from transferkit.testing import check_strategy

    @STRATEGIES.register("my-strategy")
    class MyStrategy(Strategy):
        ...

    def test_my_strategy_honours_the_contract():
        check_strategy("my-strategy")

or over a whole registry, one test per entry (how the project's own ``tests/contracts`` run)::

    @pytest.mark.parametrize("name", SCORES.list())
    def test_score(name):
        check_score(name)

The checks need only CPU and take seconds each (tiny models, a few steps).
"""

from transferkit.testing.adaptation import check_adaptation
from transferkit.testing.backbones import check_backbone
from transferkit.testing.explanation import check_explanation
from transferkit.testing.pretraining import check_pretraining
from transferkit.testing.scores import check_score
from transferkit.testing.strategies import check_strategy
from transferkit.testing.strategy_facts import check_strategy_facts

__all__ = [
    "check_adaptation",
    "check_backbone",
    "check_explanation",
    "check_pretraining",
    "check_score",
    "check_strategy",
    "check_strategy_facts",
]
