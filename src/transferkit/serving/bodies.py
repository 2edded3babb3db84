"""The body of ``POST /predict``: read within the size limit, parsed and checked before any of
it is queued for the model, so that a bad request is answered 4xx with its reason and never
reaches (or fails) a batch.

Images come as ``multipart/form-data`` file fields (several per request: ``curl -F
file=@a.jpg -F file=@b.png``) or one raw image body (``Content-Type: image/...``); texts as JSON
``{"texts": ["...", ...]}``.
"""

from __future__ import annotations

import asyncio
import io
import json
from typing import Any

from PIL import Image, UnidentifiedImageError
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request

#: Most inputs one request may hold (Starlette's own default cap on multipart files).
MAX_INPUTS = 1000
#: Most pixels one uploaded image may decode to: a 10 MB PNG can unpack to gigabytes; this is
#: about an 8000 x 5000 photo, far above any model's input size.
MAX_PIXELS = 40_000_000
_IMAGES_HOWTO = "send images as multipart/form-data file fields (curl -F file=@photo.jpg URL)"
_TEXTS_HOWTO = 'send JSON {"texts": ["first text", "second text"]}'


def bad(message: str, status: int = 400) -> HTTPException:
    return HTTPException(status_code=status, detail=message)


async def read_body(request: Request, limit: int, timeout_s: float = 30.0) -> bytes:
    """The whole body, or 413 as soon as it is known to exceed ``limit`` bytes: from its
    Content-Length before reading, and while reading (a chunked body has none); or 408 when it
    has not all arrived within ``timeout_s`` (uvicorn has no read timeout of its own: a client
    that stops mid-body would hold its connection and its buffered bytes for ever)."""
    length = request.headers.get("content-length")
    if length is not None:
        if not length.isdigit():
            raise bad(f"Content-Length {length!r} is not a number of bytes.")
        if int(length) > limit:
            raise bad(_too_large(int(length), limit), 413)
    chunks, total = [], 0
    try:
        async with asyncio.timeout(timeout_s):
            async for chunk in request.stream():
                total += len(chunk)
                if total > limit:
                    raise bad(_too_large(total, limit), 413)
                chunks.append(chunk)
    except TimeoutError:
        raise bad(
            f"The request body did not arrive within {timeout_s:g} s ({total:,} "
            "bytes received): send it at once, in fewer or smaller inputs per request (or "
            "restart the server with a larger --read-timeout).",
            408,
        ) from None
    return b"".join(chunks)


def _too_large(size: int, limit: int) -> str:
    return (
        f"The request body ({size:,} bytes or more) exceeds this server's limit of {limit:,} "
        "bytes: send fewer or smaller inputs per request (or restart the server with a larger "
        "--max-upload-mb)."
    )


async def parse_inputs(request: Request, body: bytes, modality: str) -> tuple[list[str], list[Any]]:
    """(names, inputs) from a read body: PIL images for an image model, str for a text model;
    a name is the upload's file name, or the text's index."""
    if not body:
        raise bad(
            f"The request body is empty: {_TEXTS_HOWTO if modality == 'text' else _IMAGES_HOWTO}."
        )
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "application/json":
        if modality != "text":
            raise bad(f"This model takes images, not JSON texts: {_IMAGES_HOWTO}.")
        return _texts(body)
    if ctype == "multipart/form-data" or ctype.startswith("image/"):
        if modality != "image":
            raise bad(f"This model takes texts, not image uploads: {_TEXTS_HOWTO}.")
        if ctype.startswith("image/"):
            files = [("image", body)]
        else:
            files = await _form_files(request, body)
        return [name for name, _ in files], await asyncio.to_thread(_decode_all, files)
    howto = _TEXTS_HOWTO if modality == "text" else _IMAGES_HOWTO
    raise bad(f"Content-Type {ctype or '(none)'!r} is not accepted: {howto}.", 415)


def _texts(body: bytes) -> tuple[list[str], list[str]]:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as e:
        raise bad(f"The body is not valid JSON ({e}): {_TEXTS_HOWTO}.") from e
    texts = data.get("texts") if isinstance(data, dict) else None
    if not isinstance(texts, list) or not texts:
        raise bad(f'The JSON has no non-empty list "texts": {_TEXTS_HOWTO}.')
    if len(texts) > MAX_INPUTS:
        raise bad(f"{len(texts)} texts in one request; at most {MAX_INPUTS}: split the request.")
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise bad(f"texts[{i}] is {type(t).__name__}, not a string.")
    return [str(i) for i in range(len(texts))], texts


async def _form_files(request: Request, body: bytes) -> list[tuple[str, bytes]]:
    sent = False

    async def replay() -> dict[str, Any]:  # the body already read, handed to the form parser
        nonlocal sent
        if sent:
            return {"type": "http.request", "body": b"", "more_body": False}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    form = await Request(request.scope, replay).form(max_files=MAX_INPUTS, max_fields=MAX_INPUTS)
    try:
        files = [
            (value.filename or key, await value.read())
            for key, value in form.multi_items()
            if isinstance(value, UploadFile)
        ]
    finally:
        await form.close()
    if not files:
        raise bad(f"The form holds no file fields: {_IMAGES_HOWTO}.")
    return files


def _decode_all(files: list[tuple[str, bytes]]) -> list[Image.Image]:
    return [_decode(name, data) for name, data in files]


def _decode(name: str, data: bytes) -> Image.Image:
    """The image in ``data``, fully decoded now (a truncated file fails here, not in a batch)."""
    if not data:
        raise bad(f"The upload {name!r} is empty.")
    try:
        image = Image.open(io.BytesIO(data))
        if image.width * image.height > MAX_PIXELS:
            raise bad(
                f"The upload {name!r} is {image.width} x {image.height} pixels; at most "
                f"{MAX_PIXELS:,} pixels are accepted: resize it first."
            )
        image.load()
    except (
        UnidentifiedImageError,
        OSError,
        ValueError,
        SyntaxError,
        Image.DecompressionBombError,
    ) as e:
        raise bad(f"The upload {name!r} is not an image Pillow can read ({e}).") from e
    return image
