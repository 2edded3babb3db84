"""``build_report``: run records in, one self-contained HTML file and a Markdown twin out.

The HTML embeds its plots; the Markdown links PNG files written to ``report_files/`` beside
it. Files are written to a temporary name and renamed, so a report is never half-written.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from transferkit.errors import UserError
from transferkit.report.document import Bullets, Document, Paragraph, Section, safe_name
from transferkit.report.sections import SECTIONS
from transferkit.store import RunRecord, RunStore
from transferkit.store.artifacts import atomic_write_bytes

HTML_NAME = "report.html"
MD_NAME = "report.md"
FILES_DIR = "report_files"


def check_reportable(records: list[RunRecord]) -> None:
    """Refuse runs that are still running: their results do not exist yet."""
    if not records:
        raise UserError(
            "Nothing to report: give one or more run ids, or --last N "
            "(see `transferkit runs list`)."
        )
    for r in records:
        if r.status == "running":
            resume = (
                f"resume it first with `transferkit fit --resume {r.id}`"
                if r.kind == "fit"
                else "run it again"
            )
            raise UserError(
                f"Run {r.id} ({r.kind}) is still running, so it has no results to report yet. "
                f"Wait until it finishes and run `transferkit report {r.id}` again; if its "
                f"process was killed, {resume}."
            )


def load_records(ids: list[str], store: RunStore | None = None) -> list[RunRecord]:
    """Records for run ids (or unique prefixes), in order, duplicates dropped, all reportable."""
    store = store or RunStore()
    records: list[RunRecord] = []
    for run_id in ids:
        r = store.get(run_id)  # a missing id raises a UserError naming it
        if r.id not in {x.id for x in records}:
            records.append(r)
    check_reportable(records)
    return records


def latest_fits(n: int, store: RunStore | None = None) -> list[RunRecord]:
    """The ``n`` newest fit runs that are not still running."""
    if n < 1:
        raise UserError(f"--last needs a positive number of runs, not {n}.")
    store = store or RunStore()
    runs = [r for r in store.list(kind="fit", limit=None) if r.status != "running"][:n]
    if not runs:
        raise UserError(
            f"There are no finished fit runs in {store.root} to report on. Train one "
            "with `transferkit fit`, or check TRANSFERKIT_HOME."
        )
    return runs


def default_out_dir(records: list[RunRecord], store: RunStore | None = None) -> Path:
    """A single run: its artifact folder; several: ``$TRANSFERKIT_HOME/reports/<UTC time>``."""
    store = store or RunStore()
    if len(records) == 1:
        folder = store.runs_dir / records[0].id
        if folder.is_dir():
            return folder
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    out = store.root / "reports" / stamp
    i = 1
    while out.exists():
        i += 1
        out = store.root / "reports" / f"{stamp}-{i}"
    return out


def _title(records: list[RunRecord]) -> str:
    from transferkit.report.common import dataset_name, strategy_of

    if len(records) == 1:
        r = records[0]
        if r.kind == "fit":
            return (
                f"transferkit report: {strategy_of(r)} {r.config.get('model', '?')} "
                f"on {dataset_name(r)}"
            )
        return f"transferkit report: {r.kind} {r.id} on {dataset_name(r)}"
    names = sorted({dataset_name(r) for r in records})
    return f"transferkit report: {len(records)} runs on {', '.join(names[:3])}"


def _scored(r: RunRecord) -> bool:
    return isinstance(r.metrics.get("test_accuracy"), (int, float))


def make_document(records: list[RunRecord], title: str | None = None) -> Document:
    """The report's content: verdicts first, then a summary, then one section per record."""
    from transferkit.report import evaluation, fit

    check_reportable(records)
    verdicts: list[str] = []
    body: list[Section] = []
    fits = [r for r in records if r.kind == "fit"]
    if len(fits) > 1:
        summary, v = fit.fit_summary(fits)
        body.append(summary)
        verdicts += v
    elif fits:
        verdicts += fit.fit_verdicts([r for r in fits if _scored(r)])
    for r in records:
        if r.kind == "fit":  # its verdicts come from the summary above
            body.append(fit.fit_section(r))
        elif r.kind in SECTIONS:
            section, v = SECTIONS.get(r.kind)(r)
            body.append(section)
            verdicts += v
        else:
            body.append(evaluation.generic_section(r))
    head: list = (
        [Bullets(verdicts, kind="verdict")]
        if verdicts
        else [Paragraph("No verdict: none of these runs has test results.", kind="note")]
    )
    unfinished = [r for r in records if r.status != "done"]
    if unfinished:
        head.append(
            Paragraph(
                "Not finished: "
                + ", ".join(f"{r.id} ({r.status})" for r in unfinished)
                + ". Their results are partial or missing.",
                kind="warning",
            )
        )
    ids = ", ".join(r.id for r in records[:6]) + (" ..." if len(records) > 6 else "")
    return Document(
        title or _title(records),
        subtitle=f"Runs: {ids}",
        sections=[Section("Verdict", head, anchor="verdict"), *body],
    )


def write_document(doc: Document, out_dir: Path) -> tuple[Path, Path]:
    """Write ``report.html`` (self-contained) and ``report.md`` with ``report_files/*.png``."""
    from transferkit.report import html, markdown
    from transferkit.version import __version__

    out_dir = Path(out_dir)
    files = out_dir / FILES_DIR
    files.mkdir(parents=True, exist_ok=True)
    paths: dict[int, str] = {}
    used: set[str] = set()
    for img in doc.images():
        stem, i = safe_name(img.name), 1
        while f"{stem}.png" in used:
            i += 1
            stem = f"{safe_name(img.name)}-{i}"
        used.add(f"{stem}.png")
        atomic_write_bytes(files / f"{stem}.png", img.png)
        paths[id(img)] = f"{FILES_DIR}/{stem}.png"
    for stale in files.glob("*.png"):
        if stale.name not in used:
            stale.unlink(missing_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    footer = f"Written by transferkit {__version__} on {stamp}."
    html_path, md_path = out_dir / HTML_NAME, out_dir / MD_NAME
    atomic_write_bytes(md_path, markdown.render(doc, paths, footer).encode("utf-8"))
    atomic_write_bytes(
        html_path,
        html.render(doc, footer + " Self-contained: viewing it needs no network.").encode("utf-8"),
    )
    return html_path, md_path


def build_report(
    records: list[RunRecord], out_dir: Path, title: str | None = None
) -> tuple[Path, Path]:
    """Write the report on ``records`` to ``out_dir``; returns (HTML path, Markdown path).

    Refuses (``UserError``) runs that are still running; failed and interrupted runs are
    reported with their status shown.
    """
    check_reportable(records)
    try:
        doc = make_document(records, title)
    except ImportError as e:
        raise UserError(
            f"Reports need matplotlib ({e}). Install it with `pip install 'transferkit[report]'`."
        ) from e
    try:
        return write_document(doc, Path(out_dir))
    except OSError as e:
        raise UserError(
            f"Cannot write the report to {out_dir} ({e}). Choose a writable folder with --out DIR."
        ) from e
