"""Reading and checking an export folder's ``config.json``.

The folder is the contract between the exporter (``transferkit export``) and this runtime:
``model.onnx`` (or ``members/<i>/`` for an ensemble), ``config.json`` with the classes, the
modality and the preprocessing, ``tokenizer/`` for text. Every problem with the folder is a
:class:`~transferkit.errors.UserError` that says what the folder is instead and what to do, so
that ``predict --model`` on the wrong folder never ends in a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from transferkit.errors import UserError

FORMAT = "transferkit-export"
FORMAT_VERSION = 1  # the newest export format this runtime reads
MODALITIES = ("image", "text")
_MAKE = "Make one with `transferkit export RUN --to DIR`."


def _not_an_export(folder: Path) -> UserError:
    """Why ``folder`` (which has no config.json) is not an export: what it looks like instead."""
    if (folder / "model.json").is_file():
        what = "a run's saved model (model.json), not an exported one"
        fix = "Predict with `transferkit predict --run RUN`, or export the run first."
    elif (folder / "model").is_dir() and (folder / "model" / "model.json").is_file():
        what = "a run's artifact folder, not an exported model"
        fix = "Predict with `transferkit predict --run RUN`, or export the run first."
    elif (folder / "model.onnx").is_file():
        what = "a folder with model.onnx but no config.json (classes and preprocessing unknown)"
        fix = "Export again with `transferkit export RUN --to DIR`; it writes both."
    else:
        what = "not an exported model (no config.json)"
        fix = _MAKE
    return UserError(f"{folder} is {what}. {fix}")


def read_config(folder: str | Path) -> dict[str, Any]:
    """The checked ``config.json`` of the export folder ``folder``.

    Refused with a UserError: a missing folder, a folder that is not an export (named for what it
    is), an unreadable config, a ``format_version`` newer than this runtime reads (both versions
    named), a TorchScript export (needs PyTorch), a missing model file, unknown modality.
    """
    folder = Path(folder)
    if not folder.is_dir():
        what = "a file" if folder.exists() else "missing"
        raise UserError(
            f"The model folder {folder} is {what}. Give the folder that "
            "`transferkit export RUN --to DIR` made."
        )
    path = folder / "config.json"
    if not path.is_file():
        raise _not_an_export(folder)
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UserError(
            f"{path} cannot be read as JSON ({type(e).__name__}: {e}). Export the run again "
            "(`transferkit export RUN --to DIR --force`)."
        ) from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        found = config.get("format") if isinstance(config, dict) else type(config).__name__
        raise UserError(
            f"{folder} is not a transferkit export: its config.json has format {found!r}, not "
            f"{FORMAT!r} (a Hugging Face or timm model folder, perhaps). {_MAKE}"
        )
    _check_version(config, folder)
    _check_content(config, folder)
    return config


def _check_version(config: dict[str, Any], folder: Path) -> None:
    version = config.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise UserError(f"{folder}/config.json has no valid format_version ({version!r}). {_MAKE}")
    if version > FORMAT_VERSION:
        made = config.get("transferkit_version", "a newer version")
        raise UserError(
            f"{folder} is an export of format version {version} (made by transferkit {made}); "
            f"this transferkit reads format version {FORMAT_VERSION} and older. Upgrade "
            "transferkit (`pip install -U transferkit`) where you predict."
        )


def _check_content(config: dict[str, Any], folder: Path) -> None:
    """The fields a prediction needs: modality, classes, the model file or the members."""
    if config.get("modality") not in MODALITIES:
        raise UserError(
            f"{folder}/config.json names modality {config.get('modality')!r}; this runtime "
            f"predicts {' and '.join(MODALITIES)}. Export the run again with this transferkit."
        )
    classes = config.get("classes")
    if not isinstance(classes, list) or not classes:
        raise UserError(f"{folder}/config.json lists no classes. Export the run again.")
    if config.get("members"):
        return
    model_file = str(config.get("model_file") or "")
    if model_file.endswith((".pt", ".pth")) or config.get("export_format") == "torchscript":
        raise UserError(
            f"{folder} is a TorchScript export ({model_file or 'model.pt'}), which needs PyTorch "
            "to run. Export the run with `--format onnx` (the default) to predict without "
            "PyTorch, or load model.pt with torch.jit.load."
        )
    if not model_file or not (folder / model_file).is_file():
        raise UserError(
            f"{folder} has no model file ({model_file or 'model_file not set'} is missing). "
            "The folder is incomplete: export the run again."
        )


def member_folders(config: dict[str, Any], folder: Path) -> list[tuple[Path, float]]:
    """An ensemble export's member folders and their weights (normalised to sum to 1)."""
    members = config.get("members") or []
    out = []
    for m in members:
        sub = folder / str(m.get("folder", ""))
        weight = float(m.get("weight", 1.0))
        if not sub.resolve().is_relative_to(folder.resolve()):
            raise UserError(f"{folder}/config.json names a member outside the folder: {sub}.")
        out.append((sub, weight))
    total = sum(w for _, w in out)
    if total <= 0:
        raise UserError(f"{folder}/config.json gives its members no positive weight.")
    return [(sub, w / total) for sub, w in out]
