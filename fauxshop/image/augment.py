"""Adaptive discriminator augmentation (ADA) for GANs trained on a few thousand images.

Written from Karras et al. 2020, "Training Generative Adversarial Networks with Limited Data".
Every image the discriminator sees, real or generated, passes through `AugmentPipe`, so D
cannot memorise a small catalog; G is trained through the same pipe, so it stays
differentiable with respect to the images. Each transform is applied to an image with
probability `p * multiplier` and, when applied, draws its parameters from a distribution
that includes (or is centred on) the identity. As long as p stays below about 0.8 the
augmented distribution still determines the clean one, so the augmentations do not "leak"
into generated images. `AdaController` tunes p during training from the overfitting
heuristic r_t = E[sign(D(real))].

The pipe is three stages, each one batched operation:

* geometric: flips, quarter turns, translations, scaling and rotations are multiplied into one
  3x3 matrix per image (in pixel units, so non-square images stay undistorted) and applied by
  `F.grid_sample` with bilinear filtering and reflection padding, either once at native size
  (`resample="bilinear"`, this class's default) or, as NVIDIA's pipe does, between a
  reflection pad + 2x upsampling and a 2x downsampling with a 12-tap windowed-sinc filter
  (`resample="upsampled"`, train-image's default: a quarter of the blur and less leaking at
  high p, for 3-6 % of a training step at 32x32 and 64x32 on CPU);
* colour: brightness, contrast, luma flip, hue and saturation form one 4x4 homogeneous colour
  matrix per image, acting on RGB (or on grey as R = G = B); the luma axis is (1, 1, 1)/sqrt(3);
* cutout: a rectangle of half the image size is multiplied by zero (mid-grey in [-1, 1]).

No custom ops and no private `torch.Generator`: all randomness comes from the global torch RNG
of the images' device, so the training loop's RNG checkpoint covers it.

Which transforms a pipe applies, and how strongly, comes from a spec such as "bgc,cutout=1"
(`augment_spec.py`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from fauxshop.image.augment_spec import BLIT, COLOUR, GEOMETRIC
from fauxshop.image.config import AUGMENT_RESAMPLE as RESAMPLE_MODES
from fauxshop.image.networks import assert_shape

# Strength of each transform once applied, as in the paper.
XINT_MAX = 0.125  # integer translation: uniform, up to this fraction of the image size
SCALE_STD = 0.2  # isotropic scaling: 2 ** N(0, SCALE_STD), i.e. lognormal with std 0.2 ln 2
ROTATE_MAX = 1.0  # rotation: uniform angle in [-ROTATE_MAX * pi, ROTATE_MAX * pi]
ANISO_STD = 0.2  # anisotropic scaling: x * 2 ** N(0, ANISO_STD), y divided by the same
XFRAC_STD = 0.125  # fractional translation: N(0, XFRAC_STD) of the image size
BRIGHTNESS_STD = 0.2  # additive, in [-1, 1] image units
CONTRAST_STD = 0.5  # multiplicative, 2 ** N(0, CONTRAST_STD)
HUE_MAX = 1.0  # rotation about the luma axis, uniform in [-HUE_MAX * pi, HUE_MAX * pi]
SATURATION_STD = 1.0  # chroma scaled by 2 ** N(0, SATURATION_STD)
CUTOUT_SIZE = 0.5  # side of the cut rectangle, as a fraction of each image side

LUMA_AXIS = (1 / math.sqrt(3),) * 3
FILTER_TAPS = 12  # the upsampled path's lowpass filter, at half-pixel offsets -5.5 .. 5.5
KAISER_BETA = 7.0


# ----------------------------------------------------------------------------------------------
# Batched matrices. Each helper returns one matrix per image from per-image parameters of shape
# [N]; in 2-D, coordinates are pixels measured from the image centre.


def _eye(size: int, like: torch.Tensor) -> torch.Tensor:
    return torch.eye(size, dtype=like.dtype, device=like.device).repeat(like.shape[0], 1, 1)


def _translate2d(tx: torch.Tensor, ty: torch.Tensor) -> torch.Tensor:
    m = _eye(3, tx)
    m[:, 0, 2], m[:, 1, 2] = tx, ty
    return m


def _scale2d(sx: torch.Tensor, sy: torch.Tensor) -> torch.Tensor:
    m = _eye(3, sx)
    m[:, 0, 0], m[:, 1, 1] = sx, sy
    return m


def _rotate2d(cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    m = _eye(3, cos)
    m[:, 0, 0], m[:, 0, 1], m[:, 1, 0], m[:, 1, 1] = cos, -sin, sin, cos
    return m


def _quarter_turns(k: torch.Tensor) -> torch.Tensor:
    """Rotation by k * 90 degrees with exact 0/±1 entries, so it moves pixels bit for bit."""
    cos = (k == 0).to(torch.float32) - (k == 2).to(torch.float32)
    sin = (k == 1).to(torch.float32) - (k == 3).to(torch.float32)
    return _rotate2d(cos, sin)


def _embed3(linear: torch.Tensor) -> torch.Tensor:
    """N x 3 x 3 linear colour maps -> N x 4 x 4 homogeneous ones."""
    m = _eye(4, linear[:, 0, 0])
    m[:, :3, :3] = linear
    return m


def _translate3d(t: torch.Tensor) -> torch.Tensor:
    m = _eye(4, t)
    m[:, :3, 3] = t[:, None]
    return m


def _luma_projector(like: torch.Tensor) -> torch.Tensor:
    """v v^T for the unit luma axis v: keeps the grey part of a colour, drops its chroma."""
    v = torch.tensor(LUMA_AXIS, dtype=like.dtype, device=like.device)
    return torch.outer(v, v).expand(like.shape[0], 3, 3)


def _rotate_about_luma(theta: torch.Tensor) -> torch.Tensor:
    """Rodrigues' rotation about v: cos I + sin [v]x + (1 - cos) v v^T; greys stay put."""
    a = LUMA_AXIS[0]
    cross = torch.tensor([[0, -a, a], [a, 0, -a], [-a, a, 0]], device=theta.device)
    cos, sin = theta.cos()[:, None, None], theta.sin()[:, None, None]
    eye = torch.eye(3, device=theta.device)
    return cos * eye + sin * cross + (1 - cos) * _luma_projector(theta)


