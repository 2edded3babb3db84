"""A minimal headless-Chromium driver over the DevTools protocol, for report rendering tests.

Chromium is started with ``--remote-debugging-pipe``: it reads protocol commands from file
descriptor 3 and writes replies and events to descriptor 4, each message JSON terminated by a
NUL byte. That needs nothing beyond the standard library (no websocket client, no Selenium).
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BINARIES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--hide-scrollbars",
    "--mute-audio",
    "--remote-debugging-pipe",
]

IMAGES_JS = """
Promise.all(Array.from(document.images).map(i => i.decode().then(() => null, e => String(e))))
  .then(errors => JSON.stringify({
    images: Array.from(document.images).map(i => ({width: i.naturalWidth, height: i.naturalHeight,
                                                 complete: i.complete, alt: i.alt})),
    decodeErrors: errors.filter(e => e !== null),
    scripts: document.scripts.length,
    title: document.title,
    bodyText: document.body.innerText.length,
    height: document.documentElement.scrollHeight,
  }))
"""


def find_chromium() -> str | None:
    for name in BINARIES:
        path = shutil.which(name)
        if path:
            return path
    return None


@dataclass
class PageCheck:
    """What a page load produced: console / log errors, image facts and a PNG screenshot."""

    errors: list[str] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)
    screenshot: bytes = b""


class Chromium:
    """One headless browser process; use as a context manager."""

    def __init__(self, binary: str, timeout: float = 60.0) -> None:
        self.timeout = timeout
        self._profile = tempfile.mkdtemp(prefix="tk-chromium-")
        cmd_r, self._cmd_w = os.pipe()
        self._out_r, out_w = os.pipe()

        def child_fds() -> None:  # move the pipe ends to fds 3 and 4 without clobbering
            a = fcntl.fcntl(cmd_r, fcntl.F_DUPFD_CLOEXEC, 10)
            b = fcntl.fcntl(out_w, fcntl.F_DUPFD_CLOEXEC, 10)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.proc = subprocess.Popen(
            [binary, *FLAGS, f"--user-data-dir={self._profile}", "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            preexec_fn=child_fds,
            close_fds=False,
        )
        os.close(cmd_r)
        os.close(out_w)
        self._next_id = 0
        self._events: queue.Queue = queue.Queue()
        self._replies: dict[int, dict] = {}
        self._cond = threading.Condition()
        self._stderr: list[bytes] = []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._drain_stderr, daemon=True).start()

    # ------------------------------------------------------------ plumbing
    def _drain_stderr(self) -> None:
        for line in self.proc.stderr:
            self._stderr.append(line)

    def _read(self) -> None:
        buf = b""
        while True:
            try:
                chunk = os.read(self._out_r, 1 << 16)
            except OSError:
                chunk = b""
            if not chunk:
                with self._cond:
                    self._cond.notify_all()
                return
            buf += chunk
            while b"\0" in buf:
                raw, buf = buf.split(b"\0", 1)
                msg = json.loads(raw)
                if "id" in msg:
                    with self._cond:
                        self._replies[msg["id"]] = msg
                        self._cond.notify_all()
                else:
                    self._events.put(msg)

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        """Send one command and wait for its reply; protocol errors raise RuntimeError."""
        self._next_id += 1
        msg: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._cmd_w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        with self._cond:
            while self._next_id not in self._replies:
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    raise RuntimeError(
                        f"no reply to {method} from Chromium; stderr:\n{self.stderr()}"
                    )
                self._cond.wait(min(left, 0.5))
            reply = self._replies.pop(self._next_id)
        if "error" in reply:
            raise RuntimeError(f"{method} failed: {reply['error']}")
        return reply.get("result", {})

    def stderr(self) -> str:
        return b"".join(self._stderr).decode(errors="replace")[-4000:]

    def close(self) -> None:
        try:
            if self.proc.poll() is None:
                self.send("Browser.close")
                self.proc.wait(timeout=10)
        except Exception:  # noqa: BLE001 - best effort: any failure means "not available"
            pass
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        for fd in (self._cmd_w, self._out_r):
            try:
                os.close(fd)
            except OSError:
                pass
        shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --------------------------------------------------------------- check
    def check_page(self, path: Path, width: int = 1200, height: int = 2000) -> PageCheck:
        """Load ``path``, wait for load and image decoding, collect errors, take a screenshot."""
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        for domain in ("Runtime", "Log", "Page"):
            self.send(f"{domain}.enable", session=session)
        self.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
            session=session,
        )
        self.send("Page.navigate", {"url": Path(path).resolve().as_uri()}, session=session)
        result = PageCheck()
        self._wait_for(session, "Page.loadEventFired", result)
        evaluated = self.send(
            "Runtime.evaluate",
            {"expression": IMAGES_JS, "awaitPromise": True, "returnByValue": True},
            session=session,
        )
        if "exceptionDetails" in evaluated:
            result.errors.append(f"evaluate: {evaluated['exceptionDetails']}")
        else:
            result.info = json.loads(evaluated["result"]["value"])
        shot = self.send("Page.captureScreenshot", {"format": "png"}, session=session)
        result.screenshot = base64.b64decode(shot["data"])
        self._collect(session, result, until=time.monotonic() + 0.3)
        return result

    def _wait_for(self, session: str, method: str, result: PageCheck) -> None:
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            try:
                ev = self._events.get(timeout=0.5)
            except queue.Empty:
                continue
            self._record(ev, session, result)
            if ev.get("method") == method and ev.get("sessionId") == session:
                return
        raise RuntimeError(f"{method} never came; stderr:\n{self.stderr()}")

    def _collect(self, session: str, result: PageCheck, until: float) -> None:
        while time.monotonic() < until:
            try:
                self._record(self._events.get(timeout=0.05), session, result)
            except queue.Empty:
                continue

    @staticmethod
    def _record(ev: dict, session: str, result: PageCheck) -> None:
        if ev.get("sessionId") != session:
            return
        method, params = ev.get("method"), ev.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            args = [a.get("value", a.get("description", "")) for a in params.get("args", [])]
            result.errors.append("console: " + " ".join(map(str, args)))
        elif method == "Runtime.exceptionThrown":
            result.errors.append(f"exception: {params.get('exceptionDetails', {}).get('text')}")
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            e = params["entry"]
            result.errors.append(f"log ({e.get('source')}): {e.get('text')} {e.get('url', '')}")
