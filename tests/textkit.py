"""Helpers for the text tests: a small topic corpus and a small WordPiece tokenizer."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import torch

TOPICS = {
    "sports": "game team score goal player match win season coach league",
    "politics": "election vote government minister party law senate policy president campaign",
    "technology": "computer software chip internet code data robot phone network algorithm",
}
FILLER = "the a of in and was about this news today report story new people said"
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def topic_rows(n_per_class: int = 12, seed: int = 0) -> list[dict[str, str]]:
    """Short texts built from each topic's words plus shared filler words."""
    rng = np.random.default_rng(seed)
    filler = FILLER.split()
    rows = []
    for label, words in TOPICS.items():
        words = words.split()
        for _ in range(n_per_class):
            picked = list(rng.choice(words, 3, replace=False)) + list(rng.choice(filler, 4))
            rng.shuffle(picked)
            rows.append({"text": " ".join(picked), "label": label})
    order = rng.permutation(len(rows))
    return [rows[i] for i in order]


def write_csv(path: Path, rows: list[dict], delimiter: str = ",") -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]), delimiter=delimiter)
        w.writeheader()
        w.writerows(rows)
    return path


def vocab() -> list[str]:
    words = sorted({w for ws in TOPICS.values() for w in ws.split()} | set(FILLER.split()))
    extra = ["this", "text", "is", "photo", "cat", "dog", ".", "{", "}"]
    return SPECIAL + sorted(set(words + extra))


def save_tokenizer(folder: Path) -> None:
    from transformers import BertTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(vocab()) + "\n")
    BertTokenizer(
        str(folder / "vocab.txt"), do_lower_case=True, model_max_length=64
    ).save_pretrained(str(folder))


def make_tiny_bert(folder: Path) -> Path:
    """A 2-layer, 32-wide BERT with random weights and a WordPiece tokenizer, in a folder."""
    from transformers import BertConfig, BertModel

    save_tokenizer(folder)
    config = BertConfig(
        vocab_size=len(vocab()),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    torch.manual_seed(1234)  # not 0: fresh weights seeded with 0 must differ
    BertModel(config).save_pretrained(str(folder))
    return folder


def make_tiny_clip(folder: Path) -> Path:
    """A tiny randomly initialised CLIP (32 px images) with a tokenizer and preprocessing."""
    from transformers import CLIPConfig, CLIPModel

    save_tokenizer(folder)
    sep = vocab().index("[SEP]")
    config = CLIPConfig(
        text_config=dict(
            vocab_size=len(vocab()),
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=64,
            max_position_embeddings=32,
            eos_token_id=sep,
            pad_token_id=0,
            bos_token_id=vocab().index("[CLS]"),
        ),
        vision_config=dict(
            image_size=32,
            patch_size=8,
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=64,
        ),
        projection_dim=16,
    )
    torch.manual_seed(1234)
    CLIPModel(config).save_pretrained(str(folder))
    (folder / "preprocessor_config.json").write_text(
        json.dumps(
            {
                "crop_size": {"height": 32, "width": 32},
                "size": {"shortest_edge": 32},
                "image_mean": [0.48145466, 0.4578275, 0.40821073],
                "image_std": [0.26862954, 0.26130258, 0.27577711],
                "resample": 3,
                "image_processor_type": "CLIPImageProcessor",
            }
        )
    )
    return folder
