"""The search space, pinned to what it was before the strategies declared their own facts.

The lists, ranges and choices below are written out as ``search/space.py`` held them; the
sampled recipes are compared with a reference copy of its former ``suggest`` / ``overrides``
on the same seeded Optuna samplers, so a change in a strategy's facts, or in the order the
space asks the sampler, shows up here as a different recipe for the same seed. One change
since, on text only (issue 31): the default text search includes ``contrastive``, whose text
trials train pairs of 64-token texts (``contrastive_pair_length``, fixed, not sampled); the
image space is unchanged."""

from __future__ import annotations

from typing import Any

import optuna
import pytest

from transferkit.search import space
from transferkit.search.space import ModelInfo, SearchSpace, image_sizes
from transferkit.strategies import STRATEGIES

optuna.logging.set_verbosity(optuna.logging.WARNING)

# -- the space as search/space.py spelled it out before ----------------------------------------
TRAINED = ("finetune", "lora", "scratch", "contrastive")
CHEAP = ("linear", "zeroshot", "prototypes")
DEFAULTS = {
    "image": ("linear", "finetune", "scratch"),
    "text": ("linear", "zeroshot", "prototypes", "finetune", "lora", "contrastive"),
}
LR = {
    "image": {
        "finetune": (1e-4, 1e-2),
        "scratch": (3e-4, 1e-2),
        "lora": (1e-4, 3e-3),
        "contrastive": (1e-5, 1e-3),
    },
    "text": {
        "finetune": (1e-5, 5e-4),
        "scratch": (1e-5, 5e-4),
        "lora": (1e-4, 3e-3),
        "contrastive": (5e-6, 2e-4),
    },
}
UNFREEZE = (0, 1, 2, 4)
LORA_RANKS = (4, 8, 16)


def reference_suggest(sp: SearchSpace, trial: Any) -> dict[str, Any]:
    """The former ``SearchSpace.suggest``, with its strategy names and tables inlined."""
    names = [m.name for m in sp.models]
    model = trial.suggest_categorical("model", names)
    adapters = all(m.adapters for m in sp.models)
    choices = [s for s in sp.strategies if s != "lora" or adapters]
    strategy = trial.suggest_categorical("strategy", choices)
    lo, hi = LR[sp.modality][strategy]
    params = {
        "model": model,
        "strategy": strategy,
        f"lr_{strategy}": trial.suggest_float(f"lr_{strategy}", lo, hi, log=True),
    }
    if strategy == "finetune":
        params["unfreeze"] = trial.suggest_categorical("unfreeze", list(UNFREEZE))
    if strategy == "lora":
        params["lora_rank"] = trial.suggest_categorical("lora_rank", list(LORA_RANKS))
    if strategy == "contrastive" and sp.modality == "text":  # since issue 31
        params["contrastive_pair_length"] = 64
    if len(sp.image_sizes) > 1:
        params["image_size"] = trial.suggest_categorical("image_size", sp.image_sizes)
    return params


def reference_overrides(sp: SearchSpace, params: dict[str, Any]) -> dict[str, Any]:
    """The former ``SearchSpace.overrides``."""
    strategy = params["strategy"]
    out: dict[str, Any] = {
        "model": params["model"],
        "strategy": strategy,
        "lr": params[f"lr_{strategy}"],
        "epochs": sp.max_epochs,
    }
    if params.get("unfreeze"):
        out["unfreeze"] = int(params["unfreeze"])
    if "lora_rank" in params:
        out["lora_rank"] = int(params["lora_rank"])
    if "contrastive_pair_length" in params:
        out["contrastive_pair_length"] = 64
    size = params.get("image_size", sp.image_sizes[0] if sp.image_sizes else None)
    if size:
        out["image_size"] = int(size)
    return out


# -- the derived lists ------------------------------------------------------------------------
def test_lists_derived_from_the_strategies_are_the_former_ones_in_the_same_order():
    assert space.trained_strategies() == TRAINED
    assert space.cheap_strategies() == CHEAP
    for modality, names in DEFAULTS.items():
        assert space.default_strategies(modality) == names


def test_learning_rate_ranges_and_choices_are_the_former_ones():
    for modality, ranges in LR.items():
        for strategy, bounds in ranges.items():
            assert STRATEGIES.get(strategy).search_lr[modality] == bounds
    assert STRATEGIES.get("finetune").search_unfreeze == UNFREEZE
    assert STRATEGIES.get("scratch").search_unfreeze == ()  # scratch trains every block
    assert STRATEGIES.get("lora").search_ranks == LORA_RANKS


