"""Scoring candidate source models on a labelled target: expand the candidate list, extract
each candidate's features once (through the run store's feature cache) and compute the
transferability scores. Shared by ``rank`` and the ranking stage of the automatic search.

A candidate that fails to load, has the wrong modality or whose extraction fails is recorded
as such with the reason; the others are still scored.
"""

from __future__ import annotations

import dataclasses
import inspect
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from transferkit.config import DataOptions
from transferkit.config.options import resolve, resolved_values
from transferkit.data import make_splits
from transferkit.data.base import Dataset
from transferkit.errors import RunInterrupted, UserError
from transferkit.evaluation.metrics import softmax
from transferkit.transferability.base import SCORES
from transferkit.transferability.sampling import stratified_subsample

DEFAULT_SCORES = ("logme", "leep", "nce", "hscore", "knn")


@dataclass
class RankRow:
    """One candidate: ``status`` is ``ok`` (scored), ``failed`` (could not be loaded or run)
    or ``refused`` (wrong modality); ``reason`` says why. ``scores`` maps each score to its
    value or ``None``, and ``empty`` says why a cell is ``None``. ``seconds`` is the wall time
    spent on this candidate; ``timings`` splits it into load / extract / each score."""

    model: str
    status: str = "ok"
    reason: str = ""
    scores: dict[str, float | None] = field(default_factory=dict)
    empty: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)
    identity: str | None = None


def expand_models(models: list[str] | str) -> tuple[list[str], dict[str, str]]:
    """Candidate names from a list or a comma-separated string; shell patterns
    (``timm:resnet*``, ``effnet*``) are expanded with the zoo listing. Returns the names and,
    for patterns that could not be expanded, the reason (these become failed rows)."""
    items = models.split(",") if isinstance(models, str) else list(models)
    names, problems = [], {}
    for item in (str(m).strip() for m in items):
        if not item:
            continue
        if any(ch in item for ch in "*?["):
            try:
                from transferkit.zoo import list_zoo  # imports torch: only for patterns

                found = [r["name"] for r in list_zoo(item)]
            except Exception as e:  # noqa: BLE001 - e.g. timm missing: report, keep going
                found, problems[item] = [], f"cannot list models matching {item!r}: {e}"
            if not found and item not in problems:
                raise _no_match(item)
            names += found or [item]
        else:
            names.append(item)
    if not names:
        raise UserError("No models given; pass e.g. --models effnet-lite0,tiny-cnn.")
    return list(dict.fromkeys(names)), problems


def _no_match(pattern: str) -> UserError:
    from transferkit.zoo import list_zoo

    known = ", ".join(r["name"] for r in list_zoo("*"))
    return UserError(
        f"No model in the zoo matches {pattern!r}. The zoo has: {known}; "
        "timm:PATTERN and torchvision:PATTERN list those libraries' models "
        "(see `transferkit zoo`)."
    )


def rank_sample(
    dataset: Dataset, *, seed: int, max_examples: int | None, labels_per_class: int | None
) -> np.ndarray:
    """The examples ranking looks at: the labelled (train + validation) part of ``fit``'s
    split for this seed and label budget, never its test set, stratified down to
    ``max_examples``."""
    d = DataOptions()  # fit's defaults, so the test examples are the ones fit holds out
    splits = make_splits(
        dataset,
        seed=seed,
        labels_per_class=labels_per_class,
        test_fraction=d.test_fraction,
        max_test=d.max_test,
    )
    pool = np.sort(np.concatenate([splits.train, splits.val]))
    if max_examples is not None:
        if max_examples < 1:
            raise UserError(f"max_examples must be positive, got {max_examples}.")
        pool = stratified_subsample(dataset.labels, pool, max_examples, seed)
    return pool


def backbone_features(
    backbone: Any,
    dataset: Dataset,
    indices: np.ndarray,
    cache: Any,
    *,
    device: str = "auto",
    batch_size: int = 64,
) -> np.ndarray:
    """Features through the shared feature cache (the one ``fit`` uses)."""
    from transferkit import distributed
    from transferkit.features import extract_features

    return extract_features(
        backbone,
        dataset,
        indices,
        device=distributed.device_for(device),
        cache=cache,
        batch_size=batch_size,
        description=f"features {backbone.name}",
    )


