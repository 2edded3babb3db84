"""(image, text) pairs for image-text pretraining, from a manifest or from labelled images plus
a descriptions file.

* A pairs manifest is a CSV or JSONL file with one row per pair: an image path (column
  path/image/file/filename; relative to the manifest's folder, never outside it) and its text
  (column text/caption/description/sentence); an optional label/class column names the
  pair's class, which validation then uses for a zero-shot confusion matrix. Rows whose image
  is missing or unreadable, or whose text is empty, are skipped, counted and listed in the
  run; ``--strict`` refuses them.
* A descriptions file (JSON or YAML) maps each class of a labelled image source to one
  sentence or a list of them; every image is paired with its class's sentences (one drawn per
  epoch). Classes the file leaves out are left out of pretraining (that is how classes are
  held out for zero-shot tests); a class the data does not have is an error.

Pairs that share a class (or, without classes, the same text) are positives of each other
in the contrastive loss, so two images of one class in a batch are not pushed apart.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from transferkit import progress
from transferkit.data import FileDataset, compute_fingerprint, skipped_summary
from transferkit.data.base import Dataset, Skipped
from transferkit.data.readers import (
    LABEL_COLUMNS,
    PATH_COLUMNS,
    _inside,
    _pick_column,
    _read_rows,
    check_images,
)
from transferkit.errors import UserError

CAPTION_COLUMNS = ("text", "caption", "description", "sentence")
STRICT_HINT = "Run without --strict to skip such rows (they are counted and listed in the run)."


class ImageTextPairs(Dataset):
    """Images (``load``) with the texts each may be paired with (``texts[i]``) and a group id
    per example (``groups``: its class, or its text when there are no classes); ``labels`` /
    ``classes`` are the classes when the pairs have them, else None / []."""

    def __init__(
        self,
        images: Dataset,
        index: np.ndarray,
        texts: list[list[str]],
        groups: np.ndarray,
        *,
        labels: np.ndarray | None,
        classes: list[str],
        name: str,
        skipped: list[Skipped],
        descriptions: dict[str, list[str]] | None = None,
    ) -> None:
        self.images, self.index = images, np.asarray(index, np.int64)
        self.texts, self.groups = texts, np.asarray(groups, np.int64)
        self.labels = None if labels is None else np.asarray(labels, np.int64)
        self.classes, self.name, self.skipped = list(classes), name, list(skipped)
        self.descriptions = descriptions
        self.hflip_safe = images.hflip_safe
        pre = images.predefined
        self.predefined = None if pre is None else np.asarray(pre)[self.index]
        if descriptions is not None:  # the source data is the image dataset (the descriptions
            self.fingerprint = images.fingerprint  # are kept in the run beside it)
        else:
            h = hashlib.sha256(f"pairs|{images.fingerprint}|".encode())
            h.update(self.index.tobytes())
            h.update(json.dumps(texts, ensure_ascii=False).encode())
            self.fingerprint = h.hexdigest()[:16]

    def __len__(self) -> int:
        return len(self.index)

    def load(self, i: int) -> np.ndarray:
        return self.images.load(int(self.index[i]))

    def item_name(self, i: int) -> str:
        return self.images.item_name(int(self.index[i]))

    @property
    def from_classes(self) -> bool:
        return self.labels is not None

    def summary(self) -> dict:
        unique = len({t for ts in self.texts for t in ts})
        return {**super().summary(), "pairs": len(self), "texts": unique}


# ------------------------------------------------------------------------------ descriptions
def read_descriptions(path: str | Path) -> dict[str, list[str]]:
    """``class -> [sentences]`` from a JSON or YAML file (a sentence or a list per class)."""
    import yaml

    p = Path(path).expanduser()
    if not p.is_file():
        raise UserError(
            f"--descriptions {path}: no such file. Give a JSON or YAML file that maps each "
            "class name to one sentence or a list of sentences."
        )
    try:
        raw = json.loads(p.read_text()) if p.suffix == ".json" else yaml.safe_load(p.read_text())
    except (json.JSONDecodeError, yaml.YAMLError, UnicodeDecodeError) as e:
        raise UserError(f"{p} is not valid JSON or YAML ({' '.join(str(e).split())}).") from None
    if not isinstance(raw, dict) or not raw:
        raise UserError(
            f'{p} must map class names to sentences, e.g. {{"boot": ["a photo of a '
            'sturdy boot.", "a high shoe."]}; it holds no such mapping.'
        )
    out: dict[str, list[str]] = {}
    for name, value in raw.items():
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(s, str) for s in items):
            raise UserError(f"{p}: the class {name!r} must map to a sentence or a list of them.")
        sentences = [s.strip() for s in items if s.strip()]
        if not sentences:
            raise UserError(f"{p}: the class {name!r} has no (non-empty) sentence; add one.")
        out[str(name)] = sentences
    return out


def pairs_from_classes(
    images: Dataset, descriptions: dict[str, list[str]], source: str
) -> ImageTextPairs:
    """Every image of a described class, paired with its class's sentences."""
    by_lower = {c.lower(): i for i, c in enumerate(images.classes)}
    unknown = [c for c in descriptions if c.lower() not in by_lower]
    if unknown:
        raise UserError(
            f"The descriptions name {', '.join(map(repr, unknown))}, which {images.name} does "
            f"not have (its classes: {', '.join(images.classes)}). Fix the class names in "
            f"{source} to match the data's, or remove those entries."
        )
    described = {by_lower[c.lower()]: s for c, s in descriptions.items()}
    kept = sorted(described)
    left = [images.classes[i] for i in range(len(images.classes)) if i not in described]
    if len(kept) < 2:
        raise UserError(
            f"The descriptions cover {len(kept)} class of {images.name}; image-text "
            "pretraining contrasts classes with each other, so describe at least two."
        )
    if left:
        progress.info(
            f"{len(left)} classes of {images.name} have no description and are left out of "
            f"pretraining: {', '.join(left)}."
        )
    labels = np.asarray(images.labels)
    index = np.flatnonzero(np.isin(labels, kept))
    remap = {old: new for new, old in enumerate(kept)}
    y = np.asarray([remap[int(labels[i])] for i in index], np.int64)
    classes = [images.classes[i] for i in kept]
    texts = [described[int(labels[i])] for i in index]
    return ImageTextPairs(
        images,
        index,
        texts,
        y,
        labels=y,
        classes=classes,
        name=images.name,
        skipped=list(images.skipped),
        descriptions={c: described[k] for c, k in zip(classes, kept)},
    )


