"""``predict --model``: an exported model folder (``transferkit export``) on new inputs,
through :mod:`transferkit.runtime`: no run store, and PyTorch is never imported on this path
(the data readers it uses for tables are torch-free; a test checks it)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from transferkit.errors import UserError


def predict_exported(model: str, inputs: str, *, batch_size: int) -> list[dict[str, Any]]:
    """Rows of ``predict --model``: an image or a folder of images (at any depth) for an image
    model; otherwise what the run path reads (a text table, an image manifest), with the same
    item names. Unreadable images are skipped and named on stderr, as the run path does."""
    from transferkit.runtime import Predictor
    from transferkit.runtime.images import IMAGE_EXTENSIONS, image_files, read_image

    if not inputs:
        raise UserError("predict --model DIR needs INPUTS: an image, a folder of images or texts.")
    predictor = Predictor(model)
    path = Path(inputs)
    images = path.is_dir() or path.suffix.lower() in IMAGE_EXTENSIONS
    if images and predictor.modality == "text":
        raise UserError(
            f"The exported model {model} is a text model but {inputs} is "
            f"{'a folder' if path.is_dir() else 'an image'}; give it a table of texts (CSV, TSV, "
            "JSONL or TXT with a text column), or predict images with an exported image model."
        )
    if images:
        files = image_files(path)
        rows, skipped = [], []
        for start in range(0, len(files), batch_size):
            arrays, names = [], []
            for f in files[start : start + batch_size]:
                try:
                    arrays.append(read_image(f))
                    names.append(str(f))
                except UserError as e:
                    skipped.append(str(e))
            if arrays:
                rows += predictor.predict(arrays, batch_size, items=names)
        _report_skipped(skipped, len(files), inputs)
        return rows
    return _predict_dataset(predictor, model, inputs, batch_size)


def _predict_dataset(predictor, model: str, inputs: str, batch_size: int) -> list[dict]:
    from transferkit.data import load_dataset
    from transferkit.data.base import modality_problem

    dataset = load_dataset(inputs, validate=False)
    problem = modality_problem(predictor.modality, dataset, f"The exported model {model}")
    if problem:
        raise UserError(problem)
    rows = []
    for start in range(0, len(dataset), batch_size):
        idx = range(start, min(start + batch_size, len(dataset)))
        items = [dataset.item_name(i) for i in idx]
        rows += predictor.predict([dataset.load(i) for i in idx], batch_size, items=items)
    return rows


def _report_skipped(skipped: list[str], total: int, inputs: str) -> None:
    if not skipped:
        return
    if len(skipped) == total:
        raise UserError(f"None of the {total} images in {inputs} could be read; {skipped[0]}")
    print(f"Skipped {len(skipped)} of {total} images that cannot be read:", file=sys.stderr)
    for message in skipped[:10]:
        print(f"  {message}", file=sys.stderr)
