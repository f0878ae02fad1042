"""FID, KID and precision/recall between real and generated images, in a feature space.

Features come from any `FeatureExtractor` (normally `InceptionFeatures`); the metrics only
see `FeatureStats`. Real-archive statistics are slow to compute (a few images/s on CPU) and
never change, so they are cached per (archive content, item count, extractor).
"""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from fauxshop.atomic import atomic_open
from fauxshop.catalog.archive import (
    archive_fingerprint,
    decode_image,
    image_names,
    label_names,
    metadata,
    open_archive,
)
from fauxshop.errors import FauxshopError
from fauxshop.metrics.inception import InceptionFeatures
from fauxshop.pixels import to_uint8
from fauxshop.progress import progress

# The members FID reads: BMP and WebP too, where training (archive.IMAGE_SUFFIXES) does not.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")

# (n, rng) -> n x c_dim labels; drawing from `rng` keeps label choice reproducible per seed.
LabelSampler = Callable[[int, torch.Generator], torch.Tensor]


class FeatureExtractor(Protocol):
    """Images (N x C x H x W, pixel values 0..255) -> N x D float64 features.

    `id` names the extractor and its preprocessing; cached statistics are keyed by it.
    """

    id: str

    def __call__(self, images: torch.Tensor) -> np.ndarray: ...


@dataclass(eq=False)
class FeatureStats:
    """Mean and covariance of a feature set (all FID needs), plus the raw rows for KID/PR.

    Raw features are kept as float32, which halves cache files at no cost to the metrics.
    """

    mean: np.ndarray
    cov: np.ndarray
    n: int
    features: np.ndarray | None = None

    @classmethod
    def from_features(cls, features: np.ndarray, keep_features: bool = True) -> FeatureStats:
        if features.ndim != 2 or len(features) < 2:
            raise FauxshopError(
                f"feature statistics need at least 2 images, got {len(features)} feature rows"
            )
        features = features.astype(np.float64, copy=False)
        return cls(
            mean=features.mean(axis=0),
            cov=np.cov(features, rowvar=False),
            n=len(features),
            features=features.astype(np.float32) if keep_features else None,
        )

    def require_features(self, metric: str) -> np.ndarray:
        if self.features is None:
            raise FauxshopError(f"{metric} needs raw features; these statistics hold mean/cov only")
        return self.features

    def save(self, path: str | Path) -> None:
        arrays = {"mean": self.mean, "cov": self.cov, "n": np.int64(self.n)}
        if self.features is not None:
            arrays["features"] = self.features
        with atomic_open(path, "wb") as f:  # a file object: np.savez would rename a path
            np.savez(f, **arrays)

    @classmethod
    def load(cls, path: str | Path) -> FeatureStats:
        try:
            with np.load(path, allow_pickle=False) as data:
                features = data.get("features")
                return cls(data["mean"], data["cov"], int(data["n"]), features)
        except (OSError, KeyError, ValueError) as e:
            raise FauxshopError(f"{path}: not a feature-statistics file ({e})") from e


# ----------------------------------------------------------------------------------------------
# Metrics


def trace_sqrt_product(a: np.ndarray, b: np.ndarray) -> float:
    """tr(sqrt(a @ b)) of two covariances: the number scipy's sqrtm of the product gives
    (NVIDIA's and pytorch-fid's FID), from two symmetric eigendecompositions instead of a
    general matrix square root. a @ b has the eigenvalues of the symmetric PSD matrix
    sqrt(a) b sqrt(a), so the result is real by construction (no eps offset for singular
    covariances) and, at 2048 dimensions, several times faster (bench/bench_fid.py)."""
    w, v = np.linalg.eigh(a)
    root_a = (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T
    m = root_a @ b @ root_a
    return float(np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0.0, None)).sum())


