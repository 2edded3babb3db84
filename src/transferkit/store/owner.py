"""Who owns a running run, whether that process is still alive, and its heartbeat.

A run records its owner when it starts (host name, process id, and a token of the process's
start time, so a recycled pid is not mistaken for the owner) and beats every
:data:`HEARTBEAT_S` seconds while it works. A run left ``running`` by a process that was killed
(SIGKILL, power loss, OOM) is then recognised: on the owner's host the process is gone or is
another process with the same pid; seen from another host, its heartbeat is older than
:data:`STALE_AFTER_S`. The store turns such a run into ``interrupted`` (resumable) when it reads it.
"""

from __future__ import annotations

import os
import socket
import threading
from datetime import datetime, timezone
from typing import Any


def _float_env(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, "") or default)
    except ValueError:
        return default


HEARTBEAT_S = _float_env("TRANSFERKIT_HEARTBEAT_S", 30.0)
STALE_AFTER_S = _float_env("TRANSFERKIT_STALE_AFTER_S", 600.0)


def _boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read().strip()
    except OSError:
        return ""


def process_token(pid: int) -> str | None:
    """A string that differs between two processes that had the same pid: the boot id and
    the process's start time in clock ticks (Linux ``/proc``); None where it cannot be read."""
    try:
        with open(f"/proc/{int(pid)}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()  # the name in (...) may hold spaces
    return f"{_boot_id()}:{fields[19]}"  # field 22 of stat: starttime


def current_owner() -> dict[str, Any]:
    pid = os.getpid()
    return {"host": socket.gethostname(), "pid": pid, "pid_started": process_token(pid)}


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


def _age_s(stamp: str | None) -> float | None:
    if not stamp:
        return None
    try:
        then = datetime.fromisoformat(stamp)
    except ValueError:
        return None
    return (datetime.now(timezone.utc) - then).total_seconds()


def owner_gone(row: dict[str, Any]) -> str | None:
    """Why the process that owns this ``running`` row is gone, or None if it may be alive."""
    pid, host = row.get("pid"), row.get("host")
    if pid is None:  # a record from before owners were kept: nothing to judge by
        return None
    if host == socket.gethostname():
        if not _pid_alive(int(pid)):
            return f"its process {pid} on {host} has ended without finishing it"
        token = row.get("pid_started")
        now = process_token(int(pid))
        if token and now and token != now:
            return f"its process {pid} on {host} has ended (the pid now belongs to another process)"
        return None
    age = _age_s(row.get("heartbeat"))
    if age is not None and age > STALE_AFTER_S:
        return (
            f"its process {pid} on {host} has not reported for {age / 60:.0f} minutes "
            f"(heartbeat every {HEARTBEAT_S:.0f} s)"
        )
    return None


class Heartbeat:
    """A daemon thread that calls ``beat()`` every ``interval`` seconds until stopped. A beat
    that fails (a locked or full disk) is skipped: the run itself decides whether to go on."""

    def __init__(self, beat, interval: float | None = None) -> None:
        self.beat, self.interval = beat, interval or HEARTBEAT_S
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._loop, name="transferkit-heartbeat", daemon=True
        )

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.beat()
            except Exception:  # noqa: BLE001 - a missed beat must not stop the run
                pass

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
