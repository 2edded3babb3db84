"""Helpers for the serve tests: real upload files from real data, and `transferkit serve` as a
real subprocess on a loopback port (announced URL read from its stdout; SIGTERM at the end)."""

from __future__ import annotations

import contextlib
import io
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image

TRANSFERKIT = str(Path(sys.executable).parent / "transferkit")


def digit_uploads(n: int = 3, fmt: str = "PNG") -> list[tuple[str, bytes]]:
    """``n`` UCI digits (real 8x8 scans) as 24x24 RGB files of format ``fmt``."""
    from sklearn.datasets import load_digits

    images = load_digits().images[:n]
    out = []
    for i, img in enumerate(images):
        pixels = (img * (255 / 16)).astype(np.uint8)
        pil = Image.fromarray(pixels, "L").resize((24, 24)).convert("RGB")
        buf = io.BytesIO()
        pil.save(buf, format=fmt)
        out.append((f"digit{i}.{fmt.lower()}", buf.getvalue()))
    return out


def decoded(uploads: list[tuple[str, bytes]]) -> list[Image.Image]:
    return [Image.open(io.BytesIO(data)) for _, data in uploads]


class Served:
    def __init__(self, proc: subprocess.Popen, url: str, stderr) -> None:
        self.proc, self.url, self._stderr = proc, url, stderr

    def stderr(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read()


def serve_cmd(target: str | Path, *args: str) -> list[str]:
    return [TRANSFERKIT, "serve", str(target), *args]


@contextlib.contextmanager
def serving(
    target: str | Path,
    *args: str,
    env: dict | None = None,
    timeout: float = 120,
    stop: signal.Signals = signal.SIGTERM,
) -> Iterator[Served]:
    """`transferkit serve TARGET --port 0 ARGS` running until the block ends; then the signal
    ``stop``, and the server must stop cleanly (exit 0) within 20 s."""
    if "--port" not in args:
        args = (*args, "--port", "0")
    err = tempfile.TemporaryFile("w+")
    proc = subprocess.Popen(
        serve_cmd(target, *args),
        stdout=subprocess.PIPE,
        stderr=err,
        text=True,
        env={**os.environ, **(env or {})},
        start_new_session=True,
    )
    try:
        url = _announced_url(proc, timeout, err)
        served = Served(proc, url, err)
        yield served
        proc.send_signal(stop)
        code = proc.wait(timeout=20)
        assert code == 0, (code, served.stderr())
        assert f"stopped ({stop.name})" in served.stderr()
        assert "Traceback" not in served.stderr()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        err.close()


def _announced_url(proc: subprocess.Popen, timeout: float, err) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.2)
        if ready:
            line = proc.stdout.readline()
            if line.startswith("serving "):
                return line.split(" on ", 1)[1].split()[0]
        if proc.poll() is not None:
            break
    err.seek(0)
    raise AssertionError(f"serve did not start (exit {proc.poll()}): {err.read()}")