# ----------------------------------------------------------------------------------------------


class AugmentPipe(nn.Module):
    """Random, differentiable augmentations for everything D sees; strength set by `p`.

    Multipliers scale the probability of each transform (`p * multiplier`, 0 disables it); the
    defaults are the paper's 'bgc'. Set the strength with `pipe.p.fill_(0.3)` or let an
    `AdaController` do it. Images are N x C x H x W in [-1, 1], C = 1 or 3 for colour transforms.
    """

    def __init__(
        self,
        *,
        xflip: float = 1.0,
        rotate90: float = 1.0,
        xint: float = 1.0,
        scale: float = 1.0,
        rotate: float = 1.0,
        aniso: float = 1.0,
        xfrac: float = 1.0,
        brightness: float = 1.0,
        contrast: float = 1.0,
        lumaflip: float = 1.0,
        hue: float = 1.0,
        saturation: float = 1.0,
        cutout: float = 0.0,
        p: float = 0.0,
        resample: str = "bilinear",
    ) -> None:
        super().__init__()
        if resample not in RESAMPLE_MODES:
            raise ValueError(f"resample {resample!r}: choose from {', '.join(RESAMPLE_MODES)}")
        self.resample = resample
        self.multipliers = {
            "xflip": float(xflip),
            "rotate90": float(rotate90),
            "xint": float(xint),
            "scale": float(scale),
            "rotate": float(rotate),
            "aniso": float(aniso),
            "xfrac": float(xfrac),
            "brightness": float(brightness),
            "contrast": float(contrast),
            "lumaflip": float(lumaflip),
            "hue": float(hue),
            "saturation": float(saturation),
            "cutout": float(cutout),
        }
        if any(m < 0 for m in self.multipliers.values()):
            raise ValueError(f"augment multipliers must be >= 0, got {self.multipliers}")
        self.register_buffer("p", torch.tensor(float(p)))

    def extra_repr(self) -> str:
        used = ", ".join(f"{k}={v:g}" for k, v in self.multipliers.items() if v)
        return f"p={float(self.p):.4f}, {used or 'no transforms'}, resample={self.resample}"

    def _uses(self, names: tuple[str, ...]) -> bool:
        return any(self.multipliers[name] > 0 for name in names)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        assert_shape(images, [None, None, None, None], "images")
        p = float(self.p)
        if p == 0:
            return images
        if self._uses(BLIT + GEOMETRIC):
            matrix = self._geometric_matrix(images, p)
            if self.resample == "upsampled":
                images = _sample_affine_upsampled(images, matrix)
            else:
                images = _sample_affine(images, matrix)
        if self._uses(COLOUR):
            images = _apply_colour(images, self._colour_matrix(images, p))
        if self._uses(("cutout",)):
            images = images * self._cutout_mask(images, p)
        return images

    def _chosen(self, name: str, p: float, n: int, device: torch.device) -> torch.Tensor:
        """Which of n images get transform `name` this time: each with p * multiplier."""
        return torch.rand(n, device=device) < p * self.multipliers[name]

    def _geometric_matrix(self, images: torch.Tensor, p: float) -> torch.Tensor:
        """Forward map source pixel -> output pixel, the paper's transforms in its order."""
        n, _, h, w = images.shape
        dev = images.device
        zero, one = torch.zeros(n, device=dev), torch.ones(n, device=dev)
        m = _eye(3, zero)
        if self.multipliers["xflip"]:
            flip = torch.randint(0, 2, [n], device=dev) * self._chosen("xflip", p, n, dev)
            m = _scale2d(1 - 2 * flip.float(), one) @ m
        if self.multipliers["rotate90"]:
            k = torch.randint(0, 4, [n], device=dev) * self._chosen("rotate90", p, n, dev)
            m = _quarter_turns(k) @ m
        if self.multipliers["xint"]:
            t = (torch.rand(n, 2, device=dev) * 2 - 1) * XINT_MAX
            t = t * self._chosen("xint", p, n, dev)[:, None]
            m = _translate2d(torch.round(t[:, 0] * w), torch.round(t[:, 1] * h)) @ m
        if self.multipliers["scale"]:
            s = torch.exp2(torch.randn(n, device=dev) * SCALE_STD)
            s = torch.where(self._chosen("scale", p, n, dev), s, one)
            m = _scale2d(s, s) @ m
        # Rotation happens before and after anisotropic scaling (so that the stretch can point
        # anywhere), each with the probability that makes P(either) = p * multiplier.
        p_rot = 1 - math.sqrt(1 - min(p * self.multipliers["rotate"], 1.0))
        if self.multipliers["rotate"]:
            m = self._random_rotation(p_rot, n, dev) @ m
        if self.multipliers["aniso"]:
            s = torch.exp2(torch.randn(n, device=dev) * ANISO_STD)
            s = torch.where(self._chosen("aniso", p, n, dev), s, one)
            m = _scale2d(s, 1 / s) @ m
        if self.multipliers["rotate"]:
            m = self._random_rotation(p_rot, n, dev) @ m
        if self.multipliers["xfrac"]:
            t = torch.randn(n, 2, device=dev) * XFRAC_STD
            t = t * self._chosen("xfrac", p, n, dev)[:, None]
            m = _translate2d(t[:, 0] * w, t[:, 1] * h) @ m
        return m

    @staticmethod
    def _random_rotation(prob: float, n: int, device: torch.device) -> torch.Tensor:
        theta = (torch.rand(n, device=device) * 2 - 1) * math.pi * ROTATE_MAX
        theta = theta * (torch.rand(n, device=device) < prob)
        return _rotate2d(theta.cos(), theta.sin())

    def _colour_matrix(self, images: torch.Tensor, p: float) -> torch.Tensor:
        """Homogeneous 4x4 map of (r, g, b, 1), the paper's colour transforms in its order."""
        n, dev = images.shape[0], images.device
        zero, one = torch.zeros(n, device=dev), torch.ones(n, device=dev)
        m = _eye(4, zero)
        if self.multipliers["brightness"]:
            b = torch.randn(n, device=dev) * BRIGHTNESS_STD
            m = _translate3d(b * self._chosen("brightness", p, n, dev)) @ m
        if self.multipliers["contrast"]:
            c = torch.exp2(torch.randn(n, device=dev) * CONTRAST_STD)
            c = torch.where(self._chosen("contrast", p, n, dev), c, one)
            m = _embed3(c[:, None, None] * torch.eye(3, device=dev)) @ m
        if self.multipliers["lumaflip"]:
            # Householder reflection through the plane normal to v: inverts luma, keeps chroma.
            flip = torch.randint(0, 2, [n], device=dev) * self._chosen("lumaflip", p, n, dev)
            reflect = torch.eye(3, device=dev) - 2 * flip[:, None, None] * _luma_projector(zero)
            m = _embed3(reflect) @ m
        if self.multipliers["hue"]:
            theta = (torch.rand(n, device=dev) * 2 - 1) * math.pi * HUE_MAX
            theta = theta * self._chosen("hue", p, n, dev)
            m = _embed3(_rotate_about_luma(theta)) @ m
        if self.multipliers["saturation"]:
            s = torch.exp2(torch.randn(n, device=dev) * SATURATION_STD)
            s = torch.where(self._chosen("saturation", p, n, dev), s, one)[:, None, None]
            luma = _luma_projector(zero)
            m = _embed3(luma + (torch.eye(3, device=dev) - luma) * s) @ m
        return m

    def _cutout_mask(self, images: torch.Tensor, p: float) -> torch.Tensor:
        """N x 1 x H x W: 0 inside a rectangle of CUTOUT_SIZE of each side at a random centre."""
        n, _, h, w = images.shape
        dev = images.device
        half = CUTOUT_SIZE / 2 * self._chosen("cutout", p, n, dev)[:, None, None]
        centre = torch.rand(n, 2, device=dev)
        xs = (torch.arange(w, device=dev) + 0.5) / w
        ys = (torch.arange(h, device=dev) + 0.5) / h
        outside_x = (xs[None, None, :] - centre[:, 0, None, None]).abs() >= half
        outside_y = (ys[None, :, None] - centre[:, 1, None, None]).abs() >= half
        return (outside_x | outside_y).unsqueeze(1).to(images.dtype)


