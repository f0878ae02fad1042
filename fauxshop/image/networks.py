"""StyleGAN2 (config F) generator and discriminator in plain PyTorch.

Written from the StyleGAN2 paper (Karras et al. 2020, "Analyzing and Improving the Image
Quality of StyleGAN"). Parameter names follow the layout of NVIDIA's PyTorch release
(`mapping.fc{i}`, `synthesis.b{res}.conv0/conv1/torgb`, `b{res}.fromrgb/conv0/conv1/skip`) so
that published weights can be mapped onto these modules by name.

Images may be square, portrait or landscape with power-of-two sides. The aspect ratio is kept
from the first block on (a 2:1 portrait starts from an 8x4 constant), and blocks are named and
sized by their shorter side, so a 512x256 network has blocks b4 (8x4) ... b256 (512x256).

No custom ops: the [1, 3, 3, 1] FIR resampling filter runs as depthwise (transposed)
convolutions, so the same code runs on CPU and CUDA. On CPU the training loop should call
`torch.set_flush_denormal(True)` (denormal floats make CPU convolutions 20-30x slower) and may
use `channels_last` (faster CPU convolutions); global settings are left to it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

NOISE_MODES = ("random", "const", "none")
MODCONV_MODES = ("auto", "fused", "nonfused")


def assert_shape(tensor: torch.Tensor, shape: Sequence[int | None], name: str = "tensor") -> None:
    """Raise ValueError unless `tensor` has `shape`; None in `shape` matches any size."""
    ok = tensor.ndim == len(shape) and all(
        want is None or want == got for got, want in zip(tensor.shape, shape, strict=False)
    )
    if not ok:
        want = ", ".join("N" if s is None else str(s) for s in shape)
        raise ValueError(f"{name} must have shape [{want}], got {list(tensor.shape)}")


def parse_resolution(img_resolution: int | Sequence[int]) -> tuple[int, int]:
    """(H, W) from an int or a pair; both sides powers of two, the shorter at least 8."""
    if isinstance(img_resolution, int):
        img_resolution = (img_resolution, img_resolution)
    h, w = (int(s) for s in img_resolution)
    if min(h, w) < 8 or h & (h - 1) or w & (w - 1):
        raise ValueError(f"img_resolution sides must be powers of two >= 8, got {h}x{w}")
    return h, w


def channels_at(res: int, channel_base: int, channel_max: int) -> int:
    """Feature channels of the block whose shorter side is `res`: fewer as images grow."""
    return min(channel_base // res, channel_max)


def normalize_2nd_moment(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    return x * (x.square().mean(dim=1, keepdim=True) + eps).rsqrt()


def bias_act(
    x: torch.Tensor, bias: torch.Tensor | None, activation: str = "linear", gain: float = 1.0
) -> torch.Tensor:
    """Add a per-channel bias, then leaky ReLU scaled by sqrt(2) to keep unit variance."""
    if bias is not None:
        x = x + bias.reshape(1, -1, *([1] * (x.ndim - 2)))
    if activation == "lrelu":
        x = F.leaky_relu(x, 0.2)
        gain = gain * math.sqrt(2)
    return x * gain if gain != 1 else x


# ----------------------------------------------------------------------------------------------
# FIR resampling: a normalised [1, 3, 3, 1] low-pass filter removes the aliasing that plain
# zero-insertion (up) or subsampling (down) would cause.


def fir_kernel() -> torch.Tensor:
    """The separable 4x4 filter, summing to 1."""
    f = torch.tensor([1.0, 3.0, 3.0, 1.0])
    f = torch.outer(f, f)
    return f / f.sum()


def _depthwise(f: torch.Tensor, x: torch.Tensor, gain: float) -> torch.Tensor:
    """`f * gain` as a depthwise kernel for every channel of `x`."""
    return (f * gain).to(x.dtype).expand(x.shape[1], 1, *f.shape).contiguous()


def fir_filter(
    x: torch.Tensor, f: torch.Tensor, padding: int, gain: float = 1.0, stride: int = 1
) -> torch.Tensor:
    """Convolve every channel with `f` (a true convolution: the kernel is flipped)."""
    kernel = _depthwise(f.flip([0, 1]), x, gain)
    return F.conv2d(x, kernel, stride=stride, padding=padding, groups=x.shape[1])


def upsample2d(x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """2x upsampling: zero-insertion then `f` with gain 4, so a constant image stays constant."""
    kernel = _depthwise(f, x, 4.0)
    return F.conv_transpose2d(x, kernel, stride=2, padding=1, groups=x.shape[1])


def downsample2d(x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """2x downsampling: filter with `f`, keep every other pixel."""
    return fir_filter(x, f, padding=1, stride=2)


# ----------------------------------------------------------------------------------------------
# Equalised learning rate: weights are stored at unit variance and scaled at run time by
# 1/sqrt(fan_in), so Adam takes steps of the same relative size in every layer.


class EqualLinear(nn.Module):
    """Fully connected layer; `lr_multiplier` slows it down (the mapping network uses 0.01)."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        activation: str = "linear",
        bias_init: float = 0.0,
        lr_multiplier: float = 1.0,
    ) -> None:
        super().__init__()
        self.activation = activation
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_multiplier)
        self.bias = nn.Parameter(torch.full([out_features], float(bias_init)))
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.linear(x, self.weight * self.weight_gain, self.bias * self.bias_gain)
        return bias_act(x, None, self.activation)


