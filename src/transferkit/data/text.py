"""Text datasets: CSV, TSV, JSONL, Parquet and plain-text files with a text column and a label.

A table becomes a :class:`TextDataset` (``modality = "text"``): the texts in memory, integer
labels (or none), class names. Empty or whitespace-only texts and rows without a label are
skipped and listed in the run (errors under ``strict``). A file that is not UTF-8, a missing
column (the message lists the columns that exist) and a table without usable rows are user
errors. A ``split`` column with ``train`` / ``val`` / ``test`` values marks the table's own splits,
which ``make_splits`` then honours. Tokenisation happens later, in the batch collate, from the backbone's data config
(:mod:`transferkit.data.batches`); :func:`count_truncated` says how many texts that will cut.
"""

from __future__ import annotations

import csv
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from transferkit.data.arrays import sorted_labels
from transferkit.data.base import Dataset, Skipped, one_line
from transferkit.data.readers import LABEL_COLUMNS, PATH_COLUMNS, _pick_column, _read_rows
from transferkit.data.splits import split_name
from transferkit.errors import UserError

TEXT_EXTENSIONS = (".csv", ".tsv", ".jsonl", ".parquet", ".txt")
TEXT_COLUMNS = ("text", "sentence", "content", "document", "review", "body")
_STRICT_HINT = "Run without --strict (strict=False) to skip such rows and list them in the run."


class TextDataset(Dataset):
    """Texts held in memory, with integer labels (or ``None``) and class names."""

    modality = "text"
    hflip_safe = False

    def __init__(
        self,
        texts: list[str],
        labels: np.ndarray | None,
        classes: list[str],
        *,
        name: str = "texts",
        skipped: list[Skipped] | None = None,
        columns: list[str] | None = None,
        items: list[str] | None = None,
    ) -> None:
        self.texts = [str(t) for t in texts]
        self.labels = None if labels is None else np.asarray(labels, dtype=np.int64)
        self.classes = list(classes)
        self.name = name
        self.skipped = list(skipped or [])
        self.columns = list(columns or [])  # the columns the file had, for messages
        self.items = list(items) if items is not None else None
        self.predefined = None
        self.fingerprint = ""

    def __len__(self) -> int:
        return len(self.texts)

    def load(self, i: int) -> str:  # type: ignore[override]
        return self.texts[i]

    def item_name(self, i: int) -> str:
        return self.items[i] if self.items is not None else str(i)


def is_text_table(path: Path, text_column: str | None) -> bool:
    """Whether a CSV/TSV/JSONL/Parquet/TXT file should be read as text rather than an image
    manifest: always for .parquet/.tsv/.txt or with ``text_column``; otherwise when it has a
    text column (text/sentence/...) and no path column (path/image/file/filename)."""
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".tsv", ".txt") or text_column:
        return True
    try:
        columns = _columns(path)
    except UserError:
        return False  # let the manifest reader give its own message
    names = {str(c).strip().lower() for c in columns}
    return bool(names & set(TEXT_COLUMNS)) and not names & set(PATH_COLUMNS)


def _columns(path: Path) -> list[str]:
    if path.suffix.lower() == ".jsonl":
        return _read_rows(path)[0]
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            first = f.readline()
    except (UnicodeDecodeError, OSError):
        return _read_rows(path)[0]  # raises the reader's user error
    delimiter = max(",;\t", key=first.count) if first else ","
    return next(csv.reader([first], delimiter=delimiter), [])


def _big_fields() -> None:
    """Let the csv module read documents longer than its 128 KiB default field limit."""
    limit = sys.maxsize
    while True:
        try:
            csv.field_size_limit(limit)
            return
        except OverflowError:
            limit //= 10


def _read_parquet(path: Path) -> tuple[list[str], list[tuple[int, dict]]]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise UserError(
            f"Reading {path} needs pyarrow; install it with pip install 'transferkit[text]'."
        ) from None
    try:
        with pq.ParquetFile(path) as f:  # read_table refuses duplicate column names
            table = f.read()
        data = table.to_pydict()  # decodes the strings: corrupt ones fail here
    except UnicodeDecodeError as e:
        raise UserError(
            f"{path} holds a string that is not UTF-8 ({e.reason}); the file is "
            "corrupt or was written with bytes as text. Write it again with UTF-8 "
            "strings."
        ) from None
    except Exception as e:  # noqa: BLE001 - pyarrow raises several types for bad files
        raise UserError(
            f"{path} is not a readable Parquet file ({type(e).__name__}: "
            f"{one_line(e)}). Write it again, e.g. with pandas' to_parquet."
        ) from None
    cols = list(table.column_names)  # with duplicates, so that picking one is refused
    n = table.num_rows
    return cols, [(i + 1, {c: data[c][i] for c in cols}) for i in range(n)]


def _read_txt(path: Path) -> tuple[list[str], list[tuple[int, dict]]]:
    """A plain text file: one example per non-empty line, no labels."""
    try:
        with open(path, encoding="utf-8-sig") as f:
            lines = f.read().splitlines()
    except UnicodeDecodeError as e:
        raise UserError(
            f"{path} is not UTF-8 text ({e.reason} at byte {e.start}). Save it as UTF-8 "
            "(e.g. `iconv -f latin1 -t utf-8 IN > OUT`) and try again."
        ) from None
    except OSError as e:
        raise UserError(
            f"Cannot read {path} ({e.strerror}). Check the path and permissions."
        ) from None
    return ["text"], [(n, {"text": s}) for n, s in enumerate(lines, 1)]


