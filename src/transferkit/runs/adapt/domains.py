"""Checking an adaptation request and preparing its data, before anything trains.

Refuses, with the problem and the fix: unknown or repeated methods, impossible settings,
source and target of different modalities (or a backbone of another one), different class
sets (unless ``allow_partial``, which then reports the missing classes), target labels asked
for where there are none, a target smaller than one batch, and shallow methods on a backbone
with fresh weights. Warns when source and target are the same data, and when the target has
labels that will be ignored (pass ``target_labels_for_eval`` to see them in the report).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from transferkit import progress
from transferkit.adaptation.base import DEEP_METHODS, SHALLOW_METHODS, method_class
from transferkit.adaptation.selection import check_rule
from transferkit.adaptation.task import UnlabelledView
from transferkit.config import AdaptConfig, range_problems
from transferkit.config.options import resolve
from transferkit.data import load_dataset, make_splits
from transferkit.data.base import Dataset
from transferkit.data.splits import check_labels
from transferkit.errors import UserError
from transferkit.transferability.sampling import sample_indices, stratified_subsample


@dataclass
class AdaptData:
    """The loaded domains. ``eval_labels``: target labels mapped into the source's classes
    (-1: a class the source lacks), present only with ``target_labels_for_eval``."""

    source: Dataset
    target: Dataset
    view: UnlabelledView
    eval_labels: np.ndarray | None = None
    missing: dict[str, list[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def check_config(cfg: AdaptConfig) -> None:
    """Refuse settings that cannot work, before any data is loaded."""
    if not cfg.source or not cfg.target:
        raise UserError(
            "adapt needs both --source (labelled) and --target data, e.g. "
            "--source builtin:mnist5k --target builtin:digits."
        )
    if not cfg.methods:
        raise UserError("Give at least one method, e.g. --method dann,source-only.")
    for m in cfg.methods:
        method_class(m)  # unknown name: UserError listing the known ones
    if len(set(cfg.methods)) != len(cfg.methods):
        raise UserError(f"A method is listed twice in --method {','.join(cfg.methods)}.")
    check_rule(cfg.select)
    problems = range_problems(cfg)
    if not cfg.trade_offs:
        problems.append("--trade-off needs at least one positive number")
    if cfg.batch_size < 2:
        problems.append("--batch-size must be at least 2 (the losses compare examples)")
    if problems:
        raise UserError("Invalid settings: " + "; ".join(problems) + ".")
    shallow = [m for m in cfg.methods if m in SHALLOW_METHODS]
    if shallow and cfg.scratch:
        raise UserError(
            f"{', '.join(shallow)} adapt fixed features of a pretrained backbone, "
            "but --scratch gives it fresh (random) weights. Drop --scratch for these "
            f"methods, or use the deep ones ({DEEP_METHODS.names()})."
        )
    for m in cfg.methods:
        resolve(DEEP_METHODS if m in DEEP_METHODS else SHALLOW_METHODS, m, cfg.options)


def _class_sets(source: Dataset, target: Dataset, allow_partial: bool) -> dict[str, list[str]]:
    if target.labels is None or not target.classes:
        return {}
    src, tgt = list(source.classes), list(target.classes)
    only_s = [c for c in src if c not in set(tgt)]
    only_t = [c for c in tgt if c not in set(src)]
    if not only_s and not only_t:
        return {}
    listed = (
        f"classes only in the source: {', '.join(map(repr, only_s[:20])) or 'none'}; "
        f"only in the target: {', '.join(map(repr, only_t[:20])) or 'none'}"
    )
    if not allow_partial:
        raise UserError(
            f"{source.name} and {target.name} have different class sets ({listed}). "
            "Adaptation assumes one label space; align the class names, or pass "
            "--allow-partial to adapt anyway and have the missing classes reported."
        )
    progress.info(f"warning: partial class overlap ({listed})")
    return {"source_only": only_s, "target_only": only_t}


def check_modalities(source: Dataset, target: Dataset) -> None:
    """One modality on both sides (images and images, or texts and texts)."""
    if source.modality != target.modality:
        raise UserError(
            f"The source {source.name!r} holds {source.modality} data but the target "
            f"{target.name!r} holds {target.modality} data; adaptation needs one "
            "modality on both sides (e.g. images and images)."
        )


def load_domains(cfg: AdaptConfig) -> AdaptData:
    """Load and check both domains (see the module docstring for what is refused)."""
    columns = {"text_column": cfg.text_column, "label_column": cfg.label_column}
    source = load_dataset(cfg.source, strict=cfg.strict, **columns)
    check_labels(source.labels, source.classes, f"The source {cfg.source!r}")
    target = load_dataset(cfg.target, strict=cfg.strict, validate=False, **columns)
    check_modalities(source, target)
    if len(target) < 2:
        raise UserError(
            f"The target {cfg.target!r} has {len(target)} usable examples; "
            "adaptation needs unlabelled target examples (at least one batch)."
        )
    data = AdaptData(source, target, UnlabelledView(target))
    if source.fingerprint == target.fingerprint or cfg.source.strip() == cfg.target.strip():
        note = (
            f"warning: the source and target are the same data ({cfg.source}); there is "
            "no domain shift to adapt to, so expect no gain over source-only."
        )
        progress.info(note)
        data.notes.append(note)
    data.missing = _class_sets(source, target, cfg.allow_partial)
    if cfg.target_labels_for_eval:
        if target.labels is None:
            raise UserError(
                f"--target-labels-for-eval was given, but the target {cfg.target!r} "
                "has no labels. Drop the flag, or give a labelled target (one "
                "sub-folder per class, or a label column)."
            )
        pos = {c: i for i, c in enumerate(source.classes)}
        mapping = np.array([pos.get(c, -1) for c in target.classes], dtype=np.int64)
        data.eval_labels = mapping[np.asarray(target.labels, dtype=np.int64)]
    elif target.labels is not None:
        note = (
            f"note: the target {cfg.target!r} has labels; they are ignored (not used for "
            "training, selection or the report). Pass --target-labels-for-eval to see "
            "target accuracy in the report, next to the oracle choice."
        )
        progress.info(note)
        data.notes.append(note)
    return data


def seed_indices(data: AdaptData, cfg: AdaptConfig, seed: int) -> dict[str, np.ndarray]:
    """Per seed: source train / validation (stratified, capped by max_source), the target
    examples used (uniform: target labels are never read), and the fixed subsets the
    selection rule and the report's distances use."""
    splits = make_splits(data.source, seed=seed, val_fraction=cfg.val_fraction, test_fraction=0.0)
    train, val = splits.train, splits.val
    if cfg.max_source is not None and cfg.max_source < len(train) + len(val):
        n_val = max(2, int(round(cfg.max_source * cfg.val_fraction)))
        labels = data.source.labels
        train = stratified_subsample(labels, train, max(2, cfg.max_source - n_val), seed)
        val = stratified_subsample(labels, val, n_val, seed, min_per_class=0)
    target = sample_indices(None, len(data.target), cfg.max_target, seed)
    if len(target) < cfg.batch_size:
        raise UserError(
            f"The target has {len(target)} examples, fewer than one batch "
            f"(--batch-size {cfg.batch_size}): the adaptation losses compare a "
            f"whole target batch with a source batch. Lower --batch-size to at most "
            f"{len(target)}, or add target examples."
        )
    rng = np.random.default_rng([seed, 11])
    n_sel = cfg.selection_examples
    sel_s, sel_t = (np.sort(rng.permutation(a)[:n_sel]) for a in (train, target))
    n_pad = min(len(val), len(target), n_sel)
    pad_s, pad_t = (np.sort(rng.permutation(a)[:n_pad]) for a in (val, target))
    return {
        "train": train,
        "val": val,
        "target": target,
        "sel_source": sel_s,
        "sel_target": sel_t,
        "pad_source": pad_s,
        "pad_target": pad_t,
    }


def check_batchnorm(methods: list[str], backbone: torch.nn.Module, model: str) -> None:
    """Refuse methods that work through BatchNorm (``adabn``) on a backbone without it."""
    need = [m for m in methods if m in DEEP_METHODS and DEEP_METHODS.get(m).needs_batchnorm]
    if need and not any(
        isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in backbone.modules()
    ):
        raise UserError(
            f"{', '.join(need)} re-estimates BatchNorm statistics on the target, "
            f"but {model} has no BatchNorm layers (it normalises per example, e.g. "
            "LayerNorm): the result would be source-only. Use another method "
            "(dann, cdan, dan, coral, mcc) or a backbone with BatchNorm."
        )
