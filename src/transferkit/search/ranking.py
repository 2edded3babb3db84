"""The first stage of the search: which candidate source models are worth training.

Every candidate is pre-flighted (built, then one forward and backward pass on a batch of the
search's batch size: a model that fails is listed as refused with the reason, never a crash),
then ranked from one forward pass over a stratified sample of the labelled pool by the
transferability scores that followed the linear probe best in the ranking benchmark (kNN
accuracy, linear-probe CV and LogME), combined as the mean of their ranks. The top ``keep``
stay, plus the best of another family as a hedge (a score can be wrong about a whole family).
Each row records why the model was kept or dropped.
"""

from __future__ import annotations

import copy
import re
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from transferkit.data.base import Dataset
from transferkit.errors import RunInterrupted, UserError
from transferkit.search.space import ModelInfo
from transferkit.transferability.candidates import (
    Extraction,
    RankRow,
    expand_models,
    score_candidate,
    scorers_for,
)

SCORES = ("knn", "linear-probe", "logme")


@dataclass
class Ranked:
    """The ranking stage's outcome: every candidate's row, and the kept models in order."""

    rows: list[dict[str, Any]]
    kept: list[ModelInfo] = field(default_factory=list)
    seconds_per_batch: dict[str, float] = field(default_factory=dict)


def family(name: str) -> str:
    """effnet-lite0/1/2 -> effnet-lite; timm:resnet18 -> timm:resnet; run:ID -> run."""
    if name.startswith(("run:", "file:")):
        return name.split(":")[0]
    return re.sub(r"[\d._-]+$", "", name) or name


def candidate_names(models: str, modality: str) -> list[str]:
    """``models`` expanded (patterns included), or every zoo model usable offline for the
    modality; refuses a pattern that matches nothing and a list with no model of the data's
    modality."""
    from transferkit.zoo import list_zoo

    rows = {r["name"]: r for r in list_zoo("*")}
    if models.strip():
        names, _ = expand_models(models)
        of_other = [n for n in names if n in rows and rows[n]["modality"] != modality]
        if of_other and len(of_other) == len(names):
            raise UserError(
                f"--models {models!r} names only {rows[of_other[0]]['modality']} "
                f"models ({', '.join(of_other)}), but the data holds {modality}; "
                "name models of the data's modality (see `transferkit zoo`)."
            )
        return [n for n in names if n not in of_other]
    names = [
        n for n, r in rows.items() if r["offline"] and r["modality"] == modality and r["searchable"]
    ]
    if not names:
        raise UserError(
            f"No {modality} model of the zoo works offline here; name candidates "
            "with --models (e.g. timm:NAME with --weights, hf:PATH, run:ID)."
        )
    return names


def preflight(
    name: str,
    dataset: Dataset,
    indices: np.ndarray,
    size: int | None,
    batch_size: int,
    device: torch.device,
) -> tuple[Any, float]:
    """The backbone, after one forward and backward pass on a batch; and seconds per batch."""
    from transferkit.data.batches import examples, to_device
    from transferkit.zoo import create_backbone

    backbone = create_backbone(name)
    native = backbone.data_config.input_size[-1]
    backbone.data_config = backbone.data_config.with_size(size)
    items, collate = examples(dataset, indices[:batch_size], backbone.data_config)
    batch = (collate or torch.utils.data.default_collate)([items[i] for i in range(len(items))])
    trial = copy.deepcopy(backbone).to(device).train()  # BatchNorm statistics stay untouched
    t0 = time.perf_counter()
    trial.forward_features(to_device(batch[0], device)).float().sum().backward()
    seconds = time.perf_counter() - t0
    del trial
    backbone.native_size = native  # type: ignore[attr-defined]
    return backbone, seconds