def _table_rows(path: Path) -> tuple[list[str], list[tuple[int, dict]]]:
    """Column names and ``(line number, row)`` pairs of any supported table."""
    _big_fields()
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return _read_parquet(path)
    if suffix == ".txt":
        return _read_txt(path)
    return _read_rows(path)


def _table_columns(
    columns: list[str], text_column: str | None, label_column: str | None, path: Path
) -> tuple[str, str | None, str | None]:
    """The text column, the label column (None: unlabelled) and the ``split`` column if any."""
    tcol = _pick_column(columns, text_column, TEXT_COLUMNS, "text", path)
    lcol = None
    if label_column or any(str(c).strip().lower() in LABEL_COLUMNS for c in columns):
        lcol = _pick_column(columns, label_column, LABEL_COLUMNS, "label", path)
    scol = next((c for c in columns if str(c).strip().lower() == "split"), None)
    return tcol, lcol, scol


@dataclass
class _Kept:
    """The usable rows of a table, column by column, and the rows skipped."""

    texts: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    items: list[str] = field(default_factory=list)
    split: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


def _keep_rows(
    rows: list[tuple[int, dict]],
    path: Path,
    columns: tuple[str, str | None, str | None],
    strict: bool,
) -> _Kept:
    """Rows with a text (and a label, if labelled); the others skipped, or an error if strict."""
    tcol, lcol, scol = columns
    kept = _Kept()
    for line, row in rows:
        text = row.get(tcol)
        text = "" if text is None else str(text)
        label = "" if lcol is None or row.get(lcol) is None else str(row[lcol]).strip()
        problem = (
            "empty or whitespace-only text"
            if not text.strip()
            else "empty label"
            if lcol is not None and not label
            else ""
        )
        if problem:
            if strict:
                raise UserError(
                    f"Line {line} of {path} has an {problem}. Fill it in or "
                    f"remove the row. {_STRICT_HINT}"
                )
            kept.skipped.append(Skipped(f"{path.name}:{line}", problem))
            continue
        kept.texts.append(text)
        kept.names.append(label)
        kept.items.append(f"{path.name}:{line}")
        kept.split.append(split_name(row.get(scol) or "") or "train" if scol else "")
    return kept


def read_text_table(
    path: Path,
    *,
    text_column: str | None = None,
    label_column: str | None = None,
    strict: bool = False,
) -> TextDataset:
    """A text dataset from a table; labels from ``label_column`` (or label/class/target).

    Without a label column (none named and none of the usual names present) the dataset is
    unlabelled, which is what ``predict`` and ``zeroshot`` take; ``fit`` then refuses it and
    lists the columns. A named column that does not exist is an error that lists them.
    """
    path = Path(path)
    columns, rows = _table_rows(path)
    if not rows:
        raise UserError(
            f"{path} has no rows. Add one row per text, with a header line "
            "naming the columns (e.g. `text,label`)."
        )
    tcol, lcol, scol = _table_columns(columns, text_column, label_column, path)
    kept = _keep_rows(rows, path, (tcol, lcol, scol), strict)
    if not kept.texts:
        raise UserError(
            f"None of the {len(rows)} rows of {path} has a non-empty text in "
            f"column {tcol!r} (e.g. {kept.skipped[0].item}: {kept.skipped[0].reason})."
        )
    if lcol is None:
        return TextDataset(
            kept.texts,
            None,
            [],
            name=path.stem,
            skipped=kept.skipped,
            columns=columns,
            items=kept.items,
        )
    classes = sorted_labels(set(kept.names))
    index = {c: i for i, c in enumerate(classes)}
    y = np.asarray([index[n] for n in kept.names], dtype=np.int64)
    ds = TextDataset(
        kept.texts,
        y,
        classes,
        name=path.stem,
        skipped=kept.skipped,
        columns=columns,
        items=kept.items,
    )
    if "test" in kept.split or "val" in kept.split:
        ds.predefined = np.asarray(kept.split)
    return ds


def count_truncated(
    dataset: Dataset,
    tokenizer,
    max_length: int,
    indices: np.ndarray | None = None,
    batch: int = 1024,
) -> dict[str, int]:
    """How many texts have more than ``max_length`` tokens (they are cut to it), and the
    longest length seen; the run records it."""
    idx = np.arange(len(dataset)) if indices is None else np.asarray(indices)
    count, longest = 0, 0
    for start in range(0, len(idx), batch):
        texts = [dataset.load(int(i)) for i in idx[start : start + batch]]
        lengths = [len(ids) for ids in tokenizer(texts, truncation=False)["input_ids"]]
        count += sum(n > max_length for n in lengths)
        longest = max([longest, *lengths])
    return {
        "truncated": int(count),
        "texts": int(len(idx)),
        "max_length": int(max_length),
        "longest": int(longest),
    }
