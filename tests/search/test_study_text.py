"""A text search's trials on a real Optuna study: trial 0, then the SetFit-style contrastive
trial, each reporting every epoch to the pruner, and the epochs before the first rung trained
on shorter texts (read from the embedding layers while they train, not from a setting)."""

from __future__ import annotations

from collections import defaultdict

import optuna
import pytest
import torch

import transferkit
from transferkit.search.space import ModelInfo, SearchSpace
from transferkit.search.study import Objective

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _run_trials(tiny_bert, topics_csv, n: int):
    """``n`` trials of a text study over finetune and contrastive on a tiny BERT (texts of 9
    tokens; the first epoch cut to 4); returns the study and, per trial, the widths the
    encoder trained on in each epoch."""
    space = SearchSpace(
        [ModelInfo(f"hf:{tiny_bert}", "text")],
        ["finetune", "contrastive"],
        max_epochs=2,
        short_length=4,
        short_epochs=1,
    )
    seen: dict[int, dict[int, set[int]]] = defaultdict(lambda: defaultdict(set))
    where = {"trial": -1, "epoch": 0}

    def pre(module, args):
        if isinstance(module, torch.nn.Embedding) and module.training and args:
            seen[where["trial"]][where["epoch"]].add(int(args[0].shape[-1]))

    def fit_once(*, hooks, record, **overrides):
        where.update(trial=record["trial"], epoch=0)
        report = hooks.on_epoch

        def on_epoch(metrics):  # count epochs, then report to the pruner as the trial does
            where["epoch"] += 1
            report(metrics)

        hooks.on_epoch = on_epoch
        return transferkit.fit(
            str(topics_csv), hooks=hooks, batch_size=8, seed=0, record=record, **overrides
        )

    study = optuna.create_study(direction="maximize")
    for params in space.early(space.models[0].name):
        study.enqueue_trial(params)
    handle = torch.nn.modules.module.register_module_forward_pre_hook(pre)
    try:
        study.optimize(Objective(space, fit_once, "accuracy", float("inf")), n_trials=n)
    finally:
        handle.remove()
    return study, seen


@pytest.fixture(scope="module")
def two_trials(tiny_bert, topics_csv):
    return _run_trials(tiny_bert, topics_csv, 2)


def test_the_contrastive_trial_follows_trial_0_and_reports_every_epoch(two_trials):
    study, _ = two_trials
    assert [t.params["strategy"] for t in study.trials] == ["finetune", "contrastive"]
    contrastive = study.trials[1]
    assert contrastive.state.name in ("COMPLETE", "PRUNED")
    assert contrastive.params["lr_contrastive"] == 2e-5
    assert sorted(contrastive.intermediate_values)[0] == 1  # the pruner's first rung


def test_the_contrastive_trial_trains_short_texts_before_the_first_rung_only(two_trials):
    study, seen = two_trials
    if study.trials[1].state.name == "PRUNED":  # stopped at the rung: one short epoch
        assert dict(seen[1]) == {0: {4}}
    else:
        assert dict(seen[1]) == {0: {4}, 1: {9}}  # its 64-token pairs hold the 9 tokens


def test_the_finetune_trial_trains_short_texts_before_the_first_rung_only(two_trials):
    _, seen = two_trials
    assert dict(seen[0]) == {0: {4}, 1: {9}}
