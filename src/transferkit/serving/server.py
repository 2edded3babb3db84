"""Starting the server: the safety checks before binding, the socket, uvicorn, and a clean stop
on SIGINT / SIGTERM.

Starlette on uvicorn: Starlette is a small, well-kept ASGI toolkit (routing, multipart through
python-multipart, JSON responses) with no data-model layer to pull in (the one endpoint parses
images and a JSON list of texts: pydantic would add nothing); uvicorn is the reference ASGI
server. Both speak the ASGI standard, so the app also runs under any other ASGI server.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import signal
import socket
from collections.abc import Callable
from pathlib import Path

import uvicorn

from transferkit.errors import UserError
from transferkit.runtime import Predictor
from transferkit.serving.app import create_app


def is_loopback(host: str) -> bool:
    """Whether ``host`` is only reachable from this machine: ``localhost`` or a loopback
    address. Any other name counts as reachable from elsewhere."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def read_token(path: str | Path) -> str:
    """The bearer token in the file ``path`` (surrounding whitespace dropped)."""
    try:
        token = Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(
            f"Cannot read the token file {str(path)!r} ({e}): pass a readable file holding "
            "the bearer token, e.g. `python -c 'import secrets; print(secrets.token_urlsafe())' "
            "> token.txt`."
        ) from e
    if not token or any(c.isspace() for c in token):
        raise UserError(
            f"The token file {str(path)!r} is empty or its token contains whitespace: write one "
            "token on one line, e.g. from `python -c 'import secrets; print(secrets.token_urlsafe())'`."
        )
    return token


def check_exposure(host: str, token: str | None) -> None:
    """Refuse to bind a host other machines can reach without a token."""
    if token is None and not is_loopback(host):
        raise UserError(
            f"Refusing to serve on {host!r} without a token: that address can be reached from "
            "other machines. Pass --token-file F (a file holding a secret bearer token that "
            "every request must send), or bind 127.0.0.1 (the default) and put a proxy in front."
        )


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port, or a UserError naming the port and the fix."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as e:
        raise UserError(f"Cannot resolve the host {host!r} ({e}): pass --host an address.") from e
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
        sock.bind(address)
        sock.listen(2048)
    except OSError as e:
        sock.close()
        if e.errno == errno.EADDRINUSE:
            raise UserError(
                f"Port {port} on {host} is already in use (another server?): choose another "
                f"with --port (e.g. --port {port + 1}), or --port 0 for any free port."
            ) from e
        raise UserError(
            f"Cannot listen on {host}:{port} ({e.strerror or e}): pass --host an address of "
            "this machine and --port a free port (ports below 1024 need privileges)."
        ) from e
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def serve(
    folder: str | Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    token_file: str | None = None,
    max_batch: int = 32,
    max_upload_mb: float = 10.0,
    read_timeout_s: float = 30.0,
    announce: Callable[[str, Predictor], None] | None = None,
) -> int:
    """Serve the export ``folder`` until SIGINT / SIGTERM; returns the signal that stopped it
    (0 if none). ``announce(url, predictor)`` is called once the server accepts requests."""
    token = read_token(token_file) if token_file else None
    check_exposure(host, token)
    predictor = Predictor(folder)
    app = create_app(
        predictor,
        folder,
        token=token,
        max_batch=max_batch,
        max_upload_bytes=int(max_upload_mb * 2**20),
        read_timeout_s=read_timeout_s,
    )
    sock = bind(host, port)
    config = uvicorn.Config(
        app, log_level="warning", access_log=False, lifespan="on", timeout_graceful_shutdown=5
    )
    server = uvicorn.Server(config)
    stopped_by: list[int] = []
    # Our handlers stand outside uvicorn's: it shuts down gracefully on the signal, restores
    # these, and raises the signal again, which lands here instead of killing the process
    # (so the caller's clean-up, e.g. removing a temporary export, still runs).
    previous = {s: signal.signal(s, lambda sig, _: stopped_by.append(sig)) for s in _SIGNALS}
    try:
        asyncio.run(_run(server, sock, lambda: announce and announce(url_of(sock), predictor)))
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        sock.close()
    return stopped_by[0] if stopped_by else 0


_SIGNALS = (signal.SIGINT, signal.SIGTERM)


async def _run(server: uvicorn.Server, sock: socket.socket, ready: Callable[[], object]) -> None:
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started and not task.done():
        await asyncio.sleep(0.02)
    if server.started:
        ready()
    await task
