"""The settings of a search: ``auto``'s keyword overrides made into an
:class:`~transferkit.config.AutoConfig` and checked (every bad combination a UserError naming
the fix), and the transfer settings every run of the search starts from."""

from __future__ import annotations

import dataclasses
from typing import Any

from transferkit.config import AutoConfig, FitConfig, check_ranges
from transferkit.errors import UserError
from transferkit.runs._fitting import make_config
from transferkit.search.budget import parse_budget
from transferkit.strategies import STRATEGIES

MIN_BUDGET_S = 10.0


def make_auto_config(data: str | None, config: AutoConfig | None, **overrides: Any) -> AutoConfig:
    """AutoConfig from keyword overrides (strategies' own options, e.g. ``lora_rank``, flat)."""
    cfg = config or AutoConfig()
    names = {f.name for f in dataclasses.fields(AutoConfig)} - {"options"}
    unknown = set(overrides) - names - {d for d, _, _ in STRATEGIES.option_fields()}
    if unknown:
        raise UserError(
            f"Unknown option(s) {', '.join(sorted(unknown))} for auto. Options: "
            f"{', '.join(sorted(names))}."
        )
    options = {**cfg.options, **{k: v for k, v in overrides.items() if k not in names}}
    cfg = dataclasses.replace(
        cfg,
        **{k: v for k, v in overrides.items() if k in names},
        options=options,
        **({"data": data} if data else {}),
    )
    check_ranges(cfg)
    if parse_budget(cfg.budget) < MIN_BUDGET_S:
        raise UserError(
            f"--budget {cfg.budget} is too small: the search needs at least "
            f"{MIN_BUDGET_S:.0f} s to check and rank its candidates and fit one "
            "linear probe (on large data, minutes)."
        )
    _check_searched(cfg.strategies)
    _check_selection(cfg)
    return cfg


def _check_selection(cfg: AutoConfig) -> None:
    """The k-fold and ensemble settings make sense together."""
    if cfg.folds < 2:
        raise UserError(
            f"--folds {cfg.folds}: cross-validation needs at least 2 folds; use --folds 5 "
            "(the default), or --kfold-below 0 to choose on the validation split."
        )
    if cfg.ensemble_size is not None and not cfg.ensemble:
        raise UserError(
            f"--no-ensemble keeps one model, so --ensemble-size {cfg.ensemble_size} has "
            "nothing to cap; drop one of the two."
        )
    if cfg.ensemble_size is not None and cfg.ensemble_size < 1:
        raise UserError(
            f"--ensemble-size {cfg.ensemble_size}: an ensemble needs at least one member; "
            "use --ensemble-size 1 or --no-ensemble to keep one model, or leave it out "
            "(at most 5)."
        )


def _check_searched(strategies: list[str]) -> None:
    """Every ``--strategies`` entry is a strategy the search runs (cheap or trained)."""
    searched = [n for n in STRATEGIES.list() if STRATEGIES.get(n).search_role]
    for s in strategies:
        if STRATEGIES.get(s).search_role is None:
            raise UserError(
                f"--strategies {s}: the search does not run {s!r} (it is not a strategy a "
                f"trial or the cheap stage trains). Choose among: {', '.join(searched)}."
            )


def base_settings(cfg: AutoConfig) -> FitConfig:
    """The transfer settings every run of the search starts from."""
    keep = {
        "data",
        "labels_per_class",
        "val_fraction",
        "test_fraction",
        "max_test",
        "strict",
        "text_column",
        "label_column",
        "max_length",
        "seed",
        "batch_size",
        "device",
        "amp",
        "num_workers",
    }
    options = {**cfg.options, **({"labels": cfg.labels} if cfg.labels else {})}
    return make_config(
        **{k: v for k, v in dataclasses.asdict(cfg).items() if k in keep},
        **options,
        strategy="linear",
        strategies=STRATEGIES.list(),
    )
