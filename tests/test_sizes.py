"""Modules stay small enough to read in one sitting and functions short enough to hold in one's
head (DESIGN.md, Style): no source file over 300 lines and no function over 60, as ``ruff
format`` lays them out (CI checks the formatting)."""

from __future__ import annotations

import ast
from pathlib import Path

import transferkit

ROOT = Path(transferkit.__file__).parent
MAX_FILE_LINES = 300
MAX_FUNCTION_LINES = 60


def _sources() -> list[Path]:
    return sorted(ROOT.rglob("*.py"))


def test_no_source_file_is_over_300_lines():
    long = {
        str(f.relative_to(ROOT)): n
        for f in _sources()
        if (n := len(f.read_text().splitlines())) > MAX_FILE_LINES
    }
    assert not long, long


def test_no_function_is_over_60_lines():
    long = {}
    for f in _sources():
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    long[f"{f.relative_to(ROOT)}:{node.lineno} {node.name}"] = n
    assert not long, long
