"""What `fauxshop products` makes and how strict it is.

Light on purpose (no torch), so the CLI builds `--help` without importing the composer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fauxshop.errors import FauxshopError
from fauxshop.latent.config import TRUNCATE_TO
from fauxshop.text.config import SamplingConfig

# The most candidates composed together (and seeds per shard): the writer's per-token work is
# shared by its rows, so a bigger chunk writes faster per text (its bits do not depend on it).
CHUNK = 64


@dataclass
class ComposeConfig:
    """What to make and how strict to be; mapped onto `fauxshop products` flags."""

    n: int = field(default=20, metadata={"help": "accepted products wanted"})
    category: str | None = field(
        default=None,
        metadata={"help": "only this category (None: each class in turn, an equal share)"},
    )
    psi: float = field(default=0.7, metadata={"help": "truncation psi of the photos"})
    truncate_to: str = field(
        default="class",
        metadata={"help": "what psi pulls towards: class (the asked class's mean w: a truncated "
                  "skirt stays a skirt) or global (every class's mean w, NVIDIA's)"},
    )  # fmt: skip
    seed_start: int | None = field(
        default=None,
        metadata={"help": "first seed (None: after the highest stored for these models)"},
    )
    max_candidates: int = field(default=200, metadata={"help": "give up after this many seeds"})
    min_confidence: float = field(
        default=0.85,
        metadata={"help": "tag an attribute only when the tagger is this sure, whatever its "
                  "calibration allows (on generated photos its less sure claims of sleeves "
                  "and colours are often wrong: docs/products.md)"},
    )  # fmt: skip
    min_image_distance: float = field(
        default=0.5,
        metadata={"help": "nearest real photo at least this x the catalog's typical gap"},
    )
    min_words: int = field(
        default=20,
        metadata={"help": "reject a description with fewer words left once the sentences "
                  "naming what the photo's tags do not claim are dropped"},
    )  # fmt: skip
    max_shared_share: float = field(
        default=0.5, metadata={"help": "reject text sharing a word run this long (share)"}
    )
    temperature: float = field(default=0.8, metadata={"help": "writer temperature"})
    top_p: float = field(default=0.95, metadata={"help": "writer nucleus mass"})
    max_new_tokens: int = field(default=200, metadata={"help": "writer token limit"})

    def __post_init__(self) -> None:
        if self.n < 1 or self.max_candidates < 1:
            raise FauxshopError("products: n and max_candidates must be >= 1")
        if self.truncate_to not in TRUNCATE_TO:
            raise FauxshopError(
                f"products: truncate_to {self.truncate_to!r}: choose from {', '.join(TRUNCATE_TO)}"
            )
        if not 0 <= self.min_confidence <= 1 or not 0 < self.max_shared_share <= 1:
            raise FauxshopError("products: min_confidence in [0, 1], max_shared_share in (0, 1]")

    def sampling(self, seed: int) -> SamplingConfig:
        return SamplingConfig(
            temperature=self.temperature, top_p=self.top_p,
            max_new_tokens=self.max_new_tokens, seed=seed,
        )  # fmt: skip
