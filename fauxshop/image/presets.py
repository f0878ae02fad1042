"""Named training recipes: `train-image --preset NAME` fills every flag the user did not give.

Recipes are ranked by bench/study_recipe.py (FID against CPU-minutes at equal compute,
docs/image.md); today's are the fastest of its pilot, to be replaced by the winners of the
full 60-minute study. A run saves the values it used in its config.json, so a resumed run
never depends on a preset that changed since.
"""

from __future__ import annotations

from typing import Any

from fauxshop.errors import FauxshopError

# A narrow StyleGAN2 for small images: 256 channels down to 128 at 32x32, a 2-layer mapping
# (the ADA paper's choice for small data), z = w = 256. The StyleGAN2 generator itself (W, W+,
# styles) is unchanged, so every latent tool works on it.
_NARROW = {
    "z_dim": 256,
    "w_dim": 256,
    "mapping_layers": 2,
    "channel_base": 4096,
    "channel_max": 256,
}

PRESETS: dict[str, tuple[str, dict[str, Any]]] = {
    "small": (
        "32x32 and smaller (Fashion-MNIST): narrow networks, batch 32, bf16",
        {**_NARROW, "batch": 32, "amp": "bf16"},
    ),
    "demo": (
        "64x32 portrait product photos (the demo catalog): narrow networks, batch 16, bf16",
        {**_NARROW, "z_dim": 128, "w_dim": 128, "channel_base": 2048, "channel_max": 128,
         "batch": 16, "mirror": True, "amp": "bf16"},
    ),
}  # fmt: skip


def preset_values(name: str) -> dict[str, Any]:
    """The TrainConfig fields a preset sets, plus its own name (kept in the run's config)."""
    if name not in PRESETS:
        raise FauxshopError(f"preset {name!r}: choose from {', '.join(PRESETS)}")
    return {**PRESETS[name][1], "preset": name}


def describe_presets() -> str:
    return "; ".join(f"{name}: {text}" for name, (text, _) in PRESETS.items())
