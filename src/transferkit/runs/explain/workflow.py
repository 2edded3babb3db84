"""``explain``: why a finished run's model predicts what it does, and what its transfer changed.

Read top to bottom: the run's saved model (refused when the run is unfinished or saved none)
-> the inputs, checked (their modality, how many: at most 64 without ``--max``) -> the method,
checked against the backbone (:func:`transferkit.explanation.methods.choose`) -> predictions and
attributions batch by batch (:mod:`~transferkit.runs.explain.attribution`) -> a PNG overlay per image or one HTML page of highlighted tokens,
a CSV (file, predicted class, confidence) and the maps as arrays, all written atomically into
the explain run's folder -> what fine-tuning changed and which source classes the target
uses (:mod:`~transferkit.runs.explain.transfer`) -> the record finished (kind ``explain``, its
parent the explained run), and that analysis noted on the explained run, whose report then
shows it.
"""

from __future__ import annotations

import dataclasses
import io
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from transferkit import distributed
from transferkit.config import ExplainConfig, check_ranges
from transferkit.errors import UserError
from transferkit.explanation import render
from transferkit.runs._recorded import RecordedRun
from transferkit.runs.explain.attribution import (
    Job,
    attribute,
    make_job,
    relative_deltas,
)
from transferkit.runs.explain.transfer import what_transferred
from transferkit.runs.predict import load_run_model
from transferkit.store import RunStore
from transferkit.zoo.checkpoint import TransferModel

RESUMABLE = ("fit", "adapt", "pretrain", "auto")  # the kinds whose command has --resume


@dataclass
class ExplainResult:
    """What ``explain`` returns: one row per (input, explained class) with its map (an (H, W)
    array in [0, 1] for images, one score per token for texts) and, for integrated gradients,
    Captum's convergence delta; the transfer analysis; where the files are."""

    run_id: str
    explained: str
    method: str | None
    rows: list[dict[str, Any]] = field(default_factory=list)
    maps: list[np.ndarray] = field(default_factory=list)
    deltas: np.ndarray | None = None
    tokens: list[list[str]] = field(default_factory=list)
    transfer: dict[str, Any] | None = None
    artifact_dir: Path | None = None