def _sample_affine(
    images: torch.Tensor, matrix: torch.Tensor, window: tuple[int, int, int, int] | None = None
) -> torch.Tensor:
    """Resample each image under its pixel-space forward map, reflecting at the borders.

    grid_sample asks, for each output pixel, where to read: the inverse map, in coordinates
    that run from -1 to 1 across each axis. The grid is built here from exact pixel centres
    rather than by `F.affine_grid`, whose rounding would blur flips and whole-pixel shifts.
    `window` (top, left, height, width) keeps only that part of the output (default: all).
    """
    h, w = images.shape[2:]
    top, left, out_h, out_w = window or (0, 0, h, w)
    inverse = torch.linalg.inv(matrix)
    xs = torch.arange(left, left + out_w, device=images.device) + (0.5 - w / 2)
    ys = torch.arange(top, top + out_h, device=images.device) + (0.5 - h / 2)
    centres = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1)  # H x W x (x, y)
    source = (
        torch.einsum("nij,hwj->nhwi", inverse[:, :2, :2], centres) + inverse[:, None, None, :2, 2]
    )
    grid = source * torch.tensor([2 / w, 2 / h], device=images.device)
    return F.grid_sample(
        images,
        grid.to(images.dtype),
        mode="bilinear",
        padding_mode="reflection",
        align_corners=False,
    )


