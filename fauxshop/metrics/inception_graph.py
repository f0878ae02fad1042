"""The FID Inception-v3 as plain PyTorch modules, built from the weights of the TorchScript file.

The TorchScript graph (NVIDIA's port of TensorFlow's inception-2015-12-05) runs a separate
batch norm after every convolution and makes every branch contiguous before concatenating,
which on CPU costs as much as the convolutions. Here each batch norm (no scale, eps 1e-3) is
folded into its convolution's weight and bias, and tensors stay channels_last: the same
function to ~1e-6 in float32 (tested against the TorchScript file), 1.5-2x faster on CPU and
able to run under bf16 autocast without a float32 round trip per layer.

Blocks follow the file's own names: a stem of five convolutions and two max pools, mixed
(A x3), mixed_3 (B), mixed_4..7 (C), mixed_8 (D), mixed_9 and mixed_10 (E), global pool.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

BN_EPS = 0.001


class FoldedConv(nn.Module):
    """conv -> batch norm (beta only) -> ReLU, with the batch norm folded into the conv."""

    def __init__(self, src: torch.jit.ScriptModule) -> None:
        super().__init__()
        scale = (src.var + BN_EPS).rsqrt()
        self.register_buffer("weight", (src.weight * scale.reshape(-1, 1, 1, 1)).detach())
        self.register_buffer("bias", (src.beta - src.mean * scale).detach())
        self.stride = src.stride
        self.padding = src.padding if isinstance(src.padding, list) else [src.padding] * 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(F.conv2d(x, self.weight, self.bias, self.stride, self.padding))


def _avg3(x: torch.Tensor) -> torch.Tensor:
    """The towers' 3x3 average pool, stride 1, padding not counted (TensorFlow's SAME)."""
    return F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)


def _max3(x: torch.Tensor, stride: int = 2, padding: int = 0) -> torch.Tensor:
    return F.max_pool2d(x, 3, stride, padding)


def _convs(src: torch.jit.ScriptModule) -> nn.Sequential:
    return nn.Sequential(
        *(FoldedConv(c) for _, c in src.named_children() if c.original_name == "Conv2dLayer")
    )


class Branches(nn.Module):
    """Blocks A-D: branches on one input, concatenated on channels in the file's order.

    A branch is one convolution, a tower of convolutions (after a 3x3 average pool when the
    tower starts with one), or a bare 3x3 max pool of stride 2.
    """

    def __init__(self, src: torch.jit.ScriptModule) -> None:
        super().__init__()
        self.kinds: list[str] = []
        self.branches = nn.ModuleList()
        for _, child in src.named_children():
            kind = child.original_name
            if kind == "Conv2dLayer":
                self.kinds.append("conv")
                self.branches.append(FoldedConv(child))
            elif kind == "MaxPool2d":
                self.kinds.append("max")
                self.branches.append(nn.Identity())
            else:
                first = next(iter(child.children())).original_name
                self.kinds.append("avg" if first == "AvgPool2d" else "conv")
                self.branches.append(_convs(child))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = []
        for kind, branch in zip(self.kinds, self.branches, strict=True):
            if kind == "max":
                outs.append(_max3(x))
            else:
                outs.append(branch(_avg3(x) if kind == "avg" else x))
        return torch.cat(outs, 1)


class BlockE(nn.Module):
    """Block E: the two towers each split into a 1x3 and a 3x1 convolution."""

    def __init__(self, src: torch.jit.ScriptModule, max_pool: bool) -> None:
        super().__init__()
        self.convs = nn.ModuleDict(
            {n: FoldedConv(c) for n, c in src.named_children() if c.original_name == "Conv2dLayer"}
        )
        self.max_pool = max_pool  # mixed_10 pools with a 3x3 max, mixed_9 with an average

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = self.convs
        a = c["tower_conv"](x)
        b = c["tower_1_conv_1"](c["tower_1_conv"](x))
        pooled = _max3(x, 1, 1) if self.max_pool else _avg3(x)
        return torch.cat(
            [
                c["conv"](x),
                c["tower_mixed_conv"](a),
                c["tower_mixed_conv_1"](a),
                c["tower_1_mixed_conv"](b),
                c["tower_1_mixed_conv_1"](b),
                c["tower_2_conv"](pooled),
            ],
            1,
        )


class InceptionGraph(nn.Module):
    """N x 3 x 299 x 299 in [-1, 1) -> N x 2048 pool features, like the TorchScript file."""

    def __init__(self, script: torch.jit.ScriptModule) -> None:
        super().__init__()
        layers = script.net.layers
        stem = [FoldedConv(getattr(layers, f"conv{s}")) for s in ("", "_1", "_2", "_3", "_4")]
        self.stem1, self.stem2 = nn.Sequential(*stem[:3]), nn.Sequential(*stem[3:])
        names = ["mixed"] + [f"mixed_{i}" for i in range(1, 9)]
        self.mixed = nn.Sequential(*(Branches(getattr(layers, n)) for n in names))
        self.mixed_9 = BlockE(layers.mixed_9, max_pool=False)
        self.mixed_10 = BlockE(layers.mixed_10, max_pool=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = _max3(self.stem2(_max3(self.stem1(x))))
        x = self.mixed_10(self.mixed_9(self.mixed(x)))
        return F.adaptive_avg_pool2d(x, 1).flatten(1)