def fid(a: FeatureStats, b: FeatureStats) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (Heusel et al. 2017)."""
    diff = a.mean - b.mean
    root = trace_sqrt_product(a.cov, b.cov)
    return float(diff @ diff + np.trace(a.cov) + np.trace(b.cov) - 2 * root)


def fid_infinity(
    real: FeatureStats, fake: np.ndarray, points: int = 15, seed: int = 0
) -> dict[str, float]:
    """FID with the generated side's sample-size bias removed (Chong & Forsyth, CVPR 2020).

    FID@N exceeds the value for infinitely many images by a term close to linear in 1/N, so
    FID@2k and FID@10k of one model differ. Here FID is computed on random subsets of the
    generated features at `points` sizes from a fifth of them to all, and a least-squares line
    in 1/N gives the intercept `fid_inf`. The real statistics stay as given (their own bias
    remains: compare only numbers with the same real set).
    """
    n = len(fake)
    if n < 10:
        raise FauxshopError(f"FID-infinity needs at least 10 generated images, got {n}")
    sizes = np.unique(np.linspace(max(2, n // 5), n, points).astype(int))
    order = np.random.default_rng(seed).permutation(n)
    scores = [
        fid(real, FeatureStats.from_features(fake[order[:size]], keep_features=False))
        for size in sizes
    ]
    slope, intercept = np.polyfit(1.0 / sizes, scores, 1)
    return {"fid_inf": float(intercept), "fid_inf_slope": float(slope)}


def kid(
    feats_a: np.ndarray,
    feats_b: np.ndarray,
    num_subsets: int = 100,
    max_subset_size: int = 1000,
    seed: int = 0,
) -> float:
    """Kernel Inception Distance (Binkowski et al. 2018): unbiased MMD^2, averaged over subsets.

    Kernel k(x, y) = (x.y / d + 1)^3. Unlike FID it is unbiased in the sample size, so
    small evaluations can be compared with large ones.
    """
    d = feats_a.shape[1]
    m = min(len(feats_a), len(feats_b), max_subset_size)
    if m < 2:
        raise FauxshopError(f"KID needs at least 2 images per set, got {m}")
    rng = np.random.default_rng(seed)
    total = 0.0
    for _ in range(num_subsets):
        x = feats_a[rng.choice(len(feats_a), m, replace=False)].astype(np.float64)
        y = feats_b[rng.choice(len(feats_b), m, replace=False)].astype(np.float64)
        same = (x @ x.T / d + 1) ** 3 + (y @ y.T / d + 1) ** 3
        cross = (x @ y.T / d + 1) ** 3
        total += (same.sum() - np.trace(same)) / (m - 1) - cross.sum() * 2 / m
    return float(total / num_subsets / m)


def _kth_neighbour_radii(manifold: torch.Tensor, k: int, batch: int) -> torch.Tensor:
    """Distance from each point to its k-th nearest neighbour (itself excluded)."""
    dists = (torch.cdist(rows, manifold) for rows in manifold.split(batch))
    return torch.cat([d.kthvalue(k + 1, dim=1).values for d in dists])


def _coverage(manifold: torch.Tensor, probes: torch.Tensor, k: int, batch: int) -> float:
    """Fraction of probes inside the union of k-NN balls around the manifold's points."""
    radii = _kth_neighbour_radii(manifold, k, batch)
    inside = [(torch.cdist(rows, manifold) <= radii).any(dim=1) for rows in probes.split(batch)]
    return float(torch.cat(inside).float().mean())


def precision_recall(
    feats_real: np.ndarray, feats_fake: np.ndarray, k: int = 3, batch: int = 1024
) -> dict[str, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019).

    Precision: share of generated images that fall on the real manifold (quality).
    Recall: share of real images on the generated manifold (variety). Each manifold is the
    union of balls reaching every point's k-th nearest neighbour.
    """
    if min(len(feats_real), len(feats_fake)) <= k:
        raise FauxshopError(f"precision/recall with k={k} needs more than {k} images per set")
    real = torch.from_numpy(np.asarray(feats_real, dtype=np.float32))
    fake = torch.from_numpy(np.asarray(feats_fake, dtype=np.float32))
    return {
        "precision": _coverage(real, fake, k, batch),
        "recall": _coverage(fake, real, k, batch),
    }


# ----------------------------------------------------------------------------------------------
# Features of a real archive (zip of PNGs + dataset.json, NVIDIA dataset_tool layout)


def _archive_batches(zf: zipfile.ZipFile, names: list[str], batch: int) -> Iterator[torch.Tensor]:
    """N x C x H x W uint8 batches of the named images, which must all match the first."""
    pending: list[np.ndarray] = []
    first_shape = None
    for name in progress(names, "real features", unit="img"):
        image = decode_image(zf, name)
        first_shape = first_shape or image.shape
        if image.shape != first_shape:
            raise FauxshopError(
                f"{zf.filename}: {name}: H x W x C {image.shape} differs from the first "
                f"image's {first_shape}"
            )
        pending.append(image)
        if len(pending) == batch:
            yield torch.from_numpy(np.stack(pending)).permute(0, 3, 1, 2)
            pending = []
    if pending:
        yield torch.from_numpy(np.stack(pending)).permute(0, 3, 1, 2)


def archive_features(
    archive_zip: str | Path,
    max_items: int | None,
    feature_extractor: FeatureExtractor,
    batch: int = 32,
) -> np.ndarray:
    """Features of the first `max_items` images of the archive (None: all of them)."""
    with open_archive(archive_zip) as zf:
        names = image_names(zf, IMAGE_SUFFIXES)[:max_items]
        if not names:
            raise FauxshopError(f"{archive_zip}: no images in the archive")
        return np.concatenate([feature_extractor(x) for x in _archive_batches(zf, names, batch)])


def stats_cache_path(
    archive_zip: str | Path, cache_dir: str | Path, max_items: int | None, extractor_id: str
) -> Path:
    """Cache file keyed by the archive's bytes (not its name), item count and extractor."""
    key = f"{archive_fingerprint(archive_zip)}|{max_items}|{extractor_id}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:20]
    return Path(cache_dir) / f"{Path(archive_zip).stem}-{digest}.npz"


