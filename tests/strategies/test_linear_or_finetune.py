"""``linear-or-finetune``, fit's default (the rule by labels per class), and ``auto``, which
is the automatic search only: without a budget it is refused with a message naming both
choices; runs stored when ``auto`` meant the rule still load."""

from __future__ import annotations

import pytest
from conftest import run_cli

import transferkit
from transferkit.config import FitConfig
from transferkit.errors import UserError
from transferkit.store import RunStore
from transferkit.strategies.linear_or_finetune import FEW_SHOT

FAST = dict(model="tiny-cnn", image_size=32, epochs=2, batch_size=32, seed=0)


def test_the_default_strategy_is_the_rule_and_picks_linear_for_few_labels():
    assert FitConfig().strategy == "linear-or-finetune"
    r = transferkit.fit("builtin:digits", labels_per_class=10, **FAST)
    assert r.strategy == "linear"
    assert r.info["chosen"] == "linear" and f"(< {FEW_SHOT})" in r.info["reason"]
    record = RunStore().get(r.run_id)
    assert record.config["strategy"] == "linear-or-finetune"


def test_the_rule_picks_finetune_with_enough_labels():
    r = transferkit.fit(
        "builtin:digits", strategy="linear-or-finetune", labels_per_class=FEW_SHOT + 5, **FAST
    )
    assert r.strategy == "finetune" and f"(>= {FEW_SHOT})" in r.info["reason"]


def test_auto_without_a_budget_is_refused_from_python():
    with pytest.raises(UserError, match="--budget") as e:
        transferkit.fit("builtin:digits", strategy="auto", labels_per_class=10, **FAST)
    assert "linear-or-finetune" in str(e.value)
    assert RunStore().list() == []  # refused before a run was recorded


def test_auto_without_a_budget_is_refused_on_the_command_line_before_loading():
    p = run_cli("fit", "--data", "no/such/folder", "--strategy", "auto", check=2)
    assert "--budget" in p.stderr and "linear-or-finetune" in p.stderr
    assert "no/such/folder" not in p.stderr  # refused before the data was looked at
    assert "Traceback" not in p.stderr


def test_fit_help_shows_the_default_and_the_rule():
    text = " ".join(run_cli("fit", "--help", check=0).stdout.split())
    assert "(default: linear-or-finetune)" in text
    assert f"linear below {FEW_SHOT} labelled examples" in text
    assert "required with --strategy auto" in text


def test_a_config_stored_when_auto_meant_the_rule_loads_as_the_rule():
    old = {"strategy": "auto", "model": "tiny-cnn", "options": {"budget": None}}
    cfg = FitConfig.from_dict(old)
    assert cfg.strategy == "linear-or-finetune" and "budget" not in cfg.options
    assert FitConfig.from_dict({"strategy": "auto"}).strategy == "linear-or-finetune"
    search = FitConfig.from_dict({"strategy": "auto", "options": {"budget": "15m"}})
    assert search.strategy == "auto" and search.options["budget"] == "15m"
