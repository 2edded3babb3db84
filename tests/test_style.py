"""The tree keeps its own hygiene: `ruff format` leaves every file as it is and `ruff check`
(with the blind-except rule selected) finds nothing, so CI fails on a drift."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RUFF = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
TREES = ["src", "tests", "benchmarks", "scripts"]


def _ruff(*args: str) -> subprocess.CompletedProcess:
    assert RUFF, "ruff is not installed: it is a dev dependency (bash scripts/setup.sh --dev)"
    return subprocess.run([RUFF, *args, *TREES], cwd=REPO, capture_output=True, text=True)


def test_ruff_format_changes_nothing():
    proc = _ruff("format", "--check")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ruff_check_finds_nothing():
    proc = _ruff("check", "--output-format", "concise")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_blind_except_rule_is_selected():
    # a `noqa: BLE001` marker only means something when the rule runs
    text = (REPO / "pyproject.toml").read_text()
    lint = text.split("[tool.ruff.lint]", 1)[1].split("\n[", 1)[0]
    select = next(line for line in lint.splitlines() if line.startswith("select"))
    assert '"BLE"' in select or '"BLE001"' in select, select
