"""``rank`` source models for a target task without training them.

Features are extracted once per candidate through the feature cache that ``fit`` uses
(``RunStore().root / "features"``), so ranking and then fitting the winner never computes the
same features twice. The ranking is recorded in the run store (kind ``rank``) and returned as
a plain dataclass. The scores themselves are numpy code in :mod:`transferkit.transferability`;
the source-target distances are in :mod:`transferkit.domain_similarity`.
"""

from __future__ import annotations

import dataclasses
import inspect
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from transferkit import progress
from transferkit.config import DataOptions
from transferkit.data import load_dataset, make_splits
from transferkit.data.base import Dataset
from transferkit.errors import RunInterrupted, UserError
from transferkit.store import RunStore, recording
from transferkit.transferability import SCORES
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


@dataclass
class RankResult:
    """What :func:`rank` returns. ``rows`` are in ranked order (candidates with a primary
    score first, best first; then the others in the order given); ``order`` names the
    candidates that have a primary score, best first."""

    rows: list[RankRow]
    order: list[str]
    primary: str
    scores: list[str]
    data: str
    n_examples: int
    num_classes: int
    run_id: str | None = None
    seconds: float = 0.0

    @property
    def best(self) -> str | None:
        return self.order[0] if self.order else None

    def row(self, model: str) -> RankRow:
        for r in self.rows:
            if r.model == model:
                return r
        raise KeyError(model)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


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
    return UserError(f"No model in the zoo matches {pattern!r}. The zoo has: {known}; "
                     "timm:PATTERN and torchvision:PATTERN list those libraries' models "
                     "(see `transferkit zoo`).")


def rank_sample(dataset: Dataset, *, seed: int, max_examples: int | None,
                labels_per_class: int | None) -> np.ndarray:
    """The examples ranking looks at: the labelled (train + validation) part of ``fit``'s
    split for this seed and label budget, never its test set, stratified down to
    ``max_examples``."""
    d = DataOptions()  # fit's defaults, so the test examples are the ones fit holds out
    splits = make_splits(dataset, seed=seed, labels_per_class=labels_per_class,
                         test_fraction=d.test_fraction, max_test=d.max_test)
    pool = np.sort(np.concatenate([splits.train, splits.val]))
    if max_examples is not None:
        if max_examples < 1:
            raise UserError(f"max_examples must be positive, got {max_examples}.")
        pool = stratified_subsample(dataset.labels, pool, max_examples, seed)
    return pool


def backbone_features(backbone: Any, dataset: Dataset, indices: np.ndarray, store: RunStore,
                      *, device: str = "auto", batch_size: int = 64) -> np.ndarray:
    """Features through the run store's shared feature cache (the one ``fit`` uses)."""
    from transferkit import distributed
    from transferkit.features import FeatureCache, extract_features

    return extract_features(backbone, dataset, indices, device=distributed.device_for(device),
                            cache=FeatureCache(store.root / "features"), batch_size=batch_size,
                            description=f"features {backbone.name}")


def source_probabilities(backbone: Any, features: np.ndarray) -> np.ndarray | None:
    """Softmax of the backbone's source head on pooled features; None without a head."""
    head = getattr(backbone, "source_head", None)
    if head is None:
        return None
    w = head.weight.detach().double().cpu().numpy()
    b = head.bias.detach().double().cpu().numpy() if head.bias is not None else 0.0
    logits = features.astype(np.float64) @ w.T + b
    logits -= logits.max(axis=1, keepdims=True)
    p = np.exp(logits)
    return p / p.sum(axis=1, keepdims=True)


def check_modality(backbone: Any, dataset: Dataset, name: str) -> str:
    have = backbone.data_config.modality
    if have != dataset.modality:
        return (f"{name} is a {have} model but {dataset.name} holds {dataset.modality} data; "
                "it cannot embed this data.")
    return ""


def _score_candidate(row: RankRow, name: str, dataset: Dataset, indices: np.ndarray,
                     scorers: dict[str, Any], store: RunStore, opts: dict[str, Any]) -> None:
    """Load, extract and score one candidate into ``row``; never raises for its failures."""
    from transferkit.zoo import create_backbone

    t0 = time.perf_counter()
    try:
        backbone = create_backbone(name, image_size=opts["image_size"])
    except Exception as e:  # noqa: BLE001 - a candidate that fails is ranked as failed
        row.status, row.reason = "failed", _why(e)
        return
    row.timings["load"] = time.perf_counter() - t0
    row.identity = backbone.identity
    row.reason = check_modality(backbone, dataset, name)
    if row.reason:
        row.status = "refused"
        return
    t1 = time.perf_counter()
    try:
        feats = backbone_features(backbone, dataset, indices, store, device=opts["device"],
                                  batch_size=opts["batch_size"])
    except (KeyboardInterrupt, RunInterrupted):
        raise
    except Exception as e:  # noqa: BLE001
        row.status, row.reason = "failed", f"feature extraction failed: {_why(e)}"
        return
    row.timings["extract"] = time.perf_counter() - t1
    labels = dataset.labels[indices]
    probs, no_probs = None, (f"{name} has no source head (the classifier from its pretraining "
                             "that LEEP and NCE need)")
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


