"""The ASGI application: ``POST /predict``, ``GET /health``, ``GET /metadata`` over a
:class:`transferkit.runtime.Predictor`.

Every answer is JSON. A bad request gets a 4xx with its reason in ``{"error": ...}``: 400 for a
body that is empty, not valid JSON, not an image, or not the model's modality; 401 without the
right bearer token; 404 for an unknown route; 405 for a wrong method; 413 for a body over the
size limit; 408 for a body not sent within the read timeout (a stalled or very slow client,
whose connection would otherwise stay open for ever); 415 for a Content-Type the model cannot take. An unexpected failure is logged with
its traceback on the server and answered 500 with no traceback; the server keeps serving.
"""

from __future__ import annotations

import contextlib
import functools
import hmac
import logging
from pathlib import Path
from typing import Any

import numpy as np
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from transferkit.errors import UserError
from transferkit.serving.batcher import Batcher
from transferkit.serving.bodies import bad, parse_inputs, read_body
from transferkit.serving.metadata import describe
from transferkit.version import __version__

log = logging.getLogger("transferkit.serving")

#: Routes answered without the token: a liveness probe (a load balancer's, a container
#: orchestrator's) should not need the secret, and /health says nothing but "ok".
OPEN_PATHS = frozenset({"/health"})


def create_app(
    predictor: Any,
    folder: str | Path,
    *,
    token: str | None = None,
    max_batch: int = 32,
    max_upload_bytes: int = 10 * 2**20,
    read_timeout_s: float = 30.0,
) -> ASGIApp:
    """The server's ASGI app for ``predictor`` (loaded from the export ``folder``).

    ``token``: when given, every route but /health needs ``Authorization: Bearer TOKEN``.
    ``read_timeout_s``: a request body not received within it is answered 408.
    """
    batcher = Batcher(functools.partial(predictor.predict_proba, batch_size=max_batch), max_batch)
    classes = [str(c) for c in predictor.classes]
    modality = predictor.modality
    static = describe(Path(folder), dict(predictor.config), classes, modality)
    limits = {
        "max_batch": max_batch,
        "max_upload_bytes": max_upload_bytes,
        "read_timeout_s": read_timeout_s,
    }

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def metadata(request: Request) -> JSONResponse:
        counts = {"batches": batcher.batches, "inputs_predicted": batcher.inputs}
        server = {"transferkit_version": __version__, **limits, **counts}
        return JSONResponse({**static, "server": server})

    async def predict(request: Request) -> JSONResponse:
        body = await read_body(request, max_upload_bytes, read_timeout_s)
        names, inputs = await parse_inputs(request, body, modality)
        try:
            probs = await batcher.predict(inputs)
        except UserError as e:  # the runtime refused an input: the client's to fix
            raise bad(str(e)) from e
        return JSONResponse({"predictions": _answers(names, probs, classes)})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        await batcher.start()
        try:
            yield
        finally:
            await batcher.stop()

    app = Starlette(
        routes=[
            Route("/health", health, methods=["GET"]),
            Route("/metadata", metadata, methods=["GET"]),
            Route("/predict", predict, methods=["POST"]),
        ],
        exception_handlers={HTTPException: _http_error, Exception: _server_error},
        lifespan=lifespan,
    )
    return BearerAuth(app, token) if token is not None else app


def _answers(names: list[str], probs: np.ndarray, classes: list[str]) -> list[dict[str, Any]]:
    """One entry per input: its name, the predicted class, its probability, and all of them."""
    out = []
    for name, p in zip(names, np.asarray(probs, dtype=float)):
        k = int(np.argmax(p))
        out.append(
            {
                "input": name,
                "prediction": classes[k],
                "confidence": float(p[k]),
                "probabilities": {c: float(v) for c, v in zip(classes, p)},
            }
        )
    return out


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    return JSONResponse({"error": exc.detail}, status_code=exc.status_code, headers=exc.headers)


async def _server_error(request: Request, exc: Exception) -> JSONResponse:
    log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    message = "Internal error while answering this request (the server's log has the details)."
    return JSONResponse({"error": message}, status_code=500)


class BearerAuth:
    """ASGI middleware: 401 unless ``Authorization: Bearer <token>`` matches (compared in
    constant time with :func:`hmac.compare_digest`), on every route but :data:`OPEN_PATHS` -
    unknown routes included, so a client without the token learns nothing about the routes."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token.encode("utf-8")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS or self._allowed(scope):
            await self.app(scope, receive, send)
            return
        response = JSONResponse(
            {
                "error": "Missing or wrong bearer token: send the header 'Authorization: Bearer TOKEN'."
            },
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )
        await response(scope, receive, send)

    def _allowed(self, scope: Scope) -> bool:
        scheme, _, given = Headers(scope=scope).get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode("utf-8"), self.token
        )
