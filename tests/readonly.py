"""Read-only places in tests that may run as root, where ``chmod`` alone stops nothing: a child
process started with :func:`as_ordinary_user` gives up root's power to write where permissions
forbid it, so a read-only folder is read-only for it (shared by the fault and torchrun tests)."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
from pathlib import Path

PR_CAPBSET_DROP, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH = 24, 1, 2


def as_ordinary_user() -> None:
    """preexec: a root child loses the power to write where permissions forbid it (dropped from
    the bounding set, so the program it executes does not get it back); others are unchanged."""
    if os.geteuid() != 0:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH):
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def can_write(folder: Path) -> bool:
    """Whether a child started with :func:`as_ordinary_user` may still write in ``folder``."""
    probe = [
        sys.executable,
        "-c",
        "import os, sys; sys.exit(0 if os.access(sys.argv[1], os.W_OK) else 1)",
        str(folder),
    ]
    return subprocess.run(probe, preexec_fn=as_ordinary_user).returncode == 0
