"""``predict``: a finished run's model on new inputs (images, a folder, a dataset spec, texts).

An ensemble run predicts the weighted average of its members' probabilities, each member
reading the inputs with its own preprocessing."""

from __future__ import annotations

from typing import Any

import numpy as np

from transferkit import distributed
from transferkit.data import load_dataset
from transferkit.data.base import Dataset
from transferkit.errors import UserError
from transferkit.evaluation.metrics import softmax
from transferkit.evaluation.predict import predict_logits
from transferkit.store import RunStore
from transferkit.zoo.checkpoint import TransferModel, load_model
from transferkit.zoo.ensemble import EnsembleModel


def load_run_model(
    run: str, store: RunStore | None = None
) -> tuple[TransferModel | EnsembleModel, list[str], str]:
    """The saved model of a finished run: (model, classes, run id). An ensemble run's model is
    its :class:`~transferkit.zoo.ensemble.EnsembleModel` (every member loaded from its run)."""
    store = store or RunStore()
    record = store.get(run)
    folder = store.artifact_dir(record.id) / "model"
    if record.status != "done" or not (folder / "model.json").is_file():
        raise UserError(
            f"Run {record.id} ({record.kind}, {record.status}) has no saved model. "
            "Use a finished fit run (see `transferkit runs list`)."
        )
    model, classes = load_model(folder)
    return model, classes, record.id


def predict(
    run: str,
    inputs: str | Dataset,
    *,
    batch_size: int = 64,
    device: str = "auto",
    store: RunStore | None = None,
) -> list[dict[str, Any]]:
    """Predictions of a finished run for ``inputs`` (an image folder, file, or dataset spec):
    one dict per example with ``item``, ``prediction``, ``confidence`` and per-class ``p_*``."""
    from transferkit.data.batches import check_modality

    model, classes, _ = load_run_model(run, store)
    dataset = load_dataset(inputs, validate=False) if isinstance(inputs, str) else inputs
    if len(dataset) == 0:
        raise UserError(f"No usable inputs in {inputs}.")
    check_modality(model.data_config, dataset, f"The model of run {run}")
    logits = predict_logits(
        model,
        dataset,
        np.arange(len(dataset)),
        device=distributed.device_for(device),
        batch_size=batch_size,
        shard=False,
    )
    rows = []
    for i, p in enumerate(softmax(logits)):
        row = {
            "item": dataset.item_name(i),
            "prediction": classes[int(p.argmax())],
            "confidence": float(p.max()),
        }
        row.update({f"p_{c}": float(v) for c, v in zip(classes, p)})
        rows.append(row)
    return rows
