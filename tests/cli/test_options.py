"""Options that every command shares, through real subprocesses."""

from __future__ import annotations

import json
import sys

import pytest
from conftest import run_cli

sys.path.insert(0, __file__.rsplit("/", 2)[0] + "/data")
from test_folders import split_tree  # noqa: E402


@pytest.mark.slow
def test_quiet_after_the_command_and_split_folders_end_to_end(tmp_path):
    """`fit ... -q` silences the status lines (`--quiet` worked only before the command), and
    a root/train|val|test/<class> folder is the 3-class task with its own test split, not a
    task with classes 'train', 'val' and 'test'."""
    data = split_tree(tmp_path / "ds", {"train": 8, "val": 3, "test": 4})
    p = run_cli(
        "fit",
        "--data",
        str(data),
        "--model",
        "tiny-cnn",
        "--strategy",
        "linear",
        "--image-size",
        "16",
        "--json",
        "-q",
        env_extra={"TRANSFERKIT_QUIET": "0"},
        check=0,
    )
    assert p.stderr.strip() == ""
    rec = json.loads(
        run_cli("runs", "show", json.loads(p.stdout)["run"], "--json", "--quiet", check=0).stdout
    )
    assert rec["extra"]["dataset"]["classes"] == ["cat", "dog", "fox"]
    assert rec["extra"]["splits"] == {"train": 24, "val": 9, "test": 12}
    loud = run_cli("runs", "list", env_extra={"TRANSFERKIT_QUIET": "0"}, check=0)
    assert "runs in" in loud.stdout
