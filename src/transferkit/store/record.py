"""One run as stored (:class:`RunRecord`), the store's home folder and run ids."""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

_JSON_FIELDS = ("config", "metrics", "timings", "extra", "versions")


def home() -> Path:
    """The transferkit home folder: ``$TRANSFERKIT_HOME`` if set, else ``~/.transferkit``."""
    env = os.environ.get("TRANSFERKIT_HOME", "").strip()
    return Path(env).expanduser() if env else Path.home() / ".transferkit"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def _new_id() -> str:
    """``r`` + UTC ``yyyymmdd-HHMMSS`` + ``-`` + 4 hex digits: short and sortable by time."""
    return datetime.now(timezone.utc).strftime("r%Y%m%d-%H%M%S-") + secrets.token_hex(2)


@dataclass
class RunRecord:
    """One run as stored: what was run (kind, config, seed, data), how it went, and where."""

    id: str
    kind: str
    status: str
    created: str
    updated: str
    config: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None
    data_fingerprint: str | None = None
    parent: str | None = None
    name: str | None = None
    error: str | None = None
    config_hash: str = ""
    host: str | None = None
    pid: int | None = None
    pid_started: str | None = None
    heartbeat: str | None = None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> RunRecord:
        values = {k: v for k, v in row.items() if k in {f.name for f in dataclasses.fields(cls)}}
        for k in _JSON_FIELDS:
            values[k] = json.loads(values.get(k) or "{}")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """A plain JSON-ready dict (for ``runs show --json`` and reports)."""
        return dataclasses.asdict(self)
