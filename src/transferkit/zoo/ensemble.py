"""An ensemble of saved models as one model: the weighted average of its members' class
probabilities.

The automatic search ends with one (ensemble selection, Caruana et al., 2004): several
finished fit runs, possibly of different source models, input sizes and strategies, each with a
weight. Its saved form is a ``model.json`` of kind ``ensemble`` that names its members' saved
model folders (relative to its own folder) and holds no weights of its own::

    {"format_version": 1, "kind": "ensemble", "classes": [...],
     "members": [{"run": ID, "weight": w, "path": "../../ID/model", "label": "..."}]}

Prediction runs each member with its own preprocessing
(:func:`transferkit.evaluation.predict.predict_logits`); :meth:`EnsembleModel.forward` takes one
input tensor, preprocessed for the heaviest member, and adapts it to every other member, so that
attributions (``explain``) can follow the averaged prediction back to the pixels or tokens.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from transferkit.errors import UserError
from transferkit.store.artifacts import atomic_write_json
from transferkit.zoo.base import DataConfig

KIND = "ensemble"
FORMAT_VERSION = 1
META = "model.json"  # the same name as a single model's (zoo.checkpoint.META)


class EnsembleModel(nn.Module):
    """Members (each a saved model with a ``data_config``) and their weights (summing to 1).

    ``softmax(forward(x))`` is ``sum_i w_i softmax(member_i(x_i))``; ``data_config`` is the
    heaviest member's (the one with the largest weight, the first among equals)."""

    def __init__(
        self,
        members: list[nn.Module],
        weights: list[float],
        classes: list[str],
        runs: list[str] | None = None,
        labels: list[str] | None = None,
    ) -> None:
        super().__init__()
        w = np.asarray(weights, dtype=np.float64)
        if not len(members) or len(w) != len(members) or (w <= 0).any() or not np.isfinite(w).all():
            raise ValueError(f"an ensemble needs members with positive weights, not {weights}")
        self.members = nn.ModuleList(members)
        self.weights = tuple(float(v) for v in w / w.sum())
        self.classes = list(classes)
        self.runs = list(runs or [""] * len(members))
        self.labels = list(labels or self.runs)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def heaviest(self) -> int:
        """The index of the member with the largest weight."""
        return int(np.argmax(self.weights))

    @property
    def data_config(self) -> DataConfig:
        return self.members[self.heaviest].data_config

    def shared_backbones(self) -> list[list[int]]:
        """The members grouped by the backbone they run: members whose backbones are the same
        model with the same weights and the same preprocessing (the fold models of a linear
        probe, several heads on one frozen source model) compute their features once. Groups
        in member order; a member alone is a group of one."""
        if getattr(self, "_groups", None) is None:
            groups: list[list[int]] = []
            for i, m in enumerate(self.members):
                same = next((g for g in groups if _same_backbone(self.members[g[0]], m)), None)
                if same is None:
                    groups.append([i])
                else:
                    same.append(i)
            self._groups = groups
        return self._groups

    def blend(self, probas: list[np.ndarray]) -> np.ndarray:
        """log(sum_i w_i p_i) of the members' probabilities, as float32 logits whose softmax is
        the weighted average (clipped at float32's smallest normal number: no -inf)."""
        avg = sum(w * np.asarray(p, np.float64) for w, p in zip(self.weights, probas))
        return np.log(np.maximum(avg, np.finfo(np.float32).tiny)).astype(np.float32)

    def check_forward(self) -> None:
        """Refuse (naming why) an ensemble whose members cannot read one shared input: text
        members with different tokenizers, or members of different modalities."""
        kinds = {m.data_config.modality for m in self.members}
        if len(kinds) > 1:
            raise UserError(
                f"The members of this ensemble read different inputs ({', '.join(sorted(kinds))})"
                ", so no single input can be attributed through all of them. Explain its members "
                f"one by one instead: runs {', '.join(self.runs)}."
            )
        if kinds == {"text"}:
            toks = [_tokenizer_signature(m.data_config.tokenizer) for m in self.members]
            if len(set(toks)) > 1:
                raise UserError(
                    "The text members of this ensemble use different tokenizers, so one "
                    "tokenised text cannot be fed to all of them and its tokens cannot be "
                    "attributed through the averaged prediction. Explain its members one by one "
                    f"instead: runs {', '.join(self.runs)}."
                )

    def forward(self, x: Any) -> torch.Tensor:
        """log(sum_i w_i softmax(member_i(x_i))) for attributions: ``x`` is preprocessed with
        :attr:`data_config`; each image member gets it un-normalised, resized (bilinear,
        antialiased) and normalised as it expects; text members share the tokenizer."""
        if isinstance(x, dict):
            self.check_forward()
        parts = []
        for w, member in zip(self.weights, self.members):
            xi = x if isinstance(x, dict) else adapt_image(x, self.data_config, member.data_config)
            xi = _truncated(xi, member.data_config.max_length) if isinstance(x, dict) else xi
            parts.append(torch.log_softmax(member(xi).float(), dim=1) + math.log(w))
        return torch.logsumexp(torch.stack(parts), dim=0)


def _same_backbone(a: nn.Module, b: nn.Module) -> bool:
    """Whether two members' backbones compute the same features from the same inputs."""
    ba, bb = getattr(a, "backbone", None), getattr(b, "backbone", None)
    if ba is None or bb is None or type(ba) is not type(bb):
        return False
    da, db = a.data_config.to_dict(), b.data_config.to_dict()
    ta, tb = da.pop("tokenizer", None), db.pop("tokenizer", None)
    if da != db or (ta != tb and _tokenizer_signature(ta) != _tokenizer_signature(tb)):
        return False  # each saved text model keeps its own copy of the tokenizer
    sa, sb = ba.state_dict(), bb.state_dict()
    return sa.keys() == sb.keys() and all(
        sa[k].shape == sb[k].shape and torch.equal(sa[k], sb[k]) for k in sa
    )


