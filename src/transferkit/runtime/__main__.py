"""``python -m transferkit.runtime DIR INPUTS > predictions.csv``: ``transferkit predict
--model`` for a machine that has only the runtime's packages (numpy, Pillow, onnxruntime,
tokenizers), where the ``transferkit`` command's own dependencies (PyTorch, rich, ...) are absent.

INPUTS: an image or a folder of images (any depth) for an image model; for a text model a
``.txt`` file (one text a line), or a ``.csv`` / ``.tsv`` / ``.jsonl`` table whose text column is
``--text-column`` or the first of text, sentence, content, document, review, body. The CSV has
the columns of ``transferkit predict``. A user error prints one paragraph and exits with 2.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

from transferkit.errors import UserError

TEXT_COLUMNS = ("text", "sentence", "content", "document", "review", "body")


def _table(path: Path) -> list[tuple[int, dict]]:
    """(line number, row) pairs of a .txt (one text a line), .csv, .tsv or .jsonl file."""
    suffix = path.suffix.lower()
    if suffix not in (".txt", ".jsonl", ".csv", ".tsv"):
        raise UserError(
            f"{path} is not a table of texts (.txt, .csv, .tsv or .jsonl); an image model "
            "takes an image or a folder of images."
        )
    with open(path, encoding="utf-8-sig", newline="") as f:  # as the run's readers
        if suffix == ".txt":
            return [(n, {"text": line}) for n, line in enumerate(f.read().splitlines(), 1)]
        if suffix == ".jsonl":
            return [(n, json.loads(line)) for n, line in enumerate(f, 1) if line.strip()]
        reader = csv.DictReader(f, delimiter="\t" if suffix == ".tsv" else ",")
        return list(enumerate(reader, 2))


def read_texts(path: Path, column: str | None = None) -> tuple[list[str], list[str]]:
    """(texts, item names ``file:line``) of a text file; rows with an empty text are skipped."""
    if path.is_dir():
        raise UserError(
            f"{path} is a folder, not a table of texts (.txt, .csv, .tsv or .jsonl), which is "
            "what a text model takes."
        )
    if not path.is_file():
        raise UserError(f"The input {path} does not exist. Give a table of texts.")
    try:
        rows = _table(path)
    except (json.JSONDecodeError, UnicodeDecodeError, csv.Error) as e:
        raise UserError(f"{path} cannot be read ({type(e).__name__}: {e}). Fix the file.") from None
    if any(not isinstance(row, dict) for _, row in rows):
        raise UserError(f"{path}: every line must be a JSON object with a text field.")
    names = list(rows[0][1]) if rows else []
    col = column or next((c for c in names if c.strip().lower() in TEXT_COLUMNS), None)
    if rows and col not in names:
        raise UserError(
            f"{path} has no text column {column or ''} (its columns: {', '.join(names)}). Name "
            "it with --text-column."
        )
    kept = [(n, str(row[col])) for n, row in rows if str(row.get(col) or "").strip()]
    if not kept:
        raise UserError(f"{path} has no non-empty texts.")
    return [t for _, t in kept], [f"{path.name}:{n}" for n, _ in kept]


def _rows(args: argparse.Namespace) -> list[dict]:
    from transferkit.runtime.images import image_files
    from transferkit.runtime.predictor import Predictor

    predictor = Predictor(args.model, threads=args.threads)
    path = Path(args.inputs)
    if predictor.modality == "text":
        texts, items = read_texts(path, args.text_column)
        return predictor.predict(texts, args.batch_size, items=items)
    files = image_files(path)
    return predictor.predict([str(f) for f in files], args.batch_size)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m transferkit.runtime",
        description="Predict with an exported model folder (no PyTorch); CSV on stdout.",
    )
    parser.add_argument("model", help="The folder `transferkit export` made.")
    parser.add_argument("inputs", help="An image, a folder of images, or a table of texts.")
    parser.add_argument("--batch-size", type=int, default=32, help="Inputs run at once.")
    parser.add_argument("--threads", type=int, default=None, help="onnxruntime threads.")
    parser.add_argument("--text-column", default=None, help="The text column of a table.")
    args = parser.parse_args(argv)
    try:
        rows = _rows(args)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    writer = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