def rank_stage(
    names: list[str],
    dataset: Dataset,
    pool: np.ndarray,
    sample: np.ndarray,
    how: Extraction,
    *,
    keep: int,
    batch_size: int,
    seed: int,
    device: torch.device,
    time_left=lambda: float("inf"),
) -> Ranked:
    """Pre-flight, score and keep (see the module docstring). ``time_left()``: seconds the
    stage may still use; candidates it cannot reach are listed as not ranked."""
    scorers = scorers_for(list(SCORES), {}, seed)
    out = Ranked([])
    infos: dict[str, ModelInfo] = {}
    for name in names:
        if infos and time_left() <= 0:
            out.rows.append(
                {
                    "model": name,
                    "status": "skipped",
                    "reason": "not ranked: the ranking stage's share of the budget was spent",
                }
            )
            continue
        row = RankRow(name, scores=dict.fromkeys(SCORES))
        try:
            backbone, sec = preflight(name, dataset, pool, how.image_size, batch_size, device)
        except (KeyboardInterrupt, RunInterrupted):
            raise
        except Exception as e:  # noqa: BLE001 - a candidate that fails is refused, not fatal
            why = str(e) if isinstance(e, UserError) else f"{type(e).__name__}: {e}"
            out.rows.append({"model": name, "status": "refused", "reason": f"pre-flight: {why}"})
            continue
        out.seconds_per_batch[name] = sec
        score_candidate(row, name, dataset, sample, scorers, how, backbone=backbone)
        infos[name] = _model_info(name, backbone)
        out.rows.append(
            {
                "model": name,
                "status": row.status,
                "reason": row.reason,
                "scores": dict(row.scores),
                "empty": dict(row.empty),
            }
        )
    keep_best(out, infos, keep)
    return out


def _model_info(name: str, backbone: Any) -> ModelInfo:
    """What the later stages need to know about a pre-flighted backbone."""
    modality = backbone.data_config.modality
    return ModelInfo(
        name,
        modality,
        backbone.native_size,
        len(backbone.blocks()),
        hasattr(backbone, "add_adapters"),
        modality == "text" or hasattr(backbone, "encode_text"),
    )


def keep_best(out: Ranked, infos: dict[str, ModelInfo], keep: int) -> None:
    """Rank the scored rows of ``out`` by their mean rank over the scores, and keep the top
    ``keep`` and a hedge from another family (``out.kept``, in that order); every row says
    why it was kept or not. ``infos``: the models that were scored, by name."""
    scored = [r for r in out.rows if r["status"] == "ok"]
    for s in SCORES:
        values = [r for r in scored if r["scores"].get(s) is not None]
        for pos, r in enumerate(sorted(values, key=lambda r: -r["scores"][s]), 1):
            r.setdefault("ranks", {})[s] = pos
    for r in scored:
        ranks = list(r.get("ranks", {}).values())
        r["mean_rank"] = float(np.mean(ranks)) if ranks else float(len(scored))
    order = sorted(scored, key=lambda r: r["mean_rank"])
    kept = order[:keep]
    hedge = next(
        (r for r in order[keep:] if family(r["model"]) not in {family(k["model"]) for k in kept}),
        None,
    )
    for pos, r in enumerate(order, 1):
        if r in kept:
            r["kept"], r["why"] = True, f"rank {pos} of {len(order)} by mean score rank"
        elif r is hedge:
            r["kept"], r["why"] = (
                True,
                (f"rank {pos}, kept as the best of another family ({family(r['model'])})"),
            )
        else:
            r["kept"], r["why"] = False, f"rank {pos} of {len(order)}: below the top {keep}"
    for r in out.rows:
        r.setdefault("kept", False)
        r.setdefault("why", r.get("reason", ""))
    out.kept = [infos[r["model"]] for r in kept + ([hedge] if hedge else [])]
    if not out.kept:
        reasons = "; ".join(f"{r['model']}: {r.get('reason') or r['status']}" for r in out.rows)
        raise UserError(
            f"No candidate model could be used ({reasons}). Fix the models named "
            "with --models, or see `transferkit zoo` for those that work offline."
        )
