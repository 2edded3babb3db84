"""The facts a strategy declares for the search, ``explain`` and the reports (its search
role and modalities, whether it starts pretrained and trains the backbone, its learning-rate
ranges, what it needs of a model, how the search samples its options): valid types and values,
and sampled recipes that stay in range and map onto ``fit``'s settings."""

from __future__ import annotations

import dataclasses

import optuna

from transferkit.config import FitConfig, TrainOptions
from transferkit.search.space import ModelInfo
from transferkit.strategies import STRATEGIES, Strategy
from transferkit.strategies.base import SEARCH_ROLES
from transferkit.testing._common import expect

MODALITIES = ("image", "text")
MODEL_FLAGS = {f.name for f in dataclasses.fields(ModelInfo) if f.type in ("bool", bool)}


def _fit_setting_names() -> set[str]:
    """Names ``fit`` accepts as keyword settings: its own, the training recipe's and every
    strategy's options."""
    own = {f.name for f in dataclasses.fields(FitConfig)} - {"data", "train", "options"}
    recipe = {f.name for f in dataclasses.fields(TrainOptions)}
    return own | recipe | {dest for dest, _, _ in STRATEGIES.option_fields()}


def check_strategy_facts(cls: type[Strategy], trials: int = 20) -> None:
    """Assert that strategy class ``cls`` declares the facts the library reads about it, with
    valid types and values; for a searched one, sample ``trials`` recipes of each modality
    and check they fall in its declared ranges and map onto ``fit``'s settings."""
    name = cls.name
    expect(isinstance(cls.pretrained, bool), f"{name}: pretrained must be True or False")
    expect(isinstance(cls.trains_backbone, bool), f"{name}: trains_backbone must be a bool")
    for m in MODALITIES:
        lr = cls.default_lr.get(m)
        expect(isinstance(lr, float) and lr > 0, f"{name}: default_lr[{m!r}] must be > 0")
    expect(cls.search_role in (None, *SEARCH_ROLES), f"{name}: search_role {cls.search_role!r}")
    expect(isinstance(cls.searched_for, tuple), f"{name}: searched_for must be a tuple")
    expect(set(cls.searched_for) <= set(MODALITIES), f"{name}: searched_for {cls.searched_for}")
    expect(isinstance(cls.search_order, int), f"{name}: search_order must be an int")
    expect(
        cls.model_needs is None or cls.model_needs in MODEL_FLAGS,
        (f"{name}: model_needs {cls.model_needs!r} is not one of ModelInfo's flags {MODEL_FLAGS}"),
    )
    if cls.search_role is None:
        expect(not cls.searched_for, f"{name}: not searched, but searched_for {cls.searched_for}")
    if cls.search_role == "trained":
        for m in MODALITIES:
            _check_trained(cls, m, trials)


def _check_trained(cls: type[Strategy], modality: str, trials: int) -> None:
    """A trained strategy's range on ``modality`` holds its default, and the recipes it
    samples there stay in its range and become settings ``fit`` accepts."""
    name = cls.name
    lo, hi = cls.search_lr[modality]
    expect(0 < lo < hi, f"{name}: search_lr[{modality!r}] = {(lo, hi)}")
    expect(
        lo <= cls.default_lr[modality] <= hi,
        (
            f"{name}: the default lr {cls.default_lr[modality]} on {modality} is outside its "
            f"search range {(lo, hi)}"
        ),
    )
    known = _fit_setting_names()
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(trials):
        trial = study.ask()
        params = cls.search_options(trial, modality)
        expect(lo <= params[f"lr_{name}"] <= hi, f"{name}: sampled lr outside its range")
        overrides = cls.search_overrides({"strategy": name, **params})
        expect(set(overrides) <= known, f"{name}: {set(overrides) - known} are not fit settings")
        study.tell(trial, 0.0)