def halfband_filter(dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A 12-tap lowpass at half the upsampled grid's Nyquist: sinc(d / 2) under a Kaiser window
    (beta 7, which makes each phase's first moment ~0, so a ramp upsamples to a ramp), sampled
    at d = -5.5 .. 5.5 and scaled to sum to 1. Symmetric: a flat image stays flat."""
    d = torch.arange(FILTER_TAPS, dtype=torch.float64) - (FILTER_TAPS - 1) / 2
    window = torch.special.i0(KAISER_BETA * (1 - (2 * d / FILTER_TAPS) ** 2).sqrt())
    f = torch.sinc(d / 2) * window
    return (f / f.sum()).to(dtype)


# Both resampling filters act along one axis at a time as a small dense matrix: a matmul runs
# several times faster on CPU, forward and backward, than the depthwise convolution it equals.


def upsample_matrix(n: int, pad: int, f: torch.Tensor) -> torch.Tensor:
    """[2 (n + 2 pad), n]: reflect-pad an axis of n pixels by `pad`, then upsample it 2x.

    Padded pixel i lands on the fine grid at 2i + 1 (between fine pixels 2i and 2i + 1), so
    fine pixel j = sum_i x_i * 2 f(j - 2i - 0.5), f's taps at half-pixel offsets -5.5 .. 5.5.
    """
    m = n + 2 * pad
    source = (torch.arange(m) - pad).abs()  # reflect, without repeating the edge pixel
    source = torch.where(source >= n, 2 * (n - 1) - source, source)
    tap = torch.arange(2 * m)[:, None] - 2 * torch.arange(m)[None, :] + FILTER_TAPS // 2 - 1
    return _banded(2 * f, tap) @ F.one_hot(source, n).to(f.dtype)


def downsample_matrix(n: int, f: torch.Tensor) -> torch.Tensor:
    """[n, 2n + FILTER_TAPS - 2]: the inverse grid of `upsample_matrix` on a fine window that
    starts FILTER_TAPS / 2 - 1 fine pixels before the first output's: pixel i averages fine
    pixels 2i .. 2i + 11 of the window, centred on its own fine position 2i + 5.5."""
    tap = torch.arange(2 * n + FILTER_TAPS - 2)[None, :] - 2 * torch.arange(n)[:, None]
    return _banded(f, tap)


def _banded(f: torch.Tensor, tap: torch.Tensor) -> torch.Tensor:
    """A matrix whose entry is f[tap] where 0 <= tap < FILTER_TAPS, else 0."""
    inside = (tap >= 0) & (tap < FILTER_TAPS)
    return torch.where(inside, f[tap.clamp(0, FILTER_TAPS - 1)], f.new_zeros(()))


@functools.lru_cache(maxsize=64)
def _resampling_matrices(
    h: int, w: int, pad_y: int, pad_x: int, dtype: torch.dtype, device: torch.device
) -> tuple[torch.Tensor, ...]:
    """(up_y, up_x, down_y, down_x) for one image size and pad: built once, not per batch
    (a pad is at most the image side, so few sizes recur)."""
    f = halfband_filter(dtype)
    mats = upsample_matrix(h, pad_y, f), upsample_matrix(w, pad_x, f)
    mats += downsample_matrix(h, f), downsample_matrix(w, f)
    return tuple(m.to(device) for m in mats)


def _sample_affine_upsampled(images: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
    """`_sample_affine` done with care against aliasing: reflect-pad by what the transforms
    read beyond the border (plus the filter's reach) and upsample 2x, resample there (the
    matrix rescaled to the finer grid) only the window the output needs, and downsample 2x."""
    n, _, h, w = images.shape
    corners = torch.tensor(
        [[-w / 2, -h / 2, 1], [w / 2, -h / 2, 1], [-w / 2, h / 2, 1], [w / 2, h / 2, 1]],
        device=images.device,
    )
    reach = (torch.linalg.inv(matrix) @ corners.T)[:, :2].abs().amax(dim=(0, 2))  # (x, y)
    reach_x, reach_y = reach.tolist()
    margin = FILTER_TAPS // 4 + 1
    pad_x = min(math.ceil(max(reach_x - w / 2, 0)) + margin, w - 1)
    pad_y = min(math.ceil(max(reach_y - h / 2, 0)) + margin, h - 1)
    up_y, up_x, down_y, down_x = _resampling_matrices(
        h, w, pad_y, pad_x, images.dtype, images.device
    )
    fine = up_y @ images @ up_x.T
    scale = _scale2d(matrix.new_full((n,), 2.0), matrix.new_full((n,), 2.0))
    before = FILTER_TAPS // 2 - 1
    window = (2 * pad_y - before, 2 * pad_x - before, 2 * h + 2 * before, 2 * w + 2 * before)
    fine = _sample_affine(fine, scale @ matrix @ torch.linalg.inv(scale), window)
    return down_y @ fine @ down_x.T


def _apply_colour(images: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
    """Apply N x 4 x 4 colour maps; a grey image is treated as R = G = B and averaged back."""
    n, c, h, w = images.shape
    matrix = matrix.to(images.dtype)
    x = images.reshape(n, c, h * w)
    if c == 3:
        x = torch.baddbmm(matrix[:, :3, 3:], matrix[:, :3, :3], x)
    elif c == 1:
        gain = matrix[:, :3, :3].sum(dim=2).mean(dim=1)
        offset = matrix[:, :3, 3].mean(dim=1)
        x = x * gain[:, None, None] + offset[:, None, None]
    else:
        raise ValueError(f"colour augmentations need 1 or 3 image channels, got {c}")
    return x.reshape(n, c, h, w)


# ----------------------------------------------------------------------------------------------

ADA_MODES = ("off", "fixed", "adaptive")


class AdaController:
    """Sets the pipe's p from r_t = E[sign(D(real))], the paper's overfitting heuristic.

    D grows confident on reals it has memorised, so r_t near 1 means too little augmentation.
    Every `interval_images` the loop calls `update`, which steps p towards r_t = target, fast
    enough to go from 0 to 1 in `speed_kimg` thousand images. Per minibatch:

        ada.accumulate(real_logits)
        images_since += batch_size
        if images_since >= ada.interval_images:
            dist.all_reduce(ada.stats)  # only when distributed: sums over ranks
            r_t = ada.update(images_since); images_since = 0

    'fixed' keeps p as given and 'off' keeps it at 0; both still report r_t for the log.
    """

    def __init__(
        self,
        batch_size: int,
        mode: str = "adaptive",
        p: float = 0.0,
        target: float = 0.6,
        interval_minibatches: int = 4,
        speed_kimg: float = 500.0,
        pipe: AugmentPipe | None = None,
    ) -> None:
        if mode not in ADA_MODES:
            raise ValueError(f"ADA mode must be one of {', '.join(ADA_MODES)}, got {mode!r}")
        if not 0 <= p <= 1 or (mode == "off" and p != 0):
            raise ValueError(f"augment p must be in [0, 1] (0 when mode is 'off'), got {p}")
        if batch_size < 1 or interval_minibatches < 1 or speed_kimg <= 0:
            raise ValueError("batch_size, interval_minibatches and speed_kimg must be positive")
        self.mode = mode
        self.target = target
        self.interval_images = interval_minibatches * batch_size
        self.speed_kimg = speed_kimg
        self.pipe = pipe
        self.p = float(p)
        self.stats = torch.zeros(2)
        self._sync_pipe()

    def _sync_pipe(self) -> None:
        if self.pipe is not None:
            self.pipe.p.fill_(self.p)

    def accumulate(self, d_real_logits: torch.Tensor) -> None:
        """Add this minibatch's sum of sign(D(real)) and its count to `stats` (no host sync)."""
        logits = d_real_logits.detach().float()
        self.stats = self.stats.to(logits.device)
        self.stats[0] += logits.sign().sum()
        self.stats[1] += logits.numel()

    def update(self, batch_images_since_last: int) -> float:
        """Step p for the images seen since the last update; returns r_t (NaN with no data)."""
        sign_sum, count = self.stats.tolist()
        self.stats = torch.zeros_like(self.stats)
        if count == 0:
            return math.nan
        r_t = sign_sum / count
        if self.mode == "adaptive":
            direction = (r_t > self.target) - (r_t < self.target)
            step = direction * batch_images_since_last / (self.speed_kimg * 1000)
            self.p = min(max(self.p + step, 0.0), 1.0)
            self._sync_pipe()
        return r_t

    def state_dict(self) -> dict[str, float]:
        """p and the pending accumulators as plain floats, for the checkpoint's JSON sidecar."""
        sign_sum, count = self.stats.tolist()
        return {"p": self.p, "sign_sum": sign_sum, "count": count}

    def load_state_dict(self, state: Mapping[str, float]) -> None:
        self.p = float(state["p"])
        self.stats = torch.tensor([float(state["sign_sum"]), float(state["count"])])
        self._sync_pipe()
