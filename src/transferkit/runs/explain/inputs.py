"""The inputs of ``explain``, checked before anything is computed: readable, of the model's
modality, not more than ``--max`` (64 without it), and the classes to explain known."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from transferkit.config import ExplainConfig
from transferkit.data import IMAGE_EXTENSIONS, FileDataset, load_dataset
from transferkit.data.base import Dataset
from transferkit.errors import UserError, suggest

#: Without --max, explain refuses more inputs than this: each costs many forward and backward
#: passes (integrated gradients: --ig-steps of them).
DEFAULT_MAX = 64

_WHAT = {
    "image": "images (an image file, a folder of images, or a dataset spec such as builtin:digits)",
    "text": "texts (a .csv/.tsv/.jsonl/.parquet table with a text column, or a .txt file "
    "with one text per line)",
}


def _read(cfg: ExplainConfig) -> Dataset:
    path = Path(str(cfg.inputs)).expanduser()
    if path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS:  # a single image
        return FileDataset([str(path)], None, [], root=str(path.parent), name=path.name)
    return load_dataset(
        str(cfg.inputs),
        validate=False,
        strict=cfg.strict,
        text_column=cfg.text_column,
        label_column=cfg.label_column,
    )


def read_inputs(cfg: ExplainConfig, modality: str, run_id: str) -> tuple[Dataset, np.ndarray]:
    """The inputs and the indices to explain (all, or a seeded sample of ``--max``)."""
    dataset = _read(cfg)
    if len(dataset) == 0:
        raise UserError(f"No usable inputs in {cfg.inputs}. Give {_WHAT[modality]}.")
    if dataset.modality != modality:
        raise UserError(
            f"The model of run {run_id} reads {modality} inputs, but {cfg.inputs} holds "
            f"{dataset.modality}. Give {_WHAT[modality]}, or explain a run whose model reads "
            f"{dataset.modality} (see `transferkit runs list`)."
        )
    n = len(dataset)
    unit = "images" if modality == "image" else "texts"
    if cfg.max_inputs is None:
        if n > DEFAULT_MAX:
            raise UserError(
                f"{cfg.inputs} holds {n} {unit}; explain takes at most {DEFAULT_MAX} without "
                f"--max, as each costs many forward and backward passes. Pass --max {n} to "
                f"explain them all, or --max {DEFAULT_MAX} for a seeded sample of "
                f"{DEFAULT_MAX}."
            )
        return dataset, np.arange(n)
    if n <= cfg.max_inputs:
        return dataset, np.arange(n)
    rng = np.random.default_rng(cfg.seed)
    return dataset, np.sort(rng.choice(n, cfg.max_inputs, replace=False))


def targets_of(names: list[str], classes: list[str]) -> list[int | None]:
    """The class indices to explain (``[None]``: each input's predicted class)."""
    if not names:
        return [None]
    for name in names:
        if name not in classes:
            shown = ", ".join(classes[:20]) + (" ..." if len(classes) > 20 else "")
            raise UserError(
                f"--classes names {name!r}, which is not a class of this model."
                f"{suggest(name, classes)} Its classes: {shown}."
            )
    return [classes.index(c) for c in names]
