"""What ``GET /metadata`` tells a client about the served model: its classes and modality, the
input it expects, where it came from (config.json's source and versions), the model card's
sections (README.md) and the export's parity check (parity.json)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

_HEADING = re.compile(r"^(#{1,2})\s+(.*\S)\s*$")


def describe(folder: Path, config: dict[str, Any], classes: list[str], modality: str) -> dict:
    """The static part of ``/metadata`` (read once at start)."""
    pre = _preprocessing(folder, config)
    out: dict[str, Any] = {"classes": list(classes), "num_classes": len(classes)}
    out["modality"] = modality
    if modality == "text":
        out["max_length"] = pre.get("max_length")
    else:
        out["input_size"] = pre.get("input_size")
        out["preprocessing"] = pre
    for key in ("source", "quantized", "opset", "format_version", "transferkit_version"):
        out[key] = config.get(key)
    members = config.get("members")
    if members:
        out["members"] = [{"folder": m.get("folder"), "weight": m.get("weight")} for m in members]
    out["model_card"] = model_card(folder / "README.md")
    out["parity"] = _json(folder / "parity.json")
    return out


def _preprocessing(folder: Path, config: dict[str, Any]) -> dict[str, Any]:
    """The folder's preprocessing; an ensemble exported as members has it in each member's
    config (the first one's stands for all in metadata)."""
    pre = config.get("preprocessing")
    if pre is None and config.get("members"):
        member = _json(folder / config["members"][0].get("folder", "") / "config.json") or {}
        pre = member.get("preprocessing")
    return dict(pre or {})


def model_card(path: Path) -> dict[str, Any] | None:
    """The model card as {"title", "sections": {heading: text}, "markdown"}; None if absent."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    title, sections, current = None, {}, None
    for line in text.splitlines():
        m = _HEADING.match(line)
        if m and len(m.group(1)) == 1 and title is None:
            title = m.group(2)
        elif m and len(m.group(1)) == 2:
            current = m.group(2)
            sections[current] = []
        elif current is not None:
            sections[current].append(line)
    body = {k: "\n".join(v).strip() for k, v in sections.items()}
    return {"title": title, "sections": body, "markdown": text}


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