def make_scorer(name: str, params: dict[str, Any], seed: int = 0) -> Any:
    """The registered score ``name`` with ``params`` (and ``seed`` if it takes one)."""
    cls = SCORES.get(name)
    if "seed" in inspect.signature(cls).parameters:
        params = {"seed": seed, **params}
    try:
        return cls(**params)
    except TypeError as e:
        raise UserError(f"Bad options {params} for the score {name!r}: {e}.") from None


def _why(e: BaseException) -> str:
    return str(e) if isinstance(e, UserError) else f"{type(e).__name__}: {e}"


def _ordered(rows: list[RankRow], primary: str) -> tuple[list[RankRow], list[str]]:
    scored = [r for r in rows if r.scores.get(primary) is not None]
    scored.sort(key=lambda r: -r.scores[primary])  # stable: ties keep the given order
    rest = [r for r in rows if r.scores.get(primary) is None]
    return scored + rest, [r.model for r in scored]


def rank(
    data: str | Dataset,
    models: list[str] | str,
    *,
    scores: tuple[str, ...] | list[str] | str = DEFAULT_SCORES,
    max_examples: int | None = None,
    seed: int = 0,
    labels_per_class: int | None = None,
    image_size: int | None = None,
    score_params: dict[str, dict[str, Any]] | None = None,
    device: str = "auto",
    batch_size: int = 64,
    store: RunStore | None = None,
    text_column: str | None = None,
    label_column: str | None = None,
) -> RankResult:
    """Rank source ``models`` for the labelled target ``data`` by transferability scores.

    The first of ``scores`` orders the table. Each candidate is loaded, its features are
    extracted once (cached) on the labelled part of ``fit``'s split (a stratified sample of
    ``max_examples`` when given) and every score is computed. LEEP and NCE need the source
    head; without one their cell is empty with a reason. A candidate that fails to load or
    has the wrong modality is listed with the reason, and the others are still scored.
    ``score_params`` passes options to a score, e.g. ``{"knn": {"k": 10}}``.
    ``text_column`` / ``label_column`` name the columns of a text table (or a manifest's label).
    """
    t_start = time.perf_counter()
    if image_size is not None and image_size < 1:
        raise UserError(f"--image-size must be at least 1 (got {image_size}).")
    names = [s.strip().lower() for s in (scores.split(",") if isinstance(scores, str) else scores)]
    names = list(dict.fromkeys(n for n in names if n))
    if not names:
        raise UserError(f"No scores given; choose from {', '.join(SCORES.list())}.")
    params = score_params or {}
    scorers = {n: make_scorer(n, params.get(n, {}), seed) for n in names}
    for n in set(params) - set(names):
        SCORES.get(n)
    candidates, problems = expand_models(models)
    store = store or RunStore()
    dataset = load_dataset(data, text_column=text_column, label_column=label_column) \
        if isinstance(data, str) else data
    if dataset.labels is None:
        raise UserError(f"{dataset.name} has no labels; ranking source models needs labelled "
                        "target data (one sub-folder per class, or a label column).")
    indices = rank_sample(dataset, seed=seed, max_examples=max_examples,
                          labels_per_class=labels_per_class)
    k = len(np.unique(dataset.labels[indices]))
    config = {"data": data if isinstance(data, str) else dataset.name, "models": candidates,
              "scores": names, "max_examples": max_examples, "seed": seed,
              "labels_per_class": labels_per_class, "image_size": image_size,
              "score_params": params}
    run_id = store.create("rank", config, seed=seed, data_fingerprint=dataset.fingerprint)
    store.update(run_id, extra={"dataset": dataset.summary(), "n_examples": len(indices)})
    progress.info(f"run {run_id}: ranking {len(candidates)} models on {dataset.name} "
                  f"({len(indices)} examples, {k} classes) by {', '.join(names)}")
    opts = {"image_size": image_size, "device": device, "batch_size": batch_size}
    rows = []
    with recording(store, run_id):
        for name in candidates:
            row = RankRow(name, scores=dict.fromkeys(names))
            t0 = time.perf_counter()
            if name in problems:
                row.status, row.reason = "failed", problems[name]
            else:
                progress.info(f"rank: {name}")
                _score_candidate(row, name, dataset, indices, scorers, store, opts)
            row.seconds = time.perf_counter() - t0
            rows.append(row)
    rows, order = _ordered(rows, names[0])
    total = time.perf_counter() - t_start
    timings = {"total": total}
    for r in rows:
        timings.update({f"{r.model}/{part}": v for part, v in r.timings.items()})
    metrics = {f"{names[0]}/{r.model}": r.scores[names[0]] for r in rows
               if r.scores.get(names[0]) is not None}
    store.update(run_id, extra={"table": [dataclasses.asdict(r) for r in rows], "order": order})
    store.finish(run_id, metrics=metrics, timings=timings)
    return RankResult(rows, order, names[0], names, config["data"], len(indices), k, run_id,
                      total)