def _per_channel(values: tuple[float, ...], channels: int) -> list[float]:
    """Mean or std with one value per channel (averaged for grey, repeated for colour), as the
    eval transform reads them."""
    v = [float(a) for a in values]
    if len(v) == channels:
        return v
    if channels == 1:
        return [sum(v) / len(v)]
    return v * channels if len(v) == 1 else v[:channels]


def adapt_image(x: torch.Tensor, src: DataConfig, dst: DataConfig) -> torch.Tensor:
    """Images normalised for ``src`` as ``dst`` expects them: un-normalised, converted to its
    channels, resized to its input size, normalised with its mean and std (``x`` itself when
    the two agree)."""
    c_src, c_dst = int(src.input_size[0]), int(dst.input_size[0])
    size = tuple(int(s) for s in dst.input_size[1:])
    m_src, s_src = _per_channel(src.mean, c_src), _per_channel(src.std, c_src)
    m_dst, s_dst = _per_channel(dst.mean, c_dst), _per_channel(dst.std, c_dst)
    if (c_src, m_src, s_src) == (c_dst, m_dst, s_dst) and tuple(x.shape[-2:]) == size:
        return x

    def col(v: list[float]) -> torch.Tensor:
        return torch.tensor(v, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)

    raw = x * col(s_src) + col(m_src)
    if c_src != c_dst:
        raw = raw.mean(1, keepdim=True) if c_dst == 1 else raw[:, :1].expand(-1, c_dst, -1, -1)
    if tuple(raw.shape[-2:]) != size:
        raw = F.interpolate(raw, size=size, mode="bilinear", antialias=True, align_corners=False)
    return (raw - col(m_dst)) / col(s_dst)


def _truncated(enc: dict[str, torch.Tensor], max_length: int) -> dict[str, torch.Tensor]:
    """A tokenised batch cut to a member's ``max_length`` tokens (0: unchanged)."""
    if not max_length:
        return enc
    return {k: v[:, :max_length] if v.ndim == 2 else v for k, v in enc.items()}


def _tokenizer_signature(folder: str) -> tuple:
    """What makes two tokenizers give the same ids: their class and vocabulary."""
    from transferkit.zoo.transformers_common import load_tokenizer

    tok = load_tokenizer(folder)
    return type(tok).__name__, tuple(sorted(tok.get_vocab().items()))


# ------------------------------------------------------------------ the saved form
def is_ensemble(meta: dict[str, Any]) -> bool:
    return meta.get("kind") == KIND


def save_ensemble(folder: Path, members: list[dict[str, Any]], classes: list[str]) -> Path:
    """Write ``folder/model.json`` naming ``members`` (dicts with ``run``, ``weight``,
    ``folder``: the member's saved model folder, and ``label``); returns ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    entries = [
        {
            "run": m["run"],
            "weight": float(m["weight"]),
            "path": Path(os.path.relpath(Path(m["folder"]).resolve(), folder.resolve())).as_posix(),
            "label": str(m.get("label") or m["run"]),
        }
        for m in members
    ]
    meta = {"format_version": FORMAT_VERSION, "kind": KIND, "classes": list(classes)}
    atomic_write_json(folder / META, {**meta, "members": entries})
    return folder


def member_folder(folder: Path, entry: dict[str, Any]) -> Path:
    """The saved model folder of one member, refused (naming the run and the fix) when it is
    gone, or when its path leaves the store the ensemble lives in."""
    folder = Path(folder)
    path = (folder / str(entry.get("path", ""))).resolve()
    store_runs = folder.resolve().parent.parent
    if Path(str(entry.get("path", ""))).is_absolute() or not path.is_relative_to(store_runs):
        raise UserError(
            f"The ensemble in {folder} names member {entry.get('run')} at {entry.get('path')}, "
            "outside the run store it belongs to; the ensemble's model.json is damaged. Run the "
            "search that made it again."
        )
    if not (path / META).is_file():
        raise UserError(
            f"The ensemble in {folder} needs the saved model of its member run "
            f"{entry.get('run')} ({entry.get('label')}), but {path} is gone (the run was "
            "deleted?). An ensemble predicts only with all its members: run the search that "
            "made it again (`transferkit runs show` of the ensemble names it), or use one of "
            "its remaining member runs on its own."
        )
    return path


def load_ensemble(
    folder: Path, meta: dict[str, Any], load_member: Callable[[Path], tuple[nn.Module, list[str]]]
) -> tuple[EnsembleModel, list[str]]:
    """The ensemble saved in ``folder`` (``meta``: its model.json), each member loaded by
    ``load_member`` (:func:`transferkit.zoo.checkpoint.load_model`: this module does not import
    it, so the two do not import each other)."""
    classes = list(meta["classes"])
    models, weights, runs, labels = [], [], [], []
    for entry in meta["members"]:
        model, member_classes = load_member(member_folder(folder, entry))
        if list(member_classes) != classes:
            raise UserError(
                f"Member run {entry.get('run')} of the ensemble in {folder} predicts the "
                f"classes {member_classes[:10]}, not the ensemble's {classes[:10]}; its members "
                "must share the classes, in order. Run the search that made it again."
            )
        models.append(model)
        weights.append(float(entry["weight"]))
        runs.append(str(entry.get("run", "")))
        labels.append(str(entry.get("label", "")))
    return EnsembleModel(models, weights, classes, runs, labels), classes
