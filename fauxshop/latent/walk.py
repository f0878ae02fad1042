"""Looping latent walks: a closed path through the seeds' W points, rendered as a video.

The path runs in W (not Z), where the generator is closest to linear, and closes on itself
(last seed -> first), so the video loops without a jump. 'cubic' is a periodic Catmull-Rom
spline: it passes through every seed's w and keeps velocity continuous, so motion does not
stop and turn at each seed as it does with 'linear'.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from fauxshop.atomic import atomic_path
from fauxshop.errors import FauxshopError
from fauxshop.image.networks import Generator
from fauxshop.latent.generate import render_ws, seeds_to_ws
from fauxshop.pixels import to_pil

INTERPOLATIONS = ("cubic", "linear")


def loop_ws(keys: torch.Tensor, frames: int, interpolation: str = "cubic") -> torch.Tensor:
    """`frames` evenly spaced points on the closed path through `keys` (K x ...).

    Frame j sits at key position j * K / frames, so frame 0 is keys[0] exactly, and when
    `frames` is a multiple of K every key is hit exactly; frame `frames` would be frame 0 again.
    """
    if interpolation not in INTERPOLATIONS:
        raise FauxshopError(f"interpolation must be one of {INTERPOLATIONS}, got {interpolation!r}")
    k = len(keys)
    pos = torch.arange(frames) * k  # integer maths: the key hits stay exact
    i = pos // frames
    u = ((pos % frames).double() / frames).to(keys.dtype).reshape(-1, *[1] * (keys.ndim - 1))
    p1, p2 = keys[i], keys[(i + 1) % k]
    if interpolation == "linear":
        return p1 + (p2 - p1) * u
    p0, p3 = keys[(i - 1) % k], keys[(i + 2) % k]
    return 0.5 * (
        2 * p1
        + (p2 - p0) * u
        + (2 * p0 - 5 * p1 + 4 * p2 - p3) * u**2
        + (3 * p1 - p0 - 3 * p2 + p3) * u**3
    )


def latent_walk(
    G: Generator,
    seeds: Sequence[int],
    frames: int,
    psi: float = 1.0,
    interpolation: str = "cubic",
    class_index: int | None = None,
    noise_mode: str = "const",
    batch: int = 16,
) -> np.ndarray:
    """`frames` uint8 images (the whole loop, N x H x W x C) walking through the seeds."""
    if len(seeds) < 2:
        raise FauxshopError(f"a walk needs at least 2 seeds, got {len(seeds)}")
    if frames < 1:
        raise FauxshopError(f"frames must be >= 1, got {frames}")
    keys = seeds_to_ws(G, seeds, psi, class_index, batch)
    return render_ws(G, loop_ws(keys, frames, interpolation), noise_mode, batch, desc="walk")


def ffmpeg_available() -> bool:
    """True when imageio-ffmpeg and its ffmpeg binary are installed."""
    try:
        import imageio_ffmpeg

        imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError):
        return False
    return True


def _rgb_even(frames: np.ndarray) -> np.ndarray:
    """yuv420p needs RGB frames with even sides: grey -> RGB, odd sides padded by one edge row."""
    if frames.shape[-1] == 1:
        frames = frames.repeat(3, axis=-1)
    _, h, w, _ = frames.shape
    return np.pad(frames, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)), mode="edge")


def _write_mp4(frames: np.ndarray, path: Path, fps: float) -> None:
    import imageio.v2 as imageio

    writer = imageio.get_writer(
        path,
        format="FFMPEG",
        fps=fps,
        codec="libx264",
        pixelformat="yuv420p",
        quality=8,
        macro_block_size=1,  # sizes are already even; don't let imageio resize
    )
    with writer:
        for frame in _rgb_even(frames):
            writer.append_data(frame)


def _write_gif(frames: np.ndarray, path: Path, fps: float) -> None:
    images = [to_pil(f) for f in frames]
    duration = round(1000 / fps)  # GIF counts in milliseconds
    images[0].save(
        path, format="GIF", save_all=True, append_images=images[1:], duration=duration, loop=0
    )


def write_video(frames: np.ndarray, path: str | os.PathLike, fps: float = 24) -> Path:
    """Write N x H x W x C uint8 frames as H.264 mp4, or GIF; returns the path written.

    A .gif path, or a missing ffmpeg, gives a looping GIF (then at `path` with .gif).
    """
    path = Path(path)
    if len(frames) == 0:
        raise FauxshopError(f"no frames to write to {path}")
    use_gif = path.suffix.lower() == ".gif" or not ffmpeg_available()
    if use_gif:
        path = path.with_suffix(".gif")
    with atomic_path(path, keep_suffix=True) as tmp:
        (_write_gif if use_gif else _write_mp4)(frames, tmp, fps)
    return path