def real_stats_for_archive(
    archive_zip: str | Path,
    cache_dir: str | Path,
    max_items: int | None,
    feature_extractor: FeatureExtractor,
    batch: int = 32,
) -> FeatureStats:
    """Feature statistics of a real archive, read from the cache when already computed."""
    if not Path(archive_zip).is_file():
        raise FauxshopError(f"{archive_zip}: image archive not found (run pack first)")
    cache = stats_cache_path(archive_zip, cache_dir, max_items, feature_extractor.id)
    if cache.is_file():
        return FeatureStats.load(cache)
    stats = FeatureStats.from_features(
        archive_features(archive_zip, max_items, feature_extractor, batch)
    )
    stats.save(cache)
    return stats


# ----------------------------------------------------------------------------------------------
# Features of a generator


def _dataset_meta(archive_zip: str | Path) -> tuple[list[str], dict]:
    """The archive's image names (sorted) and its dataset.json ({} when it has none)."""
    with open_archive(archive_zip) as zf:
        return image_names(zf, IMAGE_SUFFIXES), metadata(zf) or {}


def archive_label_sampler(archive_zip: str | Path, c_dim: int) -> LabelSampler | None:
    """Sample labels as often as they occur in the archive's dataset.json (None: unlabelled).

    Integer labels become one-hot vectors of length `c_dim`; vector labels are used as given.
    """
    labels = _dataset_meta(archive_zip)[1].get("labels")
    if not labels:
        return None
    values = [label for _, label in labels]
    if isinstance(values[0], int):
        if max(values) >= c_dim:
            raise FauxshopError(f"{archive_zip}: label {max(values)} does not fit c_dim={c_dim}")
        table = torch.nn.functional.one_hot(torch.tensor(values), c_dim).float()
    else:
        table = torch.tensor(values, dtype=torch.float32).reshape(len(values), -1)
        if table.shape[1] != c_dim:
            raise FauxshopError(
                f"{archive_zip}: labels have {table.shape[1]} values, G has c_dim={c_dim}"
            )

    def sample(n: int, rng: torch.Generator) -> torch.Tensor:
        return table[torch.randint(len(table), (n,), generator=rng)]

    return sample


def _uniform_labels(c_dim: int) -> LabelSampler:
    def sample(n: int, rng: torch.Generator) -> torch.Tensor:
        return torch.nn.functional.one_hot(torch.randint(c_dim, (n,), generator=rng), c_dim).float()

    return sample


@torch.inference_mode()
def generator_stats(
    G: torch.nn.Module,
    num: int,
    batch: int = 32,
    truncation_psi: float = 1.0,
    c_sampler: LabelSampler | None = None,
    seed: int = 0,
    *,
    feature_extractor: FeatureExtractor,
) -> FeatureStats:
    """Statistics of `num` images from G; the same seed gives the same images and features.

    z (and labels) come from a CPU torch.Generator, so they are the same on every device.
    A conditional G without `c_sampler` gets uniformly drawn classes.
    """
    device = next(G.parameters()).device
    rng = torch.Generator().manual_seed(seed)
    if G.c_dim > 0 and c_sampler is None:
        c_sampler = _uniform_labels(G.c_dim)
    sizes = [min(batch, num - start) for start in range(0, num, batch)]
    feats = []
    for n in progress(sizes, "generated features", unit="batch"):
        z = torch.randn(n, G.z_dim, generator=rng).to(device)
        c = c_sampler(n, rng).to(device) if G.c_dim > 0 else None
        images = G(z, c, truncation_psi=truncation_psi, noise_mode="const")
        feats.append(feature_extractor(to_uint8(images)))
    return FeatureStats.from_features(np.concatenate(feats))


# ----------------------------------------------------------------------------------------------
# Registry: each metric maps (real, generated) statistics to named scores.


def _fid_metric(real: FeatureStats, fake: FeatureStats) -> dict[str, float]:
    return {"fid": fid(real, fake)}


