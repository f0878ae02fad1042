"""Pixels in and out: [-1, 1] tensors <-> uint8 images, PNG files and grids, letterboxing.

Generators and discriminators see float images in [-1, 1]; files, archives and Inception see
uint8. Each conversion is written once here, so a PNG, a grid, an FID feature and a training
batch all round the same way (NVIDIA's `x * 127.5 + 128`, clamped), and every image file is
written by one PNG writer (atomically).
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from fauxshop.atomic import atomic_path


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Images in about [-1, 1] -> uint8 pixels, same layout and device, rounded as NVIDIA's
    tools do."""
    return (images * 127.5 + 128).clamp(0, 255).to(torch.uint8)


def to_hwc_uint8(images: torch.Tensor) -> np.ndarray:
    """N x C x H x W in [-1, 1] -> N x H x W x C uint8 on the CPU, ready to save."""
    return to_uint8(images.detach().float()).permute(0, 2, 3, 1).cpu().numpy()


def from_uint8(images: torch.Tensor) -> torch.Tensor:
    """uint8 pixels 0..255 -> float in [-1, 1], same layout and device."""
    return images.float() / 127.5 - 1


def coarsen(images: np.ndarray, factor: float) -> np.ndarray:
    """N x H x W x C uint8 photos without their finest detail: area-downscaled by `factor` and
    scaled back up bilinearly (factor 1: unchanged)."""
    if factor == 1:
        return images
    if factor < 1:
        raise ValueError(f"coarsen: factor must be at least 1, got {factor}")
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float()
    h, w = x.shape[-2:]
    small = (max(1, round(h / factor)), max(1, round(w / factor)))
    x = torch.nn.functional.interpolate(x, size=small, mode="area")
    x = torch.nn.functional.interpolate(x, size=(h, w), mode="bilinear", align_corners=False)
    return x.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()


def to_pil(image: np.ndarray) -> Image.Image:
    """One uint8 H x W or H x W x C image (C = 1, 3 or 4) as a Pillow image."""
    return Image.fromarray(image[..., 0] if image.ndim == 3 and image.shape[-1] == 1 else image)


def png_bytes(image: np.ndarray | Image.Image) -> bytes:
    """One image encoded as PNG."""
    buf = io.BytesIO()
    (image if isinstance(image, Image.Image) else to_pil(image)).save(buf, format="PNG")
    return buf.getvalue()


def save_png(image: np.ndarray, path: str | os.PathLike) -> Path:
    """Write one H x W x C uint8 image (C = 1 or 3) atomically."""
    pil = to_pil(image)
    with atomic_path(path) as tmp:
        pil.save(tmp, format="PNG")
    return Path(path)


def tile_grid(images: np.ndarray, cols: int, fill: int = 255) -> np.ndarray:
    """Lay N x H x W x C images out row by row; empty cells take `fill` (white, like a
    product photo's background)."""
    n, h, w, c = images.shape
    rows = max(1, math.ceil(n / cols))
    grid = np.full((rows * h, cols * w, c), fill, dtype=np.uint8)
    for i, img in enumerate(images):
        r, col = divmod(i, cols)
        grid[r * h : (r + 1) * h, col * w : (col + 1) * w] = img
    return grid


def save_grid(
    images: np.ndarray, path: str | os.PathLike, cols: int | None = None, fill: int = 255
) -> Path:
    """One PNG of all images; `cols` defaults to a near-square layout."""
    cols = cols or math.ceil(math.sqrt(len(images)))
    return save_png(tile_grid(images, cols, fill), path)


def save_images(images: np.ndarray, folder: str | os.PathLike, names: Sequence[str]) -> list[Path]:
    """One PNG per image, `names[i]` for image i (e.g. 'seed0042.png')."""
    if len(names) != len(images):
        raise ValueError(f"{len(images)} images but {len(names)} names")
    return [save_png(img, Path(folder) / name) for img, name in zip(images, names, strict=True)]


def letterbox(image: Image.Image, height: int, width: int, background) -> Image.Image:
    """Fit the whole image inside height x width, centred, padding with the background."""
    image = image.convert("RGB")
    scale = min(width / image.width, height / image.height)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    resized = image.resize(size, Image.Resampling.LANCZOS)
    canvas = Image.new("RGB", (width, height), background)
    canvas.paste(resized, ((width - size[0]) // 2, (height - size[1]) // 2))
    return canvas