def source_probabilities(backbone: Any, features: np.ndarray) -> np.ndarray | None:
    """Softmax of the backbone's source head on pooled features; None without a head."""
    head = getattr(backbone, "source_head", None)
    if head is None:
        return None
    w = head.weight.detach().double().cpu().numpy()
    b = head.bias.detach().double().cpu().numpy() if head.bias is not None else 0.0
    return softmax(features.astype(np.float64) @ w.T + b)


@dataclass
class Extraction:
    """How candidates are run: input size, device, batch size and the feature cache."""

    cache: Any
    image_size: int | None = None
    device: str = "auto"
    batch_size: int = 64


def score_candidate(
    row: RankRow,
    name: str,
    dataset: Dataset,
    indices: np.ndarray,
    scorers: dict[str, Any],
    how: Extraction,
    backbone: Any = None,
) -> np.ndarray | None:
    """Load (unless ``backbone`` is given), extract and score one candidate into ``row``;
    never raises for its failures. Returns the candidate's features (None when it could not be
    scored)."""
    from transferkit.data.base import modality_problem
    from transferkit.zoo import create_backbone

    t0 = time.perf_counter()
    try:
        backbone = backbone or create_backbone(name, image_size=how.image_size)
    except Exception as e:  # noqa: BLE001 - a candidate that fails is ranked as failed
        row.status, row.reason = "failed", _why(e)
        return None
    row.timings["load"] = time.perf_counter() - t0
    row.identity = backbone.identity
    row.reason = modality_problem(backbone.data_config.modality, dataset, name)
    if row.reason:
        row.status = "refused"
        return None
    t1 = time.perf_counter()
    try:
        feats = backbone_features(
            backbone, dataset, indices, how.cache, device=how.device, batch_size=how.batch_size
        )
    except (KeyboardInterrupt, RunInterrupted):
        raise
    except Exception as e:  # noqa: BLE001
        row.status, row.reason = "failed", f"feature extraction failed: {_why(e)}"
        return None
    row.timings["extract"] = time.perf_counter() - t1
    labels = dataset.labels[indices]
    probs, no_probs = (
        None,
        (f"{name} has no source head (the classifier from its pretraining that LEEP and NCE need)"),
    )
    if any(s.needs_source for s in scorers.values()):
        try:
            probs = source_probabilities(backbone, feats)
        except Exception as e:  # noqa: BLE001 - e.g. a head that does not fit the features
            no_probs = f"the source head of {name} failed: {_why(e)}"
    for sname, scorer in scorers.items():
        row.scores[sname] = None
        if scorer.needs_source and probs is None:
            row.empty[sname] = no_probs
            continue
        t2 = time.perf_counter()
        try:
            row.scores[sname] = scorer.score(feats, labels, probs)
        except Exception as e:  # noqa: BLE001 - one score failing leaves the others
            row.empty[sname] = _why(e)
        row.timings[sname] = time.perf_counter() - t2
    return feats


def make_scorer(name: str, options: dict[str, Any], seed: int = 0) -> Any:
    """The registered score ``name`` with its own options taken from the flat ``options``
    (``knn_k``, ...; see :mod:`transferkit.config.options`) and ``seed`` if it takes one."""
    cls = SCORES.get(name)
    opts = resolve(SCORES, name, options)
    params = dataclasses.asdict(opts) if opts is not None else {}
    if "seed" in inspect.signature(cls).parameters:
        params["seed"] = seed
    return cls(**params)


def scorers_for(names: list[str], options: dict[str, Any], seed: int) -> dict[str, Any]:
    """The scorers of ``names``; refuses options that none of them takes."""
    resolved_values(SCORES, names, options)
    return {n: make_scorer(n, options, seed) for n in names}


def ordered(rows: list[RankRow], primary: str) -> tuple[list[RankRow], list[str]]:
    """Rows with a ``primary`` score first, best first (ties keep the given order); then the
    rest. Also the names of the scored ones, best first."""
    scored = [r for r in rows if r.scores.get(primary) is not None]
    scored.sort(key=lambda r: -r.scores[primary])
    rest = [r for r in rows if r.scores.get(primary) is None]
    return scored + rest, [r.model for r in scored]


def _why(e: BaseException) -> str:
    return str(e) if isinstance(e, UserError) else f"{type(e).__name__}: {e}"