def _settings(
    run: str | None, inputs: str | None, config: ExplainConfig | None, overrides: dict[str, Any]
) -> ExplainConfig:
    cfg = dataclasses.replace(config) if config else ExplainConfig()
    known = {f.name for f in dataclasses.fields(ExplainConfig)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise UserError(
            f"Unknown option {unknown[0]!r} for explain. Options: {', '.join(sorted(known))}."
        )
    given = {"run": run, "inputs": inputs}
    cfg = dataclasses.replace(cfg, **overrides, **{k: v for k, v in given.items() if v})
    if not cfg.run:
        raise UserError(
            "Name the run to explain: `transferkit explain --run RUN [INPUTS]` "
            "(see `transferkit runs list`)."
        )
    check_ranges(cfg, {"max_inputs": "--max"})
    return cfg


def explain(
    run: str | None = None,
    inputs: str | None = None,
    *,
    config: ExplainConfig | None = None,
    store: RunStore | None = None,
    **overrides: Any,
) -> ExplainResult:
    """Explain run ``run``'s predictions for ``inputs`` (images or texts, optional) and what
    its transfer changed; recorded as an ``explain`` run. Keyword overrides are
    :class:`~transferkit.config.ExplainConfig` fields (``method="ig"``, ``max_inputs=10``)."""
    t0 = time.perf_counter()
    cfg = _settings(run, inputs, config, overrides)
    store = store or RunStore()
    record = _explainable(store, cfg.run)
    model, classes, run_id = load_run_model(record.id, store)
    device = distributed.device_for(cfg.device)
    model.eval().to(device)
    job = make_job(cfg, model, classes, run_id) if cfg.inputs else None
    t_loaded = time.perf_counter()
    if job is None and not cfg.transfer:
        raise UserError(
            "Nothing to explain: give INPUTS (images or texts) to attribute, or "
            "drop --no-transfer to analyse what the run's transfer changed."
        )
    with RecordedRun(
        store,
        "explain",
        dataclasses.asdict(cfg),
        seed=cfg.seed,
        parent=run_id,
        data_fingerprint=job.dataset.fingerprint if job else None,
    ) as rec:
        rec.note(dataset=job.dataset.summary() if job else record.extra.get("dataset"))
        res = ExplainResult(rec.id, run_id, job.method.name if job else None, artifact_dir=rec.dir)
        if job is not None:
            att = attribute(job, model, classes, device)
            res.rows, res.maps, res.tokens, res.deltas = att.rows, att.maps, att.tokens, att.deltas
            _write(job, model, res, rec)
        t_attr = time.perf_counter()
        if cfg.transfer:
            res.transfer = what_transferred(record, model, cfg, device)
            rec.write_json("transfer.json", res.transfer)
        now = time.perf_counter()
        timings = {
            "load": t_loaded - t0,
            "attribute": t_attr - t_loaded,
            "transfer": now - t_attr,
            "total": now - t0,
        }
        _finish(rec, store, res, model, classes, timings)
    return res


def _explainable(store: RunStore, run: str):
    """The record of ``run``, refused (naming what to do) unless it finished with a model."""
    from transferkit.zoo.checkpoint import META

    r = store.get(run)
    resume = (
        f"resume it with `transferkit {r.kind} --resume {r.id}`"
        if r.kind in RESUMABLE
        else "run it again"
    )
    if r.status == "running":
        raise UserError(
            f"Run {r.id} ({r.kind}) is still running, so it has saved no model "
            f"yet. Wait until it finishes and run `transferkit explain --run {r.id}` "
            f"again; if its process was killed, {resume} first."
        )
    if r.status in ("interrupted", "failed", "pruned"):
        raise UserError(
            f"Run {r.id} ({r.kind}) is {r.status} and saved no model: {resume}, "
            "or explain a finished run (`transferkit runs list --status done`)."
        )
    if not (store.runs_dir / r.id / "model" / META).is_file():
        raise UserError(
            f"Run {r.id} ({r.kind}) saved no model, so there is nothing to explain: "
            "only runs that train one (fit, adapt, zeroshot, pretrain) can be "
            "explained. Pick one with `transferkit runs list --status done`."
        )
    return r


def _write(job: Job, model: TransferModel, res: ExplainResult, rec: RecordedRun) -> None:
    """Overlays or the token page, the CSV and the maps, each written atomically."""
    from transferkit.report.document import safe_name

    text = model.data_config.modality == "text"
    for n, (row, heat) in enumerate(zip(res.rows, res.maps)):
        image = row.pop("_image", None)
        if image is not None:
            row["overlay"] = (
                f"overlays/{n:04d}-{safe_name(Path(row['file']).stem)[:40]}-"
                f"{safe_name(row['explained'])[:20]}.png"
            )
            rec.write_bytes(row["overlay"], render.png_bytes(render.overlay(image, heat)))
    if text:
        entries = [
            {**row, "tokens": toks, "scores": heat}
            for row, toks, heat in zip(res.rows, res.tokens, res.maps)
        ]
        rec.write_bytes(
            "tokens.html",
            render.tokens_html(
                entries, f"Token attributions of run {res.explained} ({job.method.name})"
            ).encode("utf-8"),
        )
    columns = (
        "file",
        "predicted",
        "confidence",
        "true",
        "explained",
        "delta",
        "relative_delta",
        "overlay",
    )
    rec.write_csv("predictions.csv", [{k: r[k] for k in columns if k in r} for r in res.rows])
    rec.write_bytes("attributions.npz", _arrays(res))


def _arrays(res: ExplainResult) -> bytes:
    """The maps as one padded float32 array with their lengths (numeric arrays: no pickle)."""
    shapes = np.array([m.shape for m in res.maps], dtype=np.int64).reshape(len(res.maps), -1)
    size = shapes.max(axis=0) if len(res.maps) else np.zeros(1, np.int64)
    stack = np.zeros((len(res.maps), *size), dtype=np.float32)
    for k, m in enumerate(res.maps):
        stack[(k, *(slice(0, s) for s in m.shape))] = m
    buf = io.BytesIO()
    np.savez_compressed(
        buf,
        maps=stack,
        shapes=shapes,
        deltas=res.deltas if res.deltas is not None else np.zeros(0, np.float32),
    )
    return buf.getvalue()


def _finish(
    rec: RecordedRun,
    store: RunStore,
    res: ExplainResult,
    model: TransferModel,
    classes: list[str],
    timings: dict[str, float],
) -> None:
    """Finish the explain run with its metrics and rows, and note the transfer analysis on the
    explained run too, so that run's report shows it."""
    extra = {
        "files_dir": str(rec.dir),
        "modality": model.data_config.modality,
        "method": res.method,
        "rows": res.rows,
        "transfer": res.transfer,
        "classes": classes,
    }
    if rec.main and res.transfer and res.transfer.get("analysed"):
        store.update(
            res.explained, extra={"what_transferred": {**res.transfer, "explain_run": rec.id}}
        )
    rec.finish(_metrics(res), timings, **extra)


def _metrics(res: ExplainResult) -> dict[str, Any]:
    m: dict[str, Any] = {"explained": len(res.rows)}
    known = [r for r in res.rows if "true" in r]
    if known:
        m["inputs_accuracy"] = float(np.mean([r["true"] == r["predicted"] for r in known]))
    if res.deltas is not None and len(res.deltas):
        m["max_abs_delta"] = float(np.abs(res.deltas).max())
        m["mean_abs_delta"] = float(np.abs(res.deltas).mean())
    rel = relative_deltas(res.rows)
    if rel:
        m["median_relative_delta"] = float(np.median(rel))
        m["max_relative_delta"] = float(np.max(rel))
    return m
