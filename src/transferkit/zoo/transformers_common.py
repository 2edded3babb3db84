"""What every transformers model of the zoo shares: its tokenizer, loaded from the folder its
data config names (never a download), its config as the JSON the spec stores, and quiet
transformers logging."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from transferkit.errors import UserError
from transferkit.zoo.base import DataConfig

POOLING = ("mean", "cls", "max")
MAX_TOKENS = 512  # cap for models whose tokenizer sets no usable limit


@functools.cache
def quiet_transformers() -> None:
    """No load reports, warnings or progress bars from transformers (progress is ours)."""
    from transformers.utils import logging

    logging.set_verbosity_error()
    logging.disable_progress_bar()


@functools.lru_cache(maxsize=8)
def load_tokenizer(path: str):
    """The tokenizer saved in folder ``path`` (transformers' AutoTokenizer; never downloads)."""
    if not path:
        raise UserError(
            "This text model has no tokenizer in its data config; it cannot read "
            "text. Load it again through the zoo (minilm-l6, hf:PATH)."
        )
    from transformers import AutoTokenizer

    quiet_transformers()
    try:
        return AutoTokenizer.from_pretrained(path, local_files_only=True)
    except Exception as e:  # noqa: BLE001 - missing files, unknown tokenizer class
        raise UserError(
            f"Could not load the tokenizer from {path} ({type(e).__name__}: "
            f"{str(e)[:200]}). The folder must hold the tokenizer files saved with "
            "the model (tokenizer.json or vocab files, tokenizer_config.json)."
        ) from None


def config_dict(config: Any) -> dict[str, Any]:
    """The transformers config as JSON would give it back (string keys), without the local
    path it was read from: what the spec stores and model.json holds."""
    d = json.loads(json.dumps(config.to_dict(), default=str))
    d.pop("_name_or_path", None)
    return d


def config_from_dict(d: dict[str, Any]):
    from transformers import CONFIG_MAPPING

    d = dict(d)
    return CONFIG_MAPPING[d["model_type"]].from_dict(d)


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
                if cfg.get(
                    f"pooling_mode_{mode}_token" if mode == "cls" else f"pooling_mode_{mode}_tokens"
                ):
                    pooling = mode
                    break
        elif kind.endswith("Normalize"):
            normalize = True
    max_len = _read_json(inner / "sentence_bert_config.json").get("max_seq_length")
    return inner, pooling, normalize, int(max_len) if max_len else None


def max_tokens(config: Any, tokenizer: Any, declared: int | None) -> int:
    limits = [declared or MAX_TOKENS]
    if tokenizer is not None and 0 < getattr(tokenizer, "model_max_length", 0) < 1_000_000:
        limits.append(int(tokenizer.model_max_length))
    positions = getattr(config, "max_position_embeddings", None)
    if positions:
        limits.append(int(positions))
    return min(limits)


def text_data_config(tokenizer: str, limit: int) -> DataConfig:
    """A text model's data config: its tokenizer, and ``limit`` tokens (also recorded as the
    last entry of ``input_size``: the most ``--max-length`` may ask for)."""
    return DataConfig(
        modality="text",
        tokenizer=str(tokenizer),
        max_length=int(limit),
        input_size=(1, 1, int(limit)),
        mean=(0.0,),
        std=(1.0,),
        interpolation="none",
        crop_pct=1.0,
    )
