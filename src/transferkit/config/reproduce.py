"""Command lines that reproduce a stored config (``runs show``, the reports)."""

from __future__ import annotations

import dataclasses
import shlex
from typing import Any

from transferkit.config.fit import DataOptions, FitConfig, TrainOptions


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _args(values: dict[str, Any], defaults: dict[str, Any]) -> list[str]:
    parts = []
    for k, v in values.items():
        if v == defaults.get(k, object()) and k in defaults:
            continue
        if isinstance(v, bool):
            parts.append(_flag(k) if v else "--no-" + k.replace("_", "-"))
        elif isinstance(v, (list, tuple)):
            parts.append(f"{_flag(k)} {shlex.quote(','.join(map(str, v)))}")
        elif v is not None:
            parts.append(f"{_flag(k)} {shlex.quote(str(v))}")
    return parts


def option_args(options: dict[str, Any]) -> list[str]:
    """Flags for a stored ``options`` dict (a method's own options: ``--lora-rank 4``)."""
    return _args(options or {}, {})


def reproduce_command(cfg: dict[str, Any]) -> str:
    """The `transferkit fit` command line that reproduces a stored fit config."""
    c = FitConfig.from_dict(cfg)
    flat = {
        **{k: v for k, v in dataclasses.asdict(c).items() if k not in ("data", "train", "options")},
        **dataclasses.asdict(c.data),
        **dataclasses.asdict(c.train),
    }
    defaults = {
        **dataclasses.asdict(FitConfig()),
        **dataclasses.asdict(DataOptions()),
        **dataclasses.asdict(TrainOptions()),
    }
    return " ".join(["transferkit fit", *_args(flat, defaults), *option_args(c.options)])


def compare_command(cfg: dict[str, Any]) -> str:
    """The `transferkit compare` command line for a stored comparison config."""
    seeds = list(cfg.get("seeds") or [0])
    seeds_arg = str(len(seeds)) if seeds == list(range(len(seeds))) else ",".join(map(str, seeds))
    parts = [
        "transferkit compare",
        "--data",
        shlex.quote(str(cfg.get("data", ""))),
        "--model",
        shlex.quote(str(cfg.get("model", ""))),
        "--strategies",
        shlex.quote(",".join(map(str, cfg.get("strategies") or []))),
        "--labels-per-class",
        shlex.quote(",".join(map(str, cfg.get("labels_per_class") or []))),
        "--seeds",
        seeds_arg,
    ]
    base = cfg.get("base")
    if isinstance(base, dict):
        d = FitConfig()
        neutral = {
            **base,
            "model": d.model,
            "strategy": d.strategy,
            "seed": d.seed,
            "data": {**(base.get("data") or {}), "data": "", "labels_per_class": None},
        }
        rest = reproduce_command(neutral)[len("transferkit fit") :].strip()
        if rest:
            parts.append(rest)
    return " ".join(parts)