# ---------------------------------------------------------------------------------- manifest
def is_manifest(spec: str) -> bool:
    """Whether ``--data`` names a pairs manifest (a CSV / JSONL file) rather than images."""
    return Path(spec).expanduser().suffix.lower() in (".csv", ".jsonl")


def _rows(path: Path, rows, cols, strict: bool, skipped: list[Skipped]):
    """(files, texts, labels) of the usable rows; the others are skipped or refused."""
    pcol, tcol, lcol = cols
    root = os.path.abspath(path.parent)
    files, texts, labels, problems = [], [], [], []
    for line, row in rows:
        cell = "" if row.get(pcol) is None else str(row[pcol]).strip()
        text = "" if row.get(tcol) is None else str(row[tcol]).strip()
        full = os.path.normpath(os.path.join(root, os.path.expanduser(cell))) if cell else ""
        if cell and not _inside(full, root):
            raise UserError(
                f"Line {line} of {path} points outside the manifest's folder {root} "
                f"({cell!r}). Manifest paths must stay inside it; move the manifest next to "
                "the images."
            )
        why = (
            "empty path"
            if not cell
            else "empty text"
            if not text
            else "missing image"
            if not os.path.isfile(full)
            else ""
        )
        if why:
            problems.append(
                f"line {line}: {why}" + (f" ({cell})" if why == "missing image" else "")
            )
            skipped.append(Skipped(f"{path.name}:{line}" if why != "missing image" else full, why))
            continue
        files.append(full)
        texts.append(text)
        labels.append("" if lcol is None or row.get(lcol) is None else str(row[lcol]).strip())
    if problems and (strict or not files):
        raise UserError(
            f"{len(problems)} of the {len(rows)} rows of {path} cannot be used: "
            f"{'; '.join(problems[:5])}{' ...' if len(problems) > 5 else ''}. Fix the paths "
            "(relative to the manifest's folder) or fill in the texts"
            + (f". {STRICT_HINT}" if files else ".")
        )
    return files, texts, labels


def read_pairs_manifest(path: str | Path, *, strict: bool = False) -> ImageTextPairs:
    """The (image, text) pairs of a CSV / JSONL manifest (see the module docstring)."""
    p = Path(path).expanduser()
    if p.suffix.lower() not in (".csv", ".jsonl") or not p.is_file():
        raise UserError(
            f"{path} is not a pairs manifest. Image-text pretraining reads a CSV or JSONL file "
            "with an image path and a text per row (columns path,text), or a labelled image "
            "source with --descriptions FILE (class -> sentences)."
        )
    columns, rows = _read_rows(p)
    if not rows:
        raise UserError(f"The manifest {p} has no rows. Add one row per pair (path, text).")
    pcol = _pick_column(columns, None, PATH_COLUMNS, "path", p)
    lower = {str(c).strip().lower(): c for c in columns if c is not None}
    if not any(n in lower for n in CAPTION_COLUMNS):
        raise UserError(
            f"{p} has no text column ({'/'.join(CAPTION_COLUMNS)}); its columns are "
            f"{', '.join(map(repr, columns))}. A pairs manifest holds an image path and its text "
            "per row: rename the text column, or, for a manifest of labelled images, pass "
            "--descriptions FILE (class -> sentences)."
        )
    tcol = _pick_column(columns, None, CAPTION_COLUMNS, "text", p)
    lcol = next((lower[n] for n in LABEL_COLUMNS if n in lower), None)
    skipped: list[Skipped] = []
    files, texts, labels = _rows(p, rows, (pcol, tcol, lcol), strict, skipped)
    good = check_images(files, strict=strict, skipped=skipped)
    if len(good) < 2:
        raise UserError(f"{p} has {len(good)} usable pair(s); image-text pretraining needs more.")
    files, texts, labels = ([v[k] for k in good] for v in (files, texts, labels))
    classes = sorted(set(labels)) if lcol is not None and all(labels) else []
    y = np.asarray([classes.index(c) for c in labels], np.int64) if classes else None
    images = FileDataset(files, y, classes, root=str(p.parent), name=p.stem, skipped=skipped)
    images.fingerprint = compute_fingerprint(images)
    unique = {t: i for i, t in enumerate(dict.fromkeys(texts))}
    groups = y if y is not None else np.asarray([unique[t] for t in texts], np.int64)
    pairs = ImageTextPairs(
        images,
        np.arange(len(files)),
        [[t] for t in texts],
        groups,
        labels=y,
        classes=classes,
        name=p.stem,
        skipped=skipped,
    )
    if skipped:
        progress.info(skipped_summary(pairs))
    return pairs
