"""Full-reference image quality: PSNR and SSIM between two uint8 H x W x C images.

Used to report how closely a projection reproduces its target. Both follow the usual
definitions so numbers compare with other tools:

- PSNR = 10 log10(255^2 / MSE), the MSE taken over every pixel and channel; identical
  images give +inf.
- SSIM as in Wang et al. 2004 ("Image Quality Assessment: From Error Visibility to Structural
  Similarity"): local statistics under an 11 x 11 Gaussian window (sigma 1.5), K1 = 0.01,
  K2 = 0.03, L = 255, averaged over the window positions that lie wholly inside the image (the
  paper's 'valid' filtering). Colour images are scored per channel and the channels averaged,
  as scikit-image does with `channel_axis`; no conversion to luma. Images with a side under
  11 px are scored with reflected borders instead, so tiny generators still get a number.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

WINDOW = 11
SIGMA = 1.5
K1, K2 = 0.01, 0.03
PEAK = 255.0


def _as_pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both images as float64 H x W x C, after checking they are comparable uint8 images."""
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {a.shape} vs {b.shape}")
    if a.dtype != np.uint8 or b.dtype != np.uint8:
        raise ValueError(f"images must be uint8, got {a.dtype} and {b.dtype}")
    if a.ndim not in (2, 3):
        raise ValueError(f"images must be H x W or H x W x C, got shape {a.shape}")
    a, b = a.astype(np.float64), b.astype(np.float64)
    return (a[..., None], b[..., None]) if a.ndim == 2 else (a, b)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB (+inf for identical images)."""
    a, b = _as_pair(a, b)
    mse = float(np.mean((a - b) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(PEAK**2 / mse)


def gaussian_window() -> np.ndarray:
    """The 1-D taps of the separable 11-tap Gaussian (sigma 1.5), summing to 1."""
    x = np.arange(WINDOW) - (WINDOW - 1) / 2
    taps = np.exp(-(x**2) / (2 * SIGMA**2))
    return taps / taps.sum()


def _local_mean(x: np.ndarray, taps: np.ndarray, crop: int) -> np.ndarray:
    """Gaussian-weighted mean around every pixel of one channel, `crop` border pixels dropped."""
    x = ndimage.correlate1d(x, taps, axis=0, mode="reflect")
    x = ndimage.correlate1d(x, taps, axis=1, mode="reflect")
    return x[crop : x.shape[0] - crop, crop : x.shape[1] - crop]


def ssim_map(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-position SSIM of two single-channel float images (the mean of this is SSIM)."""
    taps = gaussian_window()
    crop = (WINDOW - 1) // 2 if min(a.shape) >= WINDOW else 0
    mu_a, mu_b = _local_mean(a, taps, crop), _local_mean(b, taps, crop)
    var_a = _local_mean(a * a, taps, crop) - mu_a**2
    var_b = _local_mean(b * b, taps, crop) - mu_b**2
    cov = _local_mean(a * b, taps, crop) - mu_a * mu_b
    c1, c2 = (K1 * PEAK) ** 2, (K2 * PEAK) ** 2
    num = (2 * mu_a * mu_b + c1) * (2 * cov + c2)
    den = (mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)
    return num / den


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean structural similarity, in [-1, 1] (1 for identical images), channels averaged."""
    a, b = _as_pair(a, b)
    scores = [ssim_map(a[..., c], b[..., c]).mean() for c in range(a.shape[-1])]
    return float(np.mean(scores))
