"""The run's tensor fast path for batches of small images, in numpy.

:meth:`transferkit.data.transforms.ImageTransform.batch` evaluates a batch of small uint8 images
of one shape with ``torch.nn.functional.interpolate(..., antialias=True)`` instead of PIL.
Bilinear there is PIL's own fixed-point arithmetic, so PIL itself gives those pixels (and this
module leaves bilinear to PIL). Bicubic there is two separable passes in floating point,
horizontal then vertical, each rounded and clipped to 0..255: the same here, with the same
antialiased kernel (PIL's resampling filter with Keys' a = -0.5, widened by the scale when
shrinking), as one small weight matrix per axis.
"""

from __future__ import annotations

import numpy as np


def _cubic(x: np.ndarray, a: float = -0.5) -> np.ndarray:
    """Keys' cubic convolution kernel (a = -0.5, as PIL and torch's antialiased bicubic)."""
    x = np.abs(x)
    near = ((a + 2) * x - (a + 3)) * x * x + 1
    far = (((x - 5) * x + 8) * x - 4) * a
    return np.where(x < 1, near, np.where(x < 2, far, 0.0))


def cubic_weights(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) weights of the antialiased bicubic resize along one axis: PIL's
    ``precompute_coeffs`` (support 2 widened by the scale when shrinking; taps normalised)."""
    scale = n_in / n_out
    filterscale = max(scale, 1.0)
    support = 2.0 * filterscale
    weights = np.zeros((n_out, n_in), dtype=np.float64)
    for i in range(n_out):
        center = scale * (i + 0.5)
        lo = max(int(center - support + 0.5), 0)
        hi = min(int(center + support + 0.5), n_in)
        taps = _cubic((np.arange(lo, hi) - center + 0.5) / filterscale)
        total = taps.sum()
        weights[i, lo:hi] = taps / total if total != 0 else taps
    return weights


def batch_resize(
    images: list[np.ndarray],
    size: tuple[int, int],
    interpolation: str,
    channels: int,
    small: int,
) -> np.ndarray | None:
    """The batch resized as the run's fast path does it: float (N, C', H, W) in 0..255 (C' is 1
    for grey images, broadcast to a colour model's channels by the normalisation), or None
    where the run transforms image by image (the same conditions as ``ImageTransform.batch``,
    and bilinear, which PIL reproduces exactly)."""
    first = images[0]
    if (
        interpolation != "bicubic"
        or first.dtype != np.uint8
        or max(first.shape[:2]) > small
        or first.ndim not in (2, 3)
        or (first.ndim == 3 and first.shape[2] not in (1, 3, 4))
    ):
        return None
    if any(a.shape != first.shape or a.dtype != np.uint8 for a in images):
        return None
    x = np.stack(images)
    x = x[:, None] if x.ndim == 3 else x.transpose(0, 3, 1, 2)[:, :3]
    if x.shape[1] == 3 and channels == 1:
        return None  # PIL's luma conversion: the run does it image by image
    x = x.astype(np.float64)
    (h, w), (height, width) = x.shape[-2:], size
    if w != width:
        x = np.clip(np.rint(x @ cubic_weights(w, width).T), 0, 255)
    if h != height:
        x = np.clip(np.rint(cubic_weights(h, height) @ x), 0, 255)
    return x.astype(np.float32)