class EqualConv2d(nn.Module):
    """Convolution with runtime weight scaling; `down=2` filters with the FIR, then strides."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        activation: str = "linear",
        bias: bool = True,
        down: int = 1,
    ) -> None:
        super().__init__()
        self.activation = activation
        self.down = down
        self.padding = kernel_size // 2
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size**2)
        f = fir_kernel() if down > 1 else None
        self.register_buffer("resample_filter", f, persistent=False)

    def forward(self, x: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
        w = self.weight * self.weight_gain
        if self.down == 1:
            x = F.conv2d(x, w, padding=self.padding)
        elif self.padding == 0:  # 1x1: subsample first, it is 4x cheaper and gives the same
            x = F.conv2d(downsample2d(x, self.resample_filter), w)
        else:
            x = fir_filter(x, self.resample_filter, padding=self.padding + 1)
            x = F.conv2d(x, w, stride=2)
        return bias_act(x, self.bias, self.activation, gain)


# ----------------------------------------------------------------------------------------------
# Generator


class MappingNetwork(nn.Module):
    """z (and a class label) -> intermediate latent w, an MLP of `num_layers` layers.

    Also tracks `w_avg`, the running mean of w, which truncation pulls samples towards:
    psi=1 leaves w alone, psi=0 gives w_avg for every z. With `num_ws=None` it returns
    one w per sample (the discriminator's label embedding), else N x num_ws x w_dim.
    """

    def __init__(
        self,
        z_dim: int,
        c_dim: int,
        w_dim: int,
        num_ws: int | None,
        num_layers: int = 8,
        lr_multiplier: float = 0.01,
        w_avg_beta: float | None = 0.995,
    ) -> None:
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim = z_dim, c_dim, w_dim
        self.num_ws, self.num_layers, self.w_avg_beta = num_ws, num_layers, w_avg_beta
        if c_dim > 0:
            self.embed = EqualLinear(c_dim, w_dim)
        features = [z_dim + (w_dim if c_dim > 0 else 0)] + [w_dim] * num_layers
        for i in range(num_layers):
            layer = EqualLinear(features[i], features[i + 1], "lrelu", lr_multiplier=lr_multiplier)
            setattr(self, f"fc{i}", layer)
        if w_avg_beta is not None:
            self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(
        self,
        z: torch.Tensor | None,
        c: torch.Tensor | None = None,
        truncation_psi: float = 1.0,
        truncation_cutoff: int | None = None,
        update_emas: bool = False,
    ) -> torch.Tensor:
        """`update_emas=True` (the training step) moves w_avg towards this batch's mean w."""
        parts = []
        if self.z_dim > 0:
            if z is None:
                raise ValueError(f"z must have shape [N, {self.z_dim}], got None")
            assert_shape(z, [None, self.z_dim], "z")
            parts.append(normalize_2nd_moment(z))
        if self.c_dim > 0:
            if c is None:
                raise ValueError(f"this network is conditional: pass c of shape [N, {self.c_dim}]")
            assert_shape(c, [None, self.c_dim], "c")
            parts.append(normalize_2nd_moment(self.embed(c)))
        elif c is not None and c.numel() > 0:
            raise ValueError(f"this network is unconditional (c_dim=0), got c {list(c.shape)}")
        x = torch.cat(parts, dim=1)
        for i in range(self.num_layers):
            x = getattr(self, f"fc{i}")(x)

        if update_emas and self.w_avg_beta is not None:
            self.w_avg.copy_(x.detach().float().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))
        if self.num_ws is None:
            return x
        x = x.unsqueeze(1).repeat(1, self.num_ws, 1)
        if truncation_psi != 1:
            cut = self.num_ws if truncation_cutoff is None else truncation_cutoff
            x = torch.cat([self.w_avg.lerp(x[:, :cut], truncation_psi), x[:, cut:]], dim=1)
        return x


