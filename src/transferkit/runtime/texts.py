"""Text inputs without transformers: the export's ``tokenizer/tokenizer.json`` through the
``tokenizers`` library, set up as the run's collate calls transformers' fast tokenizer
(``padding=True, truncation=True, max_length=...``): special tokens added, truncated to the
export's ``max_length`` (the tokenizer's ``model_max_length`` when it has none), padded with the
tokenizer's pad token to the longest text of the batch."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from transferkit.errors import UserError

_NO_LIMIT = 10**6  # transformers writes a huge model_max_length when a tokenizer has none


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def _token(value: Any) -> str | None:
    """A special token as tokenizer_config / special_tokens_map write it (str or dict)."""
    if isinstance(value, dict):
        return value.get("content")
    return value if isinstance(value, str) else None


class TextEncoder:
    """Strings -> the int64 arrays the graph takes (input_ids, attention_mask, token_type_ids)."""

    def __init__(self, folder: Path, prep: dict[str, Any]) -> None:
        from tokenizers import Tokenizer  # text only: image predictions do not need it

        tok_dir = folder / str(prep.get("tokenizer") or "tokenizer")
        path = tok_dir / "tokenizer.json"
        if not path.is_file():
            raise UserError(
                f"The text export {folder} has no {path.relative_to(folder)}. The folder is "
                "incomplete: export the run again."
            )
        try:
            self.tokenizer = Tokenizer.from_file(str(path))
        except Exception as e:  # noqa: BLE001 - tokenizers raises its own Exception subclasses
            raise UserError(
                f"{path} cannot be loaded ({type(e).__name__}: {e}). Export the run again."
            ) from None
        settings = {**_read_json(tok_dir / "special_tokens_map.json")}
        settings.update(_read_json(tok_dir / "tokenizer_config.json"))
        limit = int(prep.get("max_length") or settings.get("model_max_length") or 0)
        self.max_length = limit if 0 < limit < _NO_LIMIT else None
        pad = _token(settings.get("pad_token"))
        pad_id = self.tokenizer.token_to_id(pad) if pad else None
        self.pad_token, self.pad_id = (pad, pad_id) if pad_id is not None else ("[PAD]", 0)
        self.pad_left = settings.get("padding_side") == "left"
        self.tokenizer.no_padding()
        self.tokenizer.no_truncation()
        if self.max_length:
            self.tokenizer.enable_truncation(self.max_length)
        self.tokenizer.enable_padding(
            direction="left" if self.pad_left else "right",
            pad_id=self.pad_id,
            pad_token=self.pad_token,
        )

    def __call__(self, texts: list[str]) -> dict[str, np.ndarray]:
        """The batch's encodings, padded to its longest text (as the run's dynamic padding)."""
        encodings = self.tokenizer.encode_batch(list(texts))
        return {
            "input_ids": np.asarray([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": np.asarray([e.attention_mask for e in encodings], dtype=np.int64),
            "token_type_ids": np.asarray([e.type_ids for e in encodings], dtype=np.int64),
        }


def as_text(item: Any, index: int) -> str:
    """One input of a text model: a string (a path to an image, or an array, is refused)."""
    if isinstance(item, str):
        return item
    kind = type(item).__name__
    if isinstance(item, Path) or kind in ("ndarray", "Image") or hasattr(item, "getpixel"):
        raise UserError(
            f"Input {index} is an image ({kind}), but this is a text model: it takes strings. "
            "Predict images with an exported image model."
        )
    raise UserError(f"Input {index} is a {kind}; a text model takes strings.")
