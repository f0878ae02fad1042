"""Style mixing: copy some ws layers of one seed into another, as in the StyleGAN paper.

Which layers carry what: ws index i styles the layers at resolution 4 * 2**(i // 2) (two per
resolution; the toRGB index is shared with the next block's first conv). The paper's bands are
coarse = 4²-8² (pose, silhouette), middle = 16²-32² (shape details), fine = 64² and up (colour,
texture). A generator below 64 px has no fine band and one below 16 px no middle band: those
names then raise an error listing the bands that exist; use indices (e.g. '6-7') instead.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from fauxshop.errors import FauxshopError
from fauxshop.image.networks import Generator
from fauxshop.latent.generate import render_ws, seeds_to_ws
from fauxshop.latent.sampling import parse_int_ranges
from fauxshop.pixels import tile_grid

STYLE_BANDS = {"coarse": (4, 8), "middle": (16, 32), "fine": (64, math.inf)}


def ws_resolution(index: int) -> int:
    """The (shorter-side) resolution that ws row `index` styles."""
    return 4 * 2 ** (index // 2)


def band_indices(band: str, num_ws: int) -> list[int]:
    """The ws indices of a named band in a generator with `num_ws` rows (maybe none)."""
    low, high = STYLE_BANDS[band]
    return [i for i in range(num_ws) if low <= ws_resolution(i) <= high]


def _size(resolution: int | Sequence[int]) -> str:
    h, w = (resolution, resolution) if isinstance(resolution, int) else resolution
    return f"{h}x{w}"


def parse_styles(text: str, num_ws: int, resolution: int | Sequence[int]) -> list[int]:
    """'coarse' | 'middle' | 'fine' | '0-3' | '0,1,4' (or a mix) -> sorted ws indices."""
    indices: set[int] = set()
    for part in str(text).replace(" ", "").lower().split(","):
        if part in STYLE_BANDS:
            band = band_indices(part, num_ws)
            if not band:
                have = {b: band_indices(b, num_ws) for b in STYLE_BANDS}
                listed = ", ".join(f"{b} {i[0]}-{i[-1]}" for b, i in have.items() if i)
                low = STYLE_BANDS[part][0]
                raise FauxshopError(
                    f"a {_size(resolution)} generator has no {part} styles ({part} = layers at "
                    f"{low}² and up on the shorter side; it has {listed}); give ws indices instead"
                )
            indices.update(band)
        else:
            indices.update(parse_int_ranges(part, "styles"))
    bad = sorted(i for i in indices if i >= num_ws)
    if bad:
        raise FauxshopError(f"bad styles {text!r}: index {bad[0]} >= num_ws {num_ws}")
    return sorted(indices)


def mix_ws(row_ws: torch.Tensor, col_ws: torch.Tensor, styles: Sequence[int]) -> torch.Tensor:
    """R x C x num_ws x w_dim: row r's ws with the `styles` rows taken from column c's ws."""
    mixed = row_ws.unsqueeze(1).repeat(1, len(col_ws), 1, 1)
    mixed[:, :, list(styles)] = col_ws.unsqueeze(0)[:, :, list(styles)]
    return mixed


def style_mix_grid(
    G: Generator,
    row_seeds: Sequence[int],
    col_seeds: Sequence[int],
    styles: Sequence[int],
    psi: float = 1.0,
    class_index: int | None = None,
    noise_mode: str = "const",
    batch: int = 16,
    fill: int = 255,
) -> np.ndarray:
    """The paper's figure as one uint8 H x W x C image of (rows + 1) x (cols + 1) cells.

    Top row: the column sources; left column: the row sources; cell (r, c): row r's image with
    the `styles` layers from column c; the top-left cell is blank (`fill`).
    """
    if not row_seeds or not col_seeds:
        raise FauxshopError("style mixing needs at least one row seed and one column seed")
    seeds = list(row_seeds) + list(col_seeds)
    ws = seeds_to_ws(G, seeds, psi, class_index, batch)
    row_ws, col_ws = ws[: len(row_seeds)], ws[len(row_seeds) :]
    mixed = mix_ws(row_ws, col_ws, styles).flatten(0, 1)
    images = render_ws(G, torch.cat([ws, mixed]), noise_mode, batch, desc="mix")
    rows, cols = len(row_seeds), len(col_seeds)
    row_imgs, col_imgs, mixed_imgs = np.split(images, [rows, rows + cols])
    blank = np.full_like(images[:1], fill)
    cells = [blank, col_imgs]
    for r in range(rows):
        cells += [row_imgs[r : r + 1], mixed_imgs[r * cols : (r + 1) * cols]]
    return tile_grid(np.concatenate(cells), cols + 1, fill)