def _conv(
    x: torch.Tensor, weight: torch.Tensor, up: bool, f: torch.Tensor | None, groups: int = 1
) -> torch.Tensor:
    """3x3 correlation with `weight`, or with `up`: 2x FIR upsampling, then a true convolution.

    The upsampling layer convolves (kernel flipped) as NVIDIA's and rosinality's PyTorch
    releases do, so their weights load unchanged (TF checkpoints need Conv0_up flipped). It
    runs as a transposed convolution at the low resolution followed by the FIR filter (gain 4),
    which equals upsample-then-convolve at a quarter of the multiply-adds.
    """
    if not up:
        return F.conv2d(x, weight, padding=weight.shape[-1] // 2, groups=groups)
    out_ch, in_ch, kh, kw = weight.shape
    w = weight.reshape(groups, out_ch // groups, in_ch, kh, kw).transpose(1, 2)
    w = w.reshape(groups * in_ch, out_ch // groups, kh, kw)  # conv_transpose2d's layout
    x = F.conv_transpose2d(x, w, stride=2, groups=groups)  # 2H + kh - 2 rows
    return fir_filter(x, f, padding=(5 - kh) // 2, gain=4.0)  # back to 2H rows


def modulated_conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    styles: torch.Tensor,
    demodulate: bool = True,
    up: bool = False,
    resample_filter: torch.Tensor | None = None,
    fused: bool = False,
) -> torch.Tensor:
    """Convolve each sample with `weight` scaled per input channel by that sample's styles.

    Demodulation then rescales each output channel to unit expected std, which replaces
    StyleGAN's AdaIN and removes its droplet artefacts. Two equal implementations:
    non-fused scales the activations around one shared convolution (faster on CPU);
    fused builds per-sample weights and runs one grouped convolution (faster on GPU).
    """
    n, in_ch = styles.shape
    out_ch, _, kh, kw = weight.shape
    assert_shape(x, [n, in_ch, None, None], "x")
    if demodulate:  # sum over (in, kh, kw) of (weight * style)^2, without the N x O x I x k x k
        dcoefs = (styles.square() @ weight.square().sum(dim=[2, 3]).t() + 1e-8).rsqrt()
    if fused:
        w = weight.unsqueeze(0) * styles.reshape(n, 1, in_ch, 1, 1)
        if demodulate:
            w = w * dcoefs.reshape(n, out_ch, 1, 1, 1)
        x = x.reshape(1, n * in_ch, *x.shape[2:])
        x = _conv(x, w.reshape(n * out_ch, in_ch, kh, kw), up, resample_filter, groups=n)
        return x.reshape(n, out_ch, *x.shape[2:])
    x = _conv(x * styles.reshape(n, in_ch, 1, 1), weight, up, resample_filter)
    return x * dcoefs.reshape(n, out_ch, 1, 1) if demodulate else x


class SynthesisLayer(nn.Module):
    """Modulated 3x3 conv (optionally upsampling 2x), per-pixel noise, bias, leaky ReLU."""

    def __init__(
        self, in_channels: int, out_channels: int, w_dim: int, size: tuple[int, int], up: bool
    ) -> None:
        super().__init__()
        self.up = up
        self.affine = EqualLinear(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, 3, 3))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.noise_strength = nn.Parameter(torch.zeros([]))
        self.register_buffer("noise_const", torch.randn(size))
        self.register_buffer("resample_filter", fir_kernel() if up else None, persistent=False)

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str, fused: bool):
        styles = self.affine(w)
        x = modulated_conv2d(
            x, self.weight, styles, up=self.up, resample_filter=self.resample_filter, fused=fused
        )
        if noise_mode == "random":
            noise = torch.randn(x.shape[0], 1, *x.shape[2:], device=x.device, dtype=x.dtype)
            x = x + noise * self.noise_strength
        elif noise_mode == "const":
            x = x + self.noise_const * self.noise_strength
        return bias_act(x, self.bias, "lrelu")


class ToRGB(nn.Module):
    """Modulated 1x1 conv to image channels, without demodulation (colour scale matters)."""

    def __init__(self, in_channels: int, img_channels: int, w_dim: int) -> None:
        super().__init__()
        self.affine = EqualLinear(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(img_channels, in_channels, 1, 1))
        self.bias = nn.Parameter(torch.zeros(img_channels))
        self.weight_gain = 1 / math.sqrt(in_channels)

    def forward(self, x: torch.Tensor, w: torch.Tensor, fused: bool) -> torch.Tensor:
        styles = self.affine(w) * self.weight_gain
        x = modulated_conv2d(x, self.weight, styles, demodulate=False, fused=fused)
        return bias_act(x, self.bias)


class SynthesisBlock(nn.Module):
    """One resolution of the skip generator: (const | 2x up conv0), conv1, toRGB.

    The image is the sum of every block's toRGB output, each upsampled to full size.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        w_dim: int,
        size: tuple[int, int],
        img_channels: int,
    ) -> None:
        super().__init__()
        self.is_first = in_channels == 0
        if self.is_first:
            self.const = nn.Parameter(torch.randn(out_channels, *size))
        else:
            self.conv0 = SynthesisLayer(in_channels, out_channels, w_dim, size, up=True)
        self.conv1 = SynthesisLayer(out_channels, out_channels, w_dim, size, up=False)
        self.torgb = ToRGB(out_channels, img_channels, w_dim)
        self.register_buffer(
            "resample_filter", None if self.is_first else fir_kernel(), persistent=False
        )
        self.num_conv = 1 if self.is_first else 2

    def forward(
        self,
        x: torch.Tensor | None,
        img: torch.Tensor | None,
        ws: torch.Tensor,
        noise_mode: str,
        fused: bool,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """`ws` holds num_conv + 1 rows; the toRGB row is shared with the next block's conv0."""
        w_iter = iter(ws.unbind(dim=1))
        if self.is_first:
            x = self.const.unsqueeze(0).repeat(ws.shape[0], 1, 1, 1)
        else:
            x = self.conv0(x, next(w_iter), noise_mode, fused)
        x = self.conv1(x, next(w_iter), noise_mode, fused)
        y = self.torgb(x, next(w_iter), fused)
        img = y if img is None else upsample2d(img, self.resample_filter) + y
        return x, img


class SynthesisNetwork(nn.Module):
    """ws (N x num_ws x w_dim) -> images (N x img_channels x H x W), roughly in [-1, 1].

    `modconv` picks the modulated-conv implementation: 'fused' (grouped conv), 'nonfused'
    or 'auto' (fused on CUDA, non-fused elsewhere, where it measured faster).
    """

    def __init__(
        self,
        w_dim: int,
        img_resolution: int | Sequence[int],
        img_channels: int = 3,
        channel_base: int = 32768,
        channel_max: int = 512,
        modconv: str = "auto",
    ) -> None:
        super().__init__()
        if modconv not in MODCONV_MODES:
            raise ValueError(f"modconv must be one of {MODCONV_MODES}, got {modconv!r}")
        self.w_dim, self.img_channels, self.modconv = w_dim, img_channels, modconv
        self.img_resolution = parse_resolution(img_resolution)
        h, w = self.img_resolution
        short = min(h, w)
        self.block_resolutions = [2**i for i in range(2, int(math.log2(short)) + 1)]
        self.num_ws = 0
        for res in self.block_resolutions:
            in_channels = channels_at(res // 2, channel_base, channel_max) if res > 4 else 0
            out_channels = channels_at(res, channel_base, channel_max)
            size = (h * res // short, w * res // short)
            block = SynthesisBlock(in_channels, out_channels, w_dim, size, img_channels)
            setattr(self, f"b{res}", block)
            self.num_ws += block.num_conv
        self.num_ws += 1  # the last block's toRGB

    def forward(
        self, ws: torch.Tensor, noise_mode: str = "const", modconv: str | None = None
    ) -> torch.Tensor:
        """`noise_mode`: 'random' for training, 'const' (reproducible) or 'none' to generate."""
        assert_shape(ws, [None, self.num_ws, self.w_dim], "ws")
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}")
        modconv = modconv or self.modconv
        if modconv not in MODCONV_MODES:
            raise ValueError(f"modconv must be one of {MODCONV_MODES}, got {modconv!r}")
        fused = modconv == "fused" or (modconv == "auto" and ws.device.type == "cuda")
        x = img = None
        w_idx = 0
        for res in self.block_resolutions:
            block = getattr(self, f"b{res}")
            block_ws = ws.narrow(1, w_idx, block.num_conv + 1)
            x, img = block(x, img, block_ws, noise_mode, fused)
            w_idx += block.num_conv
        return img


class Generator(nn.Module):
    """Mapping network + synthesis network; `G.config` rebuilds it: Generator(**G.config)."""

    def __init__(
        self,
        z_dim: int = 512,
        c_dim: int = 0,
        w_dim: int = 512,
        img_resolution: int | Sequence[int] = (256, 256),
        img_channels: int = 3,
        mapping_kwargs: dict | None = None,
        synthesis_kwargs: dict | None = None,
    ) -> None:
        super().__init__()
        mapping_kwargs, synthesis_kwargs = dict(mapping_kwargs or {}), dict(synthesis_kwargs or {})
        self.z_dim, self.c_dim, self.w_dim, self.img_channels = z_dim, c_dim, w_dim, img_channels
        self.img_resolution = parse_resolution(img_resolution)
        self.config = {
            "z_dim": z_dim,
            "c_dim": c_dim,
            "w_dim": w_dim,
            "img_resolution": list(self.img_resolution),
            "img_channels": img_channels,
            "mapping_kwargs": mapping_kwargs,
            "synthesis_kwargs": synthesis_kwargs,
        }
        self.synthesis = SynthesisNetwork(
            w_dim, self.img_resolution, img_channels, **synthesis_kwargs
        )
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(z_dim, c_dim, w_dim, self.num_ws, **mapping_kwargs)

    def forward(
        self,
        z: torch.Tensor,
        c: torch.Tensor | None = None,
        truncation_psi: float = 1.0,
        truncation_cutoff: int | None = None,
        noise_mode: str = "const",
        update_emas: bool = False,
    ) -> torch.Tensor:
        ws = self.mapping(z, c, truncation_psi, truncation_cutoff, update_emas=update_emas)
        return self.synthesis(ws, noise_mode=noise_mode)


# ----------------------------------------------------------------------------------------------
# Discriminator


class DiscriminatorBlock(nn.Module):
    """Residual block: two 3x3 convs (the second halves the size) beside a 1x1 downsampling skip.

    The sum is scaled by 1/sqrt(2) to keep unit variance; the top block reads the image through
    a 1x1 fromRGB first.
    """

    def __init__(self, channels: int, out_channels: int, img_channels: int = 0) -> None:
        super().__init__()
        self.fromrgb = EqualConv2d(img_channels, channels, 1, "lrelu") if img_channels else None
        self.conv0 = EqualConv2d(channels, channels, 3, "lrelu")
        self.conv1 = EqualConv2d(channels, out_channels, 3, "lrelu", down=2)
        self.skip = EqualConv2d(channels, out_channels, 1, bias=False, down=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fromrgb is not None:
            x = self.fromrgb(x)
        y = self.skip(x, gain=math.sqrt(0.5))
        x = self.conv1(self.conv0(x), gain=math.sqrt(0.5))
        return y + x


class MinibatchStdLayer(nn.Module):
    """Appends the std of features across groups of samples, so D can see a lack of variety."""

    def __init__(self, group_size: int, num_channels: int = 1) -> None:
        super().__init__()
        self.group_size, self.num_channels = group_size, num_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        g = min(self.group_size, n)
        if n % g:
            raise ValueError(f"batch size {n} must be divisible by mbstd group size {g}")
        f = self.num_channels
        y = x.reshape(g, -1, f, c // f, h, w)  # group members are samples i, i + n/g, ...
        y = (y - y.mean(dim=0)).square().mean(dim=0)
        y = (y + 1e-8).sqrt().mean(dim=[2, 3, 4])  # [n/g, f]
        y = y.reshape(-1, f, 1, 1).repeat(g, 1, h, w)
        return torch.cat([x, y], dim=1)


class DiscriminatorEpilogue(nn.Module):
    """Minibatch std, a 3x3 conv, a dense layer, then one score (or a `cmap_dim` projection)."""

    def __init__(
        self,
        channels: int,
        cmap_dim: int,
        size: tuple[int, int],
        mbstd_group_size: int,
        mbstd_num_channels: int,
    ) -> None:
        super().__init__()
        self.cmap_dim = cmap_dim
        self.mbstd = MinibatchStdLayer(mbstd_group_size, mbstd_num_channels)
        self.conv = EqualConv2d(channels + mbstd_num_channels, channels, 3, "lrelu")
        self.fc = EqualLinear(channels * size[0] * size[1], channels, "lrelu")
        self.out = EqualLinear(channels, cmap_dim if cmap_dim > 0 else 1)

    def forward(self, x: torch.Tensor, cmap: torch.Tensor | None) -> torch.Tensor:
        x = self.conv(self.mbstd(x))
        x = self.out(self.fc(x.flatten(1)))
        if cmap is None:
            return x
        # Projection discriminator: score = <features, embedding of the label> / sqrt(dim).
        return (x * cmap).sum(dim=1, keepdim=True) / math.sqrt(self.cmap_dim)


class Discriminator(nn.Module):
    """images (N x C x H x W) [+ labels] -> realness scores (N x 1); residual architecture."""

    def __init__(
        self,
        c_dim: int = 0,
        img_resolution: int | Sequence[int] = (256, 256),
        img_channels: int = 3,
        channel_base: int = 32768,
        channel_max: int = 512,
        mbstd_group_size: int = 4,
        mbstd_num_channels: int = 1,
        mapping_kwargs: dict | None = None,
    ) -> None:
        super().__init__()
        mapping_kwargs = dict(mapping_kwargs or {})
        self.c_dim, self.img_channels = c_dim, img_channels
        self.img_resolution = parse_resolution(img_resolution)
        self.config = {
            "c_dim": c_dim,
            "img_resolution": list(self.img_resolution),
            "img_channels": img_channels,
            "channel_base": channel_base,
            "channel_max": channel_max,
            "mbstd_group_size": mbstd_group_size,
            "mbstd_num_channels": mbstd_num_channels,
            "mapping_kwargs": mapping_kwargs,
        }
        h, w = self.img_resolution
        short = min(h, w)
        self.block_resolutions = [2**i for i in range(int(math.log2(short)), 2, -1)]
        for res in self.block_resolutions:
            block = DiscriminatorBlock(
                channels_at(res, channel_base, channel_max),
                channels_at(res // 2, channel_base, channel_max),
                img_channels if res == short else 0,
            )
            setattr(self, f"b{res}", block)
        channels = channels_at(4, channel_base, channel_max)
        cmap_dim = channels if c_dim > 0 else 0
        if c_dim > 0:
            self.mapping = MappingNetwork(
                0, c_dim, cmap_dim, num_ws=None, w_avg_beta=None, **mapping_kwargs
            )
        base = (4 * h // short, 4 * w // short)
        self.b4 = DiscriminatorEpilogue(
            channels, cmap_dim, base, mbstd_group_size, mbstd_num_channels
        )

    def forward(self, img: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        assert_shape(img, [None, self.img_channels, *self.img_resolution], "img")
        x = img
        for res in self.block_resolutions:
            x = getattr(self, f"b{res}")(x)
        cmap = None
        if self.c_dim > 0:
            cmap = self.mapping(None, c)
        elif c is not None and c.numel() > 0:
            raise ValueError(f"this network is unconditional (c_dim=0), got c {list(c.shape)}")
        return self.b4(x, cmap)
