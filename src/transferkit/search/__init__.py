"""Automatic transfer within a time budget: which source model, which strategy, which recipe.

The search (:func:`transferkit.runs.auto.auto`, also ``transferkit.auto(...)``) runs in
stages: candidates are checked and ranked by transferability scores on one forward pass
(:mod:`~.ranking`); the cheap strategies run on cached features of the kept models
(:mod:`~.cheap`); then successive halving over fine-tuning recipes on an Optuna study
(:mod:`~.study`, over the space of :mod:`~.space`); the winner is chosen by validation only
(:mod:`~.choose`) and the test split is read once, at the end. The budget is kept by
:mod:`~.budget`. Trials are ordinary transfer runs: nothing here trains by itself.
"""
