"""``export``: a finished run's model as a folder that predicts without PyTorch.

Read top to bottom: the run checked (finished, with a saved classifier; a search resolves to its
winner) and the options (format, quantisation, opset, the target folder) -> the run's model
loaded and its test inputs found (a seeded sample of the test split it recorded) -> the
PyTorch probabilities on them -> in a temporary folder beside ``--to``: the graph (one, or an
ensemble's members), ``config.json``, the parity check through the torch-free runtime (float32;
then int8 when asked), ``parity.json`` and the model card -> renamed to ``--to``. Any failure,
parity included, leaves no folder behind. The folder format is :mod:`transferkit.shipping`'s.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from transferkit import progress
from transferkit.config import FitConfig
from transferkit.data import load_dataset
from transferkit.data.base import Dataset
from transferkit.errors import UserError
from transferkit.evaluation.metrics import softmax
from transferkit.evaluation.predict import predict_logits
from transferkit.runs._fitting import load_fit_data
from transferkit.shipping import build, card, folder, onnx_graph, parity
from transferkit.shipping.quantize import TRIES, drop_fp32_copies
from transferkit.shipping.torchscript import MODEL_FILE as TS_FILE
from transferkit.shipping.torchscript import torchscript_probabilities
from transferkit.store import RunRecord, RunStore
from transferkit.store.artifacts import load_predictions
from transferkit.zoo.checkpoint import load_model

FORMATS = ("onnx", "torchscript")
SEED = 0
CALIBRATION_INPUTS = 256  # images static int8 measures activation ranges on


@dataclass
class ExportResult:
    """What ``export`` returns: the folder, the run it came from and the parity numbers."""

    folder: Path
    run_id: str
    format: str
    quantized: str | None
    parity: dict[str, Any]
    config: dict[str, Any]
    files: list[str] = field(default_factory=list)


def export(
    run: str,
    to: str | Path,
    *,
    format: str = "onnx",
    quantize: str | None = None,
    opset: int | None = None,
    parity_examples: int = 256,
    force: bool = False,
    store: RunStore | None = None,
    tolerance: float | None = None,
    int8_tolerance: float | None = None,
) -> ExportResult:
    """Export the model of the finished run ``run`` to the folder ``to`` (see the module
    docstring). ``tolerance`` / ``int8_tolerance`` replace the float32 / int8 parity tolerances
    (a stricter check; tests)."""
    store = store or RunStore()
    _check_options(format, quantize, opset, parity_examples)
    record = _exportable(store, run)
    target = folder.check_target(Path(to), force)
    opset = onnx_graph.check_opset(opset) if format == "onnx" else None
    model, classes = load_model(store.artifact_dir(record.id) / "model")
    _check_classifier(record, classes)
    data, pool, idx, labels, where = _parity_inputs(store, record, classes, parity_examples)
    progress.info(f"export {record.id}: {format} to {target}, parity on {len(idx)} test inputs")
    reference = softmax(
        predict_logits(model, data, idx, device=torch.device("cpu"), shard=False)
    ).astype(np.float64)
    raw = [data.load(int(i)) for i in idx]
    check = _Check(reference, labels, {"fp32": tolerance, "int8": int8_tolerance}, record.id)
    source = build.source_of(record)
    with folder.building(target) as tmp:
        if format == "torchscript":
            config = build.write_torchscript(tmp, model, classes, source)
            check(torchscript_probabilities(tmp / TS_FILE, build.tensor_batches(model, data, idx)))
        else:
            config = build.write_onnx(tmp, model, classes, opset, source)
            check(parity.exported_probabilities(tmp, raw))
        if quantize:
            images = config["modality"] == "image"
            calibration = [data.load(int(i)) for i in _calibration(data, pool)] if images else []
            config = _int8(tmp, config, raw, check, calibration)
        body = parity.write(tmp, where, check.results)
        (tmp / "README.md").write_text(card.model_card(record, store, config, body))
        files = sorted(str(p.relative_to(tmp)) for p in tmp.rglob("*") if p.is_file())
    return ExportResult(target, record.id, format, quantize, body, config, files)


@dataclass
class _Check:
    """The PyTorch probabilities to compare exports with, and the comparisons made so far."""

    reference: np.ndarray
    labels: np.ndarray | None
    tolerance: dict[str, float | None]  # by precision; None: the default
    run_id: str
    results: dict[str, Any] = field(default_factory=dict)

    def __call__(
        self, exported: np.ndarray, precision: str = "fp32", refuse: bool = True
    ) -> dict[str, Any]:
        """Compare, keep the numbers, and refuse an export that does not pass."""
        tol = self.tolerance.get(precision)
        res = parity.compare(
            self.reference, exported, self.labels, precision=precision, tolerance=tol
        )
        if precision == "int8" and "fp32" in self.results:
            res.update(parity.accuracy_change(self.results["fp32"], res))
        self.results[precision] = res
        if refuse:
            parity.check(res, self.run_id)
        return res


def _int8(
    tmp: Path, config: dict[str, Any], raw: list, check: _Check, calibration: list
) -> dict[str, Any]:
    """The graphs in ``tmp`` quantised to int8 the first way that passes the parity check
    (:data:`~transferkit.shipping.quantize.TRIES`; static only for images, with calibration
    inputs); refused when none does. The tries are recorded in parity.json."""
    tries: list[dict[str, Any]] = []
    for how in TRIES:
        if how.static and (config["modality"] != "image" or not calibration):
            continue
        try:
            config = build.quantize_folder(tmp, config, how, calibration)
        except UserError as e:  # this way cannot quantise this graph: the next one may
            tries.append({"operators": how.describe(), "passed": False, "error": str(e)})
            continue
        res = check(parity.exported_probabilities(tmp, raw), "int8", refuse=False)
        keys = ("mean_abs_diff", "max_abs_diff", "argmax_agreement", "passed")
        tries.append({"operators": how.describe(), **{k: res[k] for k in keys}})
        res.update(quantized_operators=how.describe(), tries=list(tries))
        if how.static:
            res["calibration_inputs"] = len(calibration)
        if res["passed"]:
            break
    drop_fp32_copies(tmp)
    if not tries or "mean_abs_diff" not in tries[-1]:
        raise UserError(tries[-1]["error"] if tries else "No int8 quantisation applies here.")
    parity.check(res, check.run_id)
    return config


# ----------------------------------------------------------------------------- checks
def _check_options(format: str, quantize: str | None, opset: int | None, n: int) -> None:
    if format not in FORMATS:
        raise UserError(f"--format {format} is not one of {', '.join(FORMATS)}.")
    if quantize not in (None, "int8"):
        raise UserError(f"--quantize {quantize} is not supported; int8 is.")
    if format == "torchscript" and quantize:
        raise UserError(
            "--quantize int8 works on ONNX graphs (onnxruntime's quantisation); a TorchScript "
            "export is not quantised. Use --format onnx --quantize int8, or drop --quantize."
        )
    if format == "torchscript" and opset is not None:
        raise UserError("--opset applies to --format onnx only; drop it for torchscript.")
    if int(n) < 1:
        raise UserError(f"--parity-examples must be at least 1, not {n}.")


def _exportable(store: RunStore, run: str) -> RunRecord:
    """The record of ``run`` (a search: its winner), refused unless it finished with a saved
    classifier, naming what to do instead."""
    record = store.get(run)
    if record.kind == "auto" and record.status == "done" and record.extra.get("winner_run"):
        progress.info(f"search {record.id} chose run {record.extra['winner_run']}: exporting it")
        record = store.get(record.extra["winner_run"])
    if record.status != "done":
        raise UserError(
            f"Run {record.id} ({record.kind}) is {record.status}, so it has no finished model to "
            "export. Wait for it to finish (or resume it), or export a finished run: "
            "`transferkit runs list --status done`."
        )
    if record.kind in ("pretrain", "rank", "similarity", "compare", "cv", "explain", "auto"):
        raise UserError(
            f"Run {record.id} is a {record.kind} run, which saves no classifier to export"
            + (
                " (a pretrained encoder has no classes: fit it to labelled data with "
                f"`transferkit fit`, run:{record.id} as its source model, and export that run)."
                if record.kind == "pretrain"
                else ". Export a fit, zeroshot, adapt or ensemble run instead."
            )
        )
    if not (store.artifact_dir(record.id) / "model" / "model.json").is_file():
        raise UserError(
            f"Run {record.id} ({record.kind}) saved no model, so there is nothing to export. "
            "Export a finished fit, zeroshot, adapt or ensemble run (`transferkit runs list`)."
        )
    return record


def _check_classifier(record: RunRecord, classes: list[str]) -> None:
    if len(classes) < 2:
        raise UserError(
            f"The model of run {record.id} predicts {len(classes)} classes; an export needs a "
            "classifier. Fit it to labelled data first (`transferkit fit`, run:ID as its source "
            "model)."
        )


# ----------------------------------------------------------------------- parity inputs
def _run_data(store: RunStore, record: RunRecord) -> Dataset:
    """The data the run was evaluated on, read again from its stored settings."""
    c = record.config
    try:
        if record.kind == "ensemble":
            heaviest = max(c.get("members") or [], key=lambda m: float(m["weight"]))
            return _run_data(store, store.get(heaviest["run"]))
        if record.kind == "fit":
            return load_fit_data(FitConfig.from_dict(c))
        spec = c.get("target") if record.kind.startswith("adapt") else c.get("data")
        columns = {k: c.get(k) for k in ("text_column", "label_column")}
        return load_dataset(str(spec), validate=False, **columns)
    except UserError as e:
        raise UserError(
            f"The parity check runs the export on run {record.id}'s own test inputs, but its "
            f"data cannot be read now: {e} Make the data available again where the run read it, "
            "then export again."
        ) from None


def _parity_inputs(
    store: RunStore, record: RunRecord, classes: list[str], n: int
) -> tuple[Dataset, np.ndarray, np.ndarray, np.ndarray | None, dict[str, Any]]:
    """The data, the run's test examples (all of the data when it recorded none), a seeded
    sample of ``n`` of them, their labels in the model's class order (None when unknown), and
    what parity.json says about them."""
    data = _run_data(store, record)
    saved = load_predictions(store.artifact_dir(record.id))
    if saved is not None and len(saved["indices"]) and saved["indices"].max() < len(data):
        pool, pool_labels, split = saved["indices"], saved["labels"], "test split"
    else:
        pool, pool_labels, split = np.arange(len(data)), _labels(data, classes), "data"
    pick = parity.sample(len(pool), n, SEED)
    where = {
        "source": f"the run's {split}",
        "data": data.name,
        "n": int(len(pick)),
        "of": int(len(pool)),
        "seed": SEED,
        "data_unchanged": data.fingerprint == record.data_fingerprint
        or bool(record.data_fingerprint and data.fingerprint in record.data_fingerprint),
        "checked_with": "transferkit.runtime.Predictor on the raw inputs (its preprocessing "
        "included) against the run's PyTorch model",
    }
    labels = None if pool_labels is None else np.asarray(pool_labels)[pick]
    return data, np.asarray(pool), np.asarray(pool)[pick], labels, where


def _calibration(data: Dataset, test: np.ndarray, n: int = CALIBRATION_INPUTS) -> np.ndarray:
    """A seeded sample of ``n`` examples outside the run's test split (its training and
    validation inputs) for static int8 calibration; of the test examples only when the run
    recorded no test split (then all of the data is the pool)."""
    rest = np.setdiff1d(np.arange(len(data)), test)
    pool = rest if len(rest) else np.asarray(test)
    return np.sort(pool[parity.sample(len(pool), n, SEED)])


def _labels(data: Dataset, classes: list[str]) -> np.ndarray | None:
    """The data's labels as positions in the model's classes (matched by name; -1 for a
    class the model does not know), or None when the data has none."""
    if data.labels is None:
        return None
    pos = {c.lower(): j for j, c in enumerate(classes)}
    mapped = [pos.get(str(c).lower(), -1) for c in data.classes]
    return np.asarray([mapped[int(y)] for y in data.labels])
