"""The prune rules' thresholds: every field a `prune` flag, saved with each prune run.

Light on purpose (no numpy, scipy or torch), so the CLI builds `--help` at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from fauxshop.config_args import help_field


@dataclass
class PruneConfig:
    min_side: int = help_field("size: shortest image side in pixels a photo must have", 300)
    work_side: int = help_field("longest side of the copy the rules measure on", 128)
    foreground_distance: float = help_field(
        "RGB distance from the backdrop colour above which a pixel is foreground", 20.0
    )
    blank_max_ink: float = help_field(
        "non_product: at most this share of foreground pixels means nothing is pictured", 0.02
    )
    plain_border_min: float = help_field(
        "background: share of border pixels matching the backdrop for it to count as plain", 0.68
    )
    texture_similarity_min: float = help_field(
        "non_product: centre looking at least this much like the border means fabric only", 0.5
    )
    object_share_min: float = help_field(
        "non_product: below this share of foreground in one piece, it is a print, not a product",
        0.75,
    )
    max_offset: float = help_field(
        "composition: product box centre at most this far from the image centre (share of side)",
        0.12,
    )
    max_centroid_offset: float = help_field(
        "composition: centroid at most this far from the centre (lopsided shoes are fine)",
        0.25,
    )
    batch_size: int = help_field("verdicts written per store transaction", 256)
