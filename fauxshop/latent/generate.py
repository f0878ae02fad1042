"""Seeds -> images, in fixed-size batches so a seed's pixels never depend on its neighbours.

CPU (and GPU) kernels round differently for different batch sizes (here: up to 6e-6 between
a batch of 1 and of 16), so every chunk is padded to exactly `batch` rows: a seed gives the
same bits whatever other seeds, order or count it is generated with, for a given `batch` on
a given device. Different `batch` values agree to float rounding (at most 1 grey level).

Truncation pulls a w towards a centre. NVIDIA's is G's running `w_avg`, the mean over every
class ("global"); a conditional G trained on a catalog of mostly dresses then draws a
truncated skirt half-way to a dress. "class" pulls towards the asked class's own mean w
(as class-conditional StyleGANs such as StyleGAN-XL do), so psi < 1 keeps the asked class.
"""

from __future__ import annotations

from collections.abc import Sequence
from weakref import WeakKeyDictionary

import numpy as np
import torch

from fauxshop.image.networks import Generator
from fauxshop.latent.config import TRUNCATE_TO
from fauxshop.latent.sampling import class_vector, z_from_seed
from fauxshop.pixels import to_hwc_uint8
from fauxshop.runtime import in_fixed_batches


def _device(G: Generator, device: torch.device | str | None) -> torch.device:
    return torch.device(device) if device is not None else next(G.parameters()).device


# zs (torch's CPU generator from seed 0, mapped 256 at a time) whose mean w is a class's
# centre: fixed, so a centre, and every image truncated towards it, is the same bits each time.
CENTRE_SAMPLES, CENTRE_BATCH = 4096, 256
_centres: WeakKeyDictionary = WeakKeyDictionary()  # G -> {(class, device): centre}


@torch.no_grad()
def seeds_to_ws(
    G: Generator,
    seeds: Sequence[int],
    psi: float = 1.0,
    class_index: int | None = None,
    batch: int = 16,
    device: torch.device | str | None = None,
    truncate_to: str = "global",
) -> torch.Tensor:
    """Truncated ws for each seed, N x num_ws x w_dim; psi=0 gives the centre for every seed:
    G's `w_avg` ("global") or, for a class of a conditional G, that class's mean w ("class")."""
    if not seeds:
        raise ValueError("no seeds given")
    if truncate_to not in TRUNCATE_TO:
        raise ValueError(f"truncate_to {truncate_to!r}: choose from {', '.join(TRUNCATE_TO)}")
    device = _device(G, device)
    z = torch.stack([z_from_seed(s, G.z_dim) for s in seeds]).to(device)
    c = class_vector(G, class_index).to(device)
    centre = None
    if truncate_to == "class" and psi != 1 and class_index is not None:
        centre = class_centre(G, class_index, device)

    def mapping(rows: torch.Tensor) -> torch.Tensor:
        if centre is None:
            return G.mapping(rows, c.expand(len(rows), -1), truncation_psi=psi)
        return centre.lerp(G.mapping(rows, c.expand(len(rows), -1)), psi)

    return in_fixed_batches(mapping, z, batch)


@torch.no_grad()
def class_centre(
    G: Generator, class_index: int, device: torch.device | str | None = None
) -> torch.Tensor:
    """The class's mean w over `CENTRE_SAMPLES` fixed zs (w_dim,), computed once per generator."""
    device = _device(G, device)
    known = _centres.setdefault(G, {})
    if (class_index, str(device)) not in known:
        generator = torch.Generator().manual_seed(0)
        z = torch.randn(CENTRE_SAMPLES, G.z_dim, generator=generator).to(device)
        c = class_vector(G, class_index).to(device)

        def mapping(rows: torch.Tensor) -> torch.Tensor:
            return G.mapping(rows, c.expand(len(rows), -1))[:, 0]

        known[class_index, str(device)] = in_fixed_batches(mapping, z, CENTRE_BATCH).mean(dim=0)
    return known[class_index, str(device)]


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
    truncate_to: str = "global",
) -> np.ndarray:
    """One image per seed, N x H x W x C uint8; `device` defaults to where G's weights are.

    'const' noise keeps images reproducible; 'random' adds fresh per-pixel detail each call.
    """
    ws = seeds_to_ws(G, seeds, psi, class_index, batch, device, truncate_to)
    return render_ws(G, ws, noise_mode, batch, desc="generate")
