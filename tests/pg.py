"""A throw-away PostgreSQL server for tests: Debian's binaries, a data folder in a temporary
directory, loopback only, trust authentication, stopped afterwards. The server runs as the
``postgres`` user when the tests run as root (PostgreSQL refuses to run as root)."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path


def binaries() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
    return Path(found[-1]).parent if found else None


def why_not() -> str | None:
    """Why a server cannot be started here (None when it can)."""
    if binaries() is None:
        return (
            "PostgreSQL is not installed; `bash scripts/setup.sh --dev` installs Debian's "
            "postgresql where apt-get can run"
        )
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root without runuser to start PostgreSQL as another user"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``Server().start()`` gives a URL; ``stop()`` ends the server and removes its folder (a
    fresh folder under /tmp: pytest's temporary folders are private to root)."""

    def __init__(self) -> None:
        import tempfile

        self.bin, self.port = binaries(), _free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="transferkit-pg-"))
        self.data = self.folder / "data"
        self.proc: subprocess.Popen | None = None

    def _as_owner(self, *cmd: str) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else list(cmd)

    def start(self) -> str:
        self.folder.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres", "postgres")
        subprocess.run(
            self._as_owner(
                str(self.bin / "initdb"),
                "-D",
                str(self.data),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ),
            check=True,
            capture_output=True,
        )
        self.proc = subprocess.Popen(
            self._as_owner(
                str(self.bin / "postgres"),
                "-D",
                str(self.data),
                "-p",
                str(self.port),
                "-k",
                str(self.folder),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
            ),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.time() + 30
        while time.time() < deadline:
            ok = (
                subprocess.run(
                    [str(self.bin / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
                    capture_output=True,
                ).returncode
                == 0
            )
            if ok:
                break
            time.sleep(0.2)
        subprocess.run(
            [
                str(self.bin / "createdb"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "studies",
            ],
            check=True,
            capture_output=True,
        )
        return f"postgresql://postgres@127.0.0.1:{self.port}/studies"

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
        shutil.rmtree(self.folder, ignore_errors=True)