# -- sampling ---------------------------------------------------------------------------------
IMAGE = [ModelInfo("a", "image", native_size=224), ModelInfo("b", "image")]
TEXT = [ModelInfo("a", "text", adapters=True), ModelInfo("b", "text", adapters=True)]
SPACES = {
    "image, three sizes": SearchSpace(IMAGE, ["finetune", "scratch"], [64, 96, 128]),
    "image, one size, every trained": SearchSpace(IMAGE, list(TRAINED), [96]),
    "text with adapters": SearchSpace(TEXT, ["finetune", "lora"]),
    "text, one model without adapters": SearchSpace(
        [TEXT[0], ModelInfo("c", "text")], ["finetune", "lora"]
    ),
    "text, every trained": SearchSpace(TEXT[:1], list(TRAINED)),
}
SAMPLERS = {
    "random": lambda: optuna.samplers.RandomSampler(seed=7),
    "tpe": lambda: optuna.samplers.TPESampler(seed=7, n_startup_trials=4),
}


def _sample(sp: SearchSpace, sampler, suggest, overrides, n: int = 30) -> list:
    """``n`` recipes from a seeded study; each trial's value is a fixed function of its
    recipe, so that TPE's later proposals depend on what came before."""
    study = optuna.create_study(direction="maximize", sampler=sampler)
    out = []
    for _ in range(n):
        trial = study.ask()
        params = suggest(sp, trial)
        out.append((params, overrides(sp, params)))
        value = sum(ord(c) for c in repr(sorted(params.items()))) % 97 / 97
        study.tell(trial, value)
    return out


@pytest.mark.parametrize("sampler", SAMPLERS)
@pytest.mark.parametrize("name", SPACES)
def test_the_same_seed_samples_the_same_recipes_as_before(name, sampler):
    sp = SPACES[name]
    got = _sample(sp, SAMPLERS[sampler](), SearchSpace.suggest, SearchSpace.overrides)
    want = _sample(sp, SAMPLERS[sampler](), reference_suggest, reference_overrides)
    assert got == want
    # every strategy offered was drawn, so each one's own choices were compared
    assert {params["strategy"] for params, _ in got} == set(sp._strategies())


def test_lora_is_offered_only_when_every_kept_model_takes_adapters():
    assert SPACES["text with adapters"]._strategies() == ["finetune", "lora"]
    assert SPACES["text, one model without adapters"]._strategies() == ["finetune"]


def test_trial_zero_is_finetune_of_every_block_at_its_default_rate():
    sp = SearchSpace(IMAGE, ["finetune", "scratch"], [64, 96])
    assert sp.default("a") == {
        "model": "a",
        "strategy": "finetune",
        "lr_finetune": 1e-3,
        "unfreeze": 0,
        "image_size": 64,
    }
    assert sp.overrides(sp.default("a")) == {
        "model": "a",
        "strategy": "finetune",
        "lr": 1e-3,
        "epochs": 9,
        "image_size": 64,
    }


def test_image_sizes_stay_at_or_below_the_models_native_size():
    assert image_sizes([], "cpu", None) == [64, 96, 128]
    assert image_sizes([], "cuda:0", 160) == [128, 160]
    assert image_sizes([256], "cpu", 224) == [224]


def test_a_strategy_is_usable_on_a_model_that_offers_what_it_needs():
    plain, encoder = ModelInfo("a", "text"), ModelInfo("b", "text", adapters=True, describes=True)
    assert space.usable("linear", plain) and space.usable("finetune", plain)
    assert not space.usable("lora", plain) and space.usable("lora", encoder)
    assert not space.usable("zeroshot", plain) and space.usable("prototypes", encoder)


def test_a_text_space_runs_trial_0_then_the_contrastive_trial_and_an_image_space_trial_0_only():
    text = SearchSpace(TEXT[:1], list(TRAINED))
    assert text.early("a") == [
        text.default("a"),
        {"model": "a", "strategy": "contrastive", "lr_contrastive": 2e-5},
    ]
    study = optuna.create_study(direction="maximize", sampler=SAMPLERS["tpe"]())
    for params in text.early("a"):
        study.enqueue_trial(params)
    got = [text.suggest(study.ask()) for _ in range(2)]  # what the study's first trials run
    assert [p["strategy"] for p in got] == ["finetune", "contrastive"]
    assert text.overrides(got[1]) == {
        "model": "a",
        "strategy": "contrastive",
        "lr": 2e-5,
        "epochs": 9,
        "contrastive_pair_length": 64,
    }
    assert SearchSpace(TEXT[:1], ["finetune", "lora"]).early("a") == [text.default("a")]
    image = SearchSpace(IMAGE, list(TRAINED), [64, 96])
    assert image.early("a") == [image.default("a")]  # contrastive on images: no early trial


def test_text_trials_train_short_texts_only_before_the_first_rung():
    text = SearchSpace(TEXT[:1], ["finetune"], short_length=64, short_epochs=2)
    assert [text.max_length(e) for e in range(4)] == [64, 64, None, None]
    image = SearchSpace(IMAGE, ["finetune"], [64])
    assert [image.max_length(e) for e in range(3)] == [None, None, None]