def _fid_inf_metric(real: FeatureStats, fake: FeatureStats) -> dict[str, float]:
    return fid_infinity(real, fake.require_features("fid_inf"))


def _kid_metric(real: FeatureStats, fake: FeatureStats) -> dict[str, float]:
    return {"kid": kid(real.require_features("kid"), fake.require_features("kid"))}


def _pr_metric(real: FeatureStats, fake: FeatureStats) -> dict[str, float]:
    return precision_recall(real.require_features("pr"), fake.require_features("pr"))


METRICS: dict[str, Callable[[FeatureStats, FeatureStats], dict[str, float]]] = {
    "fid": _fid_metric,
    "fid_inf": _fid_inf_metric,
    "kid": _kid_metric,
    "pr": _pr_metric,
}


def archive_labels(archive_zip: str | Path) -> tuple[np.ndarray, list[str]]:
    """Integer labels of the archive's images in `archive_features` order, and the label names."""
    names, meta = _dataset_meta(archive_zip)
    by_name = dict(meta.get("labels") or [])
    if not by_name or any(not isinstance(by_name.get(n), int) for n in names):
        raise FauxshopError(f"{archive_zip}: per-class metrics need an integer label per image")
    return np.array([by_name[n] for n in names]), label_names(meta)


def per_class_fid(
    G: torch.nn.Module,
    archive: str | Path,
    num_per_class: int,
    cache_dir: str | Path,
    *,
    feature_extractor: FeatureExtractor,
    truncation_psi: float = 1.0,
    seed: int = 0,
    batch: int = 32,
    max_real: int | None = None,
    classes: Sequence[str] | None = None,
) -> dict[str, dict[str, float]]:
    """FID of each class (or of `classes` only): G's images of that label against the
    archive's images of it.

    Real features are those of the archive cache (the first `max_real` images, as
    `compute_metrics` uses, or all), split by label, so no image is featurised twice. Classes
    with fewer real images are noisier (FID is biased upward in small samples), which is why
    each row carries its real count.
    """
    labels, known = archive_labels(archive)
    names = [known[c] if c < len(known) else str(c) for c in range(G.c_dim)]
    unknown = sorted(set(classes or ()) - set(names))
    if unknown:
        raise FauxshopError(f"{archive}: no class {', '.join(unknown)}; it has {', '.join(names)}")
    real = real_stats_for_archive(archive, cache_dir, max_real, feature_extractor, batch)
    features = real.require_features("per-class fid")
    labels = labels[: len(features)]
    out: dict[str, dict[str, float]] = {}
    for c in range(G.c_dim):
        rows, name = features[labels == c], names[c]
        if len(rows) < 2 or (classes and name not in classes):
            continue
        onehot = torch.nn.functional.one_hot(torch.tensor(c), G.c_dim).float()
        fake = generator_stats(
            G,
            num_per_class,
            batch,
            truncation_psi,
            lambda n, rng, onehot=onehot: onehot.expand(n, -1),
            seed + c,
            feature_extractor=feature_extractor,
        )
        out[name] = {"fid": fid(FeatureStats.from_features(rows), fake), "real": len(rows)}
    return out


def compute_metrics(
    names: Sequence[str],
    G: torch.nn.Module,
    archive: str | Path,
    num: int,
    cache_dir: str | Path,
    device: str | torch.device = "cpu",
    *,
    max_real: int | None = None,
    truncation_psi: float = 1.0,
    seed: int = 0,
    batch: int = 32,
    feature_extractor: FeatureExtractor | None = None,
) -> dict[str, float]:
    """Scores of G (already on its device) against the archive: e.g. {'fid': ..., 'kid': ...}.

    Real features cover `max_real` images (None: the whole archive, as NVIDIA's *_full
    metrics) and are cached in `cache_dir`; `num` images are generated. `device` is where
    the Inception network runs when no extractor is given.
    """
    unknown = [n for n in names if n not in METRICS]
    if unknown or not names:
        raise FauxshopError(
            f"metrics: unknown or none given ({', '.join(unknown)}); choose from "
            f"{', '.join(METRICS)}"
        )
    if feature_extractor is None:
        feature_extractor = InceptionFeatures(device, batch_size=batch)
    real = real_stats_for_archive(archive, cache_dir, max_real, feature_extractor, batch)
    c_sampler = archive_label_sampler(archive, G.c_dim) if G.c_dim > 0 else None
    fake = generator_stats(
        G, num, batch, truncation_psi, c_sampler, seed, feature_extractor=feature_extractor
    )
    results: dict[str, float] = {}
    for name in names:
        results.update(METRICS[name](real, fake))
    return results
