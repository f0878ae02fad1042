"""Named training recipes: `train-image --preset NAME` fills every flag the user did not give.

Recipes are ranked by bench/study_recipe.py (FID against CPU-minutes at equal compute,
docs/image.md): at 60 CPU-minutes on Fashion-MNIST 32x32 the narrow bf16 recipe below beat the
TrainConfig defaults by far, because on a CPU the images seen per minute decide. A run saves
the values it used in its config.json, so a resumed run never depends on a preset that changed
since.
"""

from __future__ import annotations

from typing import Any

from fauxshop.errors import FauxshopError

# The study's winner: 128 channels down to 64 at 32x32, a 2-layer mapping (the ADA paper's
# choice for small data), z = w = 128, bf16 autocast where the hardware has it (the study ran on
# AMX; on AVX2-only CPUs emulated bf16 trains ~11x slower than fp32, so `auto` falls back to
# fp32 there). The StyleGAN2 generator itself (W, W+, styles) is unchanged, so every latent
# tool works on it.
_NARROWER = {
    "z_dim": 128,
    "w_dim": 128,
    "mapping_layers": 2,
    "channel_base": 2048,
    "channel_max": 128,
    "amp": "auto",
}

PRESETS: dict[str, tuple[str, dict[str, Any]]] = {
    "small": (
        "32x32 and smaller (Fashion-MNIST): the recipe study's winner, 128 channels and less, "
        "batch 32, bf16 where native",
        {**_NARROWER, "batch": 32},
    ),
    # ADA 5x faster than the paper's 500 kimg: on 2,751 photos D memorised the reals within
    # 40 kimg (r_t 0.7-0.9) while p crept to 0.07 by 100 kimg and FID got worse; a branch
    # restarted at p 0.3 settled near 0.2 and gained 43 FID@2k in 100 kimg (docs/image.md).
    "demo": (
        "64x32 portrait product photos (the demo catalog): the same networks, batch 16, "
        "mirrored, ADA adjusting in 100 kimg",
        {**_NARROWER, "batch": 16, "mirror": True, "ada_kimg": 100.0},
    ),
}


def preset_values(name: str) -> dict[str, Any]:
    """The TrainConfig fields a preset sets, plus its own name (kept in the run's config)."""
    if name not in PRESETS:
        raise FauxshopError(f"preset {name!r}: choose from {', '.join(PRESETS)}")
    return {**PRESETS[name][1], "preset": name}


def describe_presets() -> str:
    return "; ".join(f"{name}: {text}" for name, (text, _) in PRESETS.items())
