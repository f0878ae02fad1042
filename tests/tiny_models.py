"""Tiny seeded generators and a fake tagger, shared by the latent-tool tests, and a copy of
the demo generator that records a training archive of the test's choosing.

Seeded, so every run sees the same images and the tests' thresholds on them hold.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch
import torch.nn.functional as F

from fauxshop.image.networks import Generator
from fauxshop.latent.generate import generate, seeds_to_ws
from fauxshop.pixels import from_uint8
from fauxshop.products.models import DEMO_GENERATOR

W_DIM = 32  # z_dim too
RES = 16  # directions_generator's: num_ws = 6: b4 (1 conv), b8 (2), b16 (2), plus the last toRGB
CATEGORIES = ("dress", "top", "jumpsuit")


def tiny_generator(
    resolution: int | tuple[int, int],
    *,
    c_dim: int = 0,
    channel_base: int = 512,
    channel_max: int = 32,
    seed: int = 0,
    noise_strength: float | None = None,
    torgb_gain: float | None = None,
) -> Generator:
    """A random G small enough for CPU tests, frozen for inference.

    `noise_strength` sets every layer's (a fresh G's is 0); `torgb_gain` scales the toRGB
    weights down to keep images off the [-1, 1] clip.
    """
    torch.manual_seed(seed)
    g = Generator(
        z_dim=W_DIM,
        c_dim=c_dim,
        w_dim=W_DIM,
        img_resolution=resolution,
        mapping_kwargs={"num_layers": 2},
        synthesis_kwargs={"channel_base": channel_base, "channel_max": channel_max},
    )
    g.eval().requires_grad_(False)
    for name, p in g.named_parameters():
        if noise_strength is not None and name.endswith("noise_strength"):
            p.fill_(noise_strength)
        if torgb_gain is not None and name.endswith("torgb.weight"):
            p.mul_(torgb_gain)
    return g


def directions_generator(c_dim: int = 0, seed: int = 0) -> Generator:
    """The RES x RES G the direction and rare-sample tests score with FakeScorer.

    Unconditional, its w_avg is the mean w, as training leaves it.
    """
    g = tiny_generator(RES, c_dim=c_dim, channel_base=256, channel_max=16, seed=seed)
    if c_dim == 0:
        g.mapping.w_avg.copy_(seeds_to_ws(g, range(20000, 21000))[:, 0].mean(dim=0))
    return g


class FakeScorer:
    """A tagger with known behaviour. brightness: P(bright) = sigmoid(20 * mean pixel).
    category: t = a fixed linear function of the 4x4-pooled image; dress below `low`, jumpsuit
    above `high`, top between. features: the 4x4-pooled image."""

    heads = {"brightness": ("dark", "bright"), "category": CATEGORIES}

    def __init__(self, low: float = -1.0, high: float = 1.0) -> None:
        self.u = torch.randn(48, generator=torch.Generator().manual_seed(1))
        self.low, self.high = low, high

    def features(self, images: torch.Tensor) -> torch.Tensor:
        return F.adaptive_avg_pool2d(images, 4).flatten(1)

    def line(self, images: torch.Tensor) -> torch.Tensor:
        return self.features(images) @ self.u

    def predict(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        b = images.mean(dim=(1, 2, 3)) * 10
        t = self.line(images)
        logits = torch.stack([self.low - t, torch.zeros_like(t), t - self.high], dim=1)
        return {
            "brightness": torch.stack([-b, b], dim=1).softmax(dim=1),
            "category": (logits * 10).softmax(dim=1),
        }


def calibrated_scorer(G: Generator) -> FakeScorer:
    """Jumpsuits are the top tenth of t over seeds 5000-5499, dresses the bottom 30%."""
    images = generate(G, range(5000, 5500))
    t = FakeScorer().line(from_uint8(torch.from_numpy(images).permute(0, 3, 1, 2)))
    return FakeScorer(float(t.quantile(0.3)), float(t.quantile(0.9)))


def demo_generator_trained_on(folder: Path, archive: Path) -> Path:
    """A copy of the demo generator whose snapshot records `archive` as its training data, so
    a test decides whether that archive exists (the shipped one names the relative path its
    training README builds, which may or may not exist where the tests run)."""
    snapshot = folder / "g.safetensors"
    shutil.copy(DEMO_GENERATOR, snapshot)
    meta = json.loads(DEMO_GENERATOR.with_suffix(".json").read_text())
    meta["config"]["data"] = str(archive)
    meta["safetensors"] = snapshot.name
    snapshot.with_suffix(".json").write_text(json.dumps(meta))
    return snapshot
