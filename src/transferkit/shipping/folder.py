"""The export folder: its ``config.json`` (the contract with :mod:`transferkit.runtime`) and
its atomic write.

The folder is built in a temporary folder beside ``--to`` and renamed into place only when
everything in it (graph, config, parity check, model card) is written and checked, so a
failed export leaves nothing behind and a replaced folder (``--force``) is never half-new.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from transferkit.errors import UserError
from transferkit.runtime.images import SMALL_IMAGE  # resized whole, never cropped, up to this size
from transferkit.store.artifacts import atomic_write_json
from transferkit.version import __version__
from transferkit.zoo.base import DataConfig

FORMAT = "transferkit-export"
FORMAT_VERSION = 1
CONFIG = "config.json"
TOKENIZER = "tokenizer"


def check_target(to: Path, force: bool) -> Path:
    """``to`` as an absolute path, refused when it is a file, or a non-empty folder without
    ``force``."""
    to = Path(to).expanduser().absolute()
    if to.exists() and not to.is_dir():
        raise UserError(f"--to {to} is a file; give a folder to write the export into.")
    if to.is_dir() and any(to.iterdir()) and not force:
        raise UserError(
            f"--to {to} is a folder that is not empty. Give a new or empty folder, or pass "
            "--force to replace it (everything in it is deleted)."
        )
    return to


@contextlib.contextmanager
def building(to: Path) -> Iterator[Path]:
    """A temporary folder beside ``to`` to build the export in; renamed to ``to`` (replacing
    what is there) when the block finishes, removed when it raises."""
    to.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=to.parent, prefix=f".{to.name}.", suffix=".tmp"))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())
        old = None
        if to.exists():
            old = Path(tempfile.mkdtemp(dir=to.parent, prefix=f".{to.name}.", suffix=".old"))
            os.replace(to, old / "x")
        os.replace(tmp, to)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def preprocessing(data_config: DataConfig, folder: Path) -> dict[str, Any]:
    """What the runtime needs to prepare raw inputs exactly as the run's evaluation did: the
    eval transform's settings (mean and std one value per channel), or the tokenizer (copied
    into ``folder/tokenizer``) and the most tokens a text keeps."""
    if data_config.modality == "text":
        from transferkit.zoo.transformers_common import load_tokenizer

        tok = load_tokenizer(data_config.tokenizer)
        tok.save_pretrained(str(folder / TOKENIZER))
        if not (folder / TOKENIZER / "tokenizer.json").is_file():
            raise UserError(
                f"The tokenizer of this model ({type(tok).__name__}) has no fast version "
                "(tokenizer.json), which the runtime needs to read text without transformers."
            )
        limit = data_config.max_length or int(getattr(tok, "model_max_length", 0) or 0)
        return {"tokenizer": TOKENIZER, "max_length": limit if 0 < limit < 10**6 else None}
    channels = int(data_config.input_size[0])
    return {
        "input_size": [int(v) for v in data_config.input_size],
        "mean": _per_channel(data_config.mean, channels),
        "std": _per_channel(data_config.std, channels),
        "interpolation": data_config.interpolation,
        "crop_pct": float(data_config.crop_pct),
        "small_image": SMALL_IMAGE,
    }


def _per_channel(values: tuple[float, ...], channels: int) -> list[float]:
    """One value per channel, as the eval transform reads them (averaged for grey, repeated
    for colour)."""
    v = [float(a) for a in values]
    if len(v) == channels:
        return v
    return [sum(v) / len(v)] if channels == 1 else (v * channels if len(v) == 1 else v[:channels])


def input_specs(data_config: DataConfig, names: list[str]) -> list[dict[str, Any]]:
    """The graph's inputs as config.json lists them."""
    if data_config.modality == "text":
        return [{"name": n, "dtype": "int64", "shape": ["batch", "sequence"]} for n in names]
    shape = ["batch", *(int(v) for v in data_config.input_size)]
    return [{"name": names[0], "dtype": "float32", "shape": shape}]


def write_config(
    folder: Path,
    *,
    modality: str,
    classes: list[str],
    source: dict[str, Any],
    model_file: str | None = None,
    opset: int | None = None,
    inputs: list[dict[str, Any]] | None = None,
    preprocessing: dict[str, Any] | None = None,
    members: list[dict[str, Any]] | None = None,
    quantized: str | None = None,
) -> dict[str, Any]:
    """Write ``folder/config.json`` (atomically); returns what it holds."""
    config = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "transferkit_version": __version__,
        **({"model_file": model_file} if model_file else {}),
        "opset": opset,
        "modality": modality,
        "classes": list(classes),
        "output": "probabilities",
        "quantized": quantized,
        "inputs": inputs or [],
        "preprocessing": preprocessing or {},
        "members": members,
        "source": source,
    }
    atomic_write_json(folder / CONFIG, config)
    return config
