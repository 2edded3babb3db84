"""What the fault tests share within one pytest session: the workflows and their
uninterrupted reference runs, started one after the other in a background thread at the first
use, so that they overlap with the kill tests (two processes at a time on a two-core machine).

Plain functions over module-level objects rather than fixtures in a ``conftest.py``: a
``conftest.py`` here would shadow ``tests/conftest.py`` for the suite's ``from conftest import
run_cli``. ``TRANSFERKIT_FAULT_SEED`` (default 0) seeds the kill moments; failure messages
name it.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
from faultkit import Reference, Workflow, reference, workflows

SEED = int(os.environ.get("TRANSFERKIT_FAULT_SEED", "0"))
_shared: dict[str, object] = {}


def _base() -> Path:
    if "base" not in _shared:
        base = Path(tempfile.mkdtemp(prefix="tk-faults-"))
        atexit.register(shutil.rmtree, base, ignore_errors=True)
        _shared["base"] = base
    return _shared["base"]  # type: ignore[return-value]


def flows() -> dict[str, Workflow]:
    if "flows" not in _shared:
        _shared["flows"] = workflows(_base() / "data")
    return _shared["flows"]  # type: ignore[return-value]


class References:
    """``references()[name]`` waits for the reference run of one workflow. The first lookup
    starts them all, that one first, one at a time in a background thread."""

    def __init__(self) -> None:
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="reference")
        self.futures: dict[str, Future] = {}
        atexit.register(self.pool.shutdown, wait=True, cancel_futures=True)

    def start(self, first: str) -> References:
        """Start them all (``first`` first) unless they are started already; do not wait."""
        if not self.futures:
            wfs = flows()
            for n in sorted(wfs, key=lambda n: n != first):
                self.futures[n] = self.pool.submit(reference, wfs[n], _base() / f"reference-{n}")
        return self

    def __getitem__(self, name: str) -> Reference:
        return self.start(name).futures[name].result()


def references() -> References:
    if "references" not in _shared:
        _shared["references"] = References()
    return _shared["references"]  # type: ignore[return-value]


def seeded_rng(test_name: str) -> np.random.Generator:
    """A generator seeded by TRANSFERKIT_FAULT_SEED and the test's name."""
    return np.random.default_rng([SEED, sum(map(ord, test_name))])
