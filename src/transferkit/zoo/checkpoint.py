"""Saved transferkit models: a backbone plus its new head, as safetensors and JSON.

A saved model is a folder with ``model.safetensors`` (the state dict of a
:class:`TransferModel`) and ``model.json`` (the backbone spec, its data config and the head
shape); a text model also gets ``tokenizer/`` (its tokenizer's files), so the folder alone is
enough to predict. An ensemble's folder (:mod:`transferkit.zoo.ensemble`) names its members'
folders instead. Loading rebuilds the architecture from the spec through the zoo (no pretrained
download) and reads the weights with safetensors: no pickle, no code executed from the file.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file
from torch import nn

from transferkit.errors import UserError
from transferkit.store.artifacts import atomic_save_tensors, atomic_write_json
from transferkit.zoo.base import Backbone, BackboneSpec, DataConfig
from transferkit.zoo.ensemble import EnsembleModel, is_ensemble, load_ensemble

FORMAT_VERSION = 1
WEIGHTS = "model.safetensors"
META = "model.json"
TOKENIZER = "tokenizer"


class TransferModel(nn.Module):
    """A backbone and a linear head: ``forward(x) = head(backbone.forward_features(x))``."""

    def __init__(self, backbone: Backbone, num_classes: int) -> None:
        super().__init__()
        self.backbone = backbone
        with warnings.catch_warnings():  # num_classes 0: a headless encoder (from pretrain)
            warnings.simplefilter("ignore", UserWarning)
            self.head = nn.Linear(backbone.num_features, num_classes)

    @property
    def data_config(self) -> DataConfig:
        return self.backbone.data_config

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone.forward_features(x))


def _unshare(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """safetensors refuses tensors that share memory (tied weights): store copies."""
    seen: set[int] = set()
    out = {}
    for k, v in state.items():
        ptr = v.untyped_storage().data_ptr() if v.numel() else -1
        out[k] = v.clone() if ptr in seen else v
        if ptr != -1:
            seen.add(ptr)
    return out


def save_model(model: TransferModel, folder: Path, classes: list[str], extra=None) -> Path:
    """Save ``model`` and its class names into ``folder``; returns the folder."""
    folder = Path(folder)
    data_config = model.backbone.data_config.to_dict()
    if data_config.get("tokenizer"):
        data_config["tokenizer"] = _save_tokenizer(data_config["tokenizer"], folder)
    meta = {
        "format_version": FORMAT_VERSION,
        "backbone": {"name": model.backbone.spec.name, "kwargs": model.backbone.spec.kwargs},
        "data_config": data_config,
        "num_features": model.backbone.num_features,
        "num_classes": model.head.out_features,
        "classes": list(classes),
        "extra": extra or {},
    }
    atomic_save_tensors(folder / WEIGHTS, _unshare(model.state_dict()))
    atomic_write_json(folder / META, meta)
    return folder


def _save_tokenizer(source: str, folder: Path) -> str:
    """Copy the tokenizer at ``source`` into ``folder/tokenizer`` (atomically, by rename);
    returns the name to record, relative to the model folder."""
    from transferkit.zoo.transformers_common import load_tokenizer

    target = folder / TOKENIZER
    if Path(source).resolve() == target.resolve():
        return TOKENIZER
    folder.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder, prefix=f".{TOKENIZER}.", suffix=".tmp"))
    try:
        load_tokenizer(source).save_pretrained(str(tmp))
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return TOKENIZER


def _read_json(folder: Path) -> dict[str, Any]:
    """The parsed ``model.json`` of ``folder`` (a single model's or an ensemble's)."""
    meta_path = Path(folder) / META
    if not meta_path.is_file():
        raise UserError(
            f"{folder} holds no saved transferkit model ({META} and {WEIGHTS} expected). "
            "Point to the artifact folder of a finished run, or run `transferkit fit` first."
        )
    try:
        return json.loads(meta_path.read_text())
    except json.JSONDecodeError as e:
        raise UserError(f"{meta_path} is not valid JSON ({e}); the saved model is damaged.") from e


def read_meta(folder: Path) -> dict[str, Any]:
    """The ``model.json`` of a single saved model (an ensemble's is refused: it has no
    backbone of its own to reuse)."""
    folder = Path(folder)
    meta = _read_json(folder)
    if is_ensemble(meta):
        runs = ", ".join(str(m.get("run")) for m in meta.get("members", []))
        raise UserError(
            f"{folder} holds an ensemble (members: runs {runs}), not a single model with a "
            "backbone, so it cannot be used as a source model. Use one of its member runs "
            "(`run:ID`) instead."
        )
    if not (folder / WEIGHTS).is_file():
        raise UserError(
            f"{folder} holds no saved transferkit model ({META} and {WEIGHTS} expected). "
            "Point to the artifact folder of a finished run, or run `transferkit fit` first."
        )
    return meta


def saved_data_config(meta: dict[str, Any], folder: Path) -> dict[str, Any]:
    """The saved data config, its tokenizer resolved to the copy inside ``folder``."""
    d = dict(meta["data_config"])
    tok = d.get("tokenizer")
    if tok and (Path(folder) / tok).is_dir():
        d["tokenizer"] = str(Path(folder) / tok)
    return d


def load_model(folder: Path) -> tuple[TransferModel | EnsembleModel, list[str]]:
    """Rebuild a saved model (architecture from the zoo, weights from safetensors); for an
    ensemble's folder, the :class:`~transferkit.zoo.ensemble.EnsembleModel` of its members,
    each loaded from its own run's folder."""
    from transferkit.zoo.factory import build_from_spec  # the zoo imports this module

    folder = Path(folder)
    if is_ensemble(_read_json(folder)):
        return load_ensemble(folder, _read_json(folder), load_model)
    meta = read_meta(folder)
    spec = BackboneSpec(meta["backbone"]["name"], dict(meta["backbone"].get("kwargs", {})))
    backbone = build_from_spec(spec, DataConfig.from_dict(saved_data_config(meta, folder)))
    model = TransferModel(backbone, int(meta["num_classes"]))
    state = load_file(str(folder / WEIGHTS))
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise UserError(
            f"The weights in {folder / WEIGHTS} do not match the architecture "
            f"{spec.name} ({len(missing)} missing, {len(unexpected)} unexpected keys)."
        )
    model.backbone.invalidate_identity()
    return model, list(meta["classes"])
