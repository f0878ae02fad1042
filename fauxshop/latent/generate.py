"""Seeds -> images, in fixed-size batches so a seed's pixels never depend on its neighbours.

CPU (and GPU) kernels round differently for different batch sizes (here: up to 6e-6 between
a batch of 1 and of 16), so every chunk is padded to exactly `batch` rows: a seed gives the
same bits whatever other seeds, order or count it is generated with, for a given `batch` on
a given device. Different `batch` values agree to float rounding (at most 1 grey level).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from fauxshop.image.networks import Generator
from fauxshop.latent.sampling import class_vector, z_from_seed
from fauxshop.pixels import to_hwc_uint8
from fauxshop.runtime import in_fixed_batches


def _device(G: Generator, device: torch.device | str | None) -> torch.device:
    return torch.device(device) if device is not None else next(G.parameters()).device


@torch.no_grad()
def seeds_to_ws(
    G: Generator,
    seeds: Sequence[int],
    psi: float = 1.0,
    class_index: int | None = None,
    batch: int = 16,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Truncated ws for each seed, N x num_ws x w_dim; psi=0 gives w_avg for every seed."""
    if not seeds:
        raise ValueError("no seeds given")
    device = _device(G, device)
    z = torch.stack([z_from_seed(s, G.z_dim) for s in seeds]).to(device)
    c = class_vector(G, class_index).to(device)

    def mapping(rows: torch.Tensor) -> torch.Tensor:
        return G.mapping(rows, c.expand(len(rows), -1), truncation_psi=psi)

    return in_fixed_batches(mapping, z, batch)


@torch.no_grad()
def render_ws(
    G: Generator, ws: torch.Tensor, noise_mode: str = "const", batch: int = 16, desc: str = ""
) -> np.ndarray:
    """ws -> N x H x W x C uint8 images."""

    def synthesis(rows: torch.Tensor) -> torch.Tensor:
        return G.synthesis(rows, noise_mode=noise_mode)

    return to_hwc_uint8(in_fixed_batches(synthesis, ws, batch, desc))


def generate(
    G: Generator,
    seeds: Sequence[int],
    psi: float = 1.0,
    class_index: int | None = None,
    noise_mode: str = "const",
    batch: int = 16,
    device: torch.device | str | None = None,
) -> np.ndarray:
    """One image per seed, N x H x W x C uint8; `device` defaults to where G's weights are.

    'const' noise keeps images reproducible; 'random' adds fresh per-pixel detail each call.
    """
    ws = seeds_to_ws(G, seeds, psi, class_index, batch, device)
    return render_ws(G, ws, noise_mode, batch, desc="generate")
