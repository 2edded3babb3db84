"""Drawing attributions: a PNG overlay per image, one HTML page of highlighted tokens for texts.

Every string in the HTML (tokens, texts, file names, class names) is escaped: they come from
the user's files and folder names. The page is self-contained (inline CSS, no script).
"""

from __future__ import annotations

import html
import io
from typing import Any

import numpy as np
import torch
from PIL import Image

#: A "jet"-like colour map: anchors from 0 (cold) to 1 (hot), linearly interpolated.
_ANCHORS = np.array(
    [[0, 0, 128], [0, 0, 255], [0, 255, 255], [255, 255, 0], [255, 0, 0], [128, 0, 0]],
    dtype=np.float64,
)
MIN_SIDE = 160  # small inputs (32 px) are enlarged so the overlay can be seen


def display_image(x: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> np.ndarray:
    """A normalised (C, H, W) input tensor back to a uint8 (H, W, 3) picture."""
    a = x.detach().float().cpu().numpy()
    c = a.shape[0]
    m = np.resize(np.asarray(mean, dtype=np.float64), c)[:, None, None]
    s = np.resize(np.asarray(std, dtype=np.float64), c)[:, None, None]
    img = np.clip((a * s + m) * 255.0, 0, 255).astype(np.uint8).transpose(1, 2, 0)
    return np.repeat(img, 3, axis=2) if c == 1 else img[..., :3]


def colorize(heat: np.ndarray) -> np.ndarray:
    """(H, W) values in [0, 1] -> (H, W, 3) uint8 colours."""
    pos = np.clip(np.nan_to_num(heat), 0, 1) * (len(_ANCHORS) - 1)
    lo = np.floor(pos).astype(int).clip(0, len(_ANCHORS) - 2)
    frac = (pos - lo)[..., None]
    return (_ANCHORS[lo] * (1 - frac) + _ANCHORS[lo + 1] * frac).astype(np.uint8)


def overlay(image: np.ndarray, heat: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """The picture with the heat map blended over it, enlarged to at least :data:`MIN_SIDE`
    pixels a side; (H, W, 3) uint8."""
    h, w = image.shape[:2]
    scale = max(1, int(np.ceil(MIN_SIDE / max(1, min(h, w)))))
    size = (w * scale, h * scale)
    base = np.asarray(Image.fromarray(image).resize(size, Image.NEAREST), dtype=np.float64)
    hm = Image.fromarray(np.asarray(heat, dtype=np.float32)).resize(size, Image.BILINEAR)
    hm = np.asarray(hm, dtype=np.float64)
    blended = (1 - alpha) * base + alpha * colorize(hm).astype(np.float64)
    return np.clip(blended, 0, 255).astype(np.uint8)


def png_bytes(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    return buf.getvalue()


def _token_span(token: str, score: float, scale: float) -> str:
    a = 0.0 if scale <= 0 else min(1.0, abs(score) / scale)
    rgb = "220, 50, 47" if score >= 0 else "38, 139, 210"
    return (
        f'<span class="tok" style="background: rgba({rgb}, {a:.2f})" '
        f'title="{score:+.4f}">{html.escape(token)}</span>'
    )


def _entry_html(e: dict[str, Any]) -> str:
    scores = np.asarray(e["scores"], dtype=np.float64)
    scale = float(np.abs(scores).max()) if scores.size else 0.0
    spans = " ".join(_token_span(t, float(s), scale) for t, s in zip(e["tokens"], scores))
    head = (
        f"{html.escape(str(e['file']))}: predicted <b>{html.escape(str(e['predicted']))}"
        f"</b> ({100 * float(e['confidence']):.1f}%)"
    )
    if e.get("true") not in (None, ""):
        head += f", true {html.escape(str(e['true']))}"
    head += f"; explained class {html.escape(str(e['explained']))}"
    text = html.escape(str(e.get("text", "")))
    return (
        f'<div class="item"><p>{head}</p><p class="toks">{spans}</p>'
        f'<p class="text">{text}</p></div>'
    )


def tokens_html(entries: list[dict[str, Any]], title: str) -> str:
    """One page: for each text, its tokens with a background for their attribution to the
    explained class (red: for it, blue: against it; darker: stronger), the scores on hover."""
    style = (
        "body{font-family:sans-serif;max-width:60em;margin:2em auto;color:#222}"
        ".item{border-bottom:1px solid #ddd;padding:.5em 0}.tok{padding:1px 2px;"
        "border-radius:3px;line-height:1.9}.text{color:#666;font-size:90%}"
    )
    body = "\n".join(_entry_html(e) for e in entries)
    return (
        f'<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}'
        f"</title><style>{style}</style></head><body><h1>{html.escape(title)}</h1>"
        f"<p>Red: evidence for the explained class; blue: against it.</p>\n{body}\n"
        "</body></html>\n"
    )
