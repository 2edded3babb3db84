"""How to reproduce a stored run: its command line (``runs show``, the reports) and its settings
objects, for the config file ``runs show RUN --config`` prints."""

from __future__ import annotations

import dataclasses
import shlex
from typing import Any

from transferkit.config.adapt import AdaptConfig
from transferkit.config.auto import AutoConfig
from transferkit.config.compare import CompareConfig
from transferkit.config.finished import ExplainConfig
from transferkit.config.fit import DataOptions, FitConfig, TrainOptions
from transferkit.config.pretrain import PretrainConfig
from transferkit.config.rank import RankConfig, SimilarityConfig
from transferkit.config.zeroshot import ZeroShotConfig
from transferkit.errors import UserError

#: Run kinds whose stored config is their command's settings object as it is.
_ONE_SETTINGS = {
    "adapt": AdaptConfig,
    "auto": AutoConfig,
    "explain": ExplainConfig,
    "pretrain": PretrainConfig,
    "rank": RankConfig,
    "similarity": SimilarityConfig,
    "zeroshot": ZeroShotConfig,
}
#: Run kinds that are parts of another run: the run to reproduce instead.
_PART_OF = {"adapt-member": "adapt", "auto-worker": "auto"}


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


def _seed_count(seeds: list[int], run: str) -> int:
    if list(seeds) != list(range(len(seeds))):
        raise UserError(
            f"Run {run} compared seeds {seeds}; the command line runs seeds 0..N-1 only. "
            "Call transferkit.compare(..., seeds=[...]) from Python to run those seeds again."
        )
    return len(seeds)


def stored_settings(kind: str, cfg: dict[str, Any], run: str = "") -> tuple[str, list[Any], str]:
    """(the command that reproduces a stored run of ``kind``, its settings objects, the
    arguments that are not settings: cv's ``--cv K``). A UserError for a run that is part of
    another run (an adapt member, a search worker) or of a kind with no command."""
    if kind in ("fit", "cv"):
        fit = FitConfig.from_dict(cfg["fit"] if kind == "cv" else cfg)
        return "fit", [fit], f"--cv {cfg['k']}" if kind == "cv" else ""
    if kind == "compare":
        compare = CompareConfig(
            strategies=list(cfg["strategies"]),
            labels_per_class=[str(b) for b in cfg["labels_per_class"]],
            seeds=_seed_count(cfg.get("seeds") or [0], run),
        )
        return "compare", [compare, FitConfig.from_dict(cfg["base"])], ""
    if kind in _ONE_SETTINGS:
        return kind, [_ONE_SETTINGS[kind].from_dict(cfg)], ""
    parent = _PART_OF.get(kind)
    whose = f"the {parent} run it belongs to" if parent else "the run that made it"
    raise UserError(
        f"Run {run} is a {kind} run, which no command starts by itself; reproduce {whose} "
        "(`transferkit runs list` shows it; `transferkit runs show ID --config` prints its "
        "config)."
    )
