"""What `fauxshop design` makes and how: light on purpose (no torch), for the CLI's --help."""

from __future__ import annotations

from dataclasses import dataclass, field

from fauxshop.errors import FauxshopError

METHODS = ("reject", "steer", "optimise")


@dataclass
class DesignConfig:
    """How to find photos matching a request; mapped onto `fauxshop design` flags."""

    n: int = field(default=8, metadata={"help": "images wanted"})
    method: str = field(
        default="reject",
        metadata={"help": "reject: sample the class, keep the best matches; steer: move from "
                  "the class centroid along learned directions; optimise: steer, then raise "
                  "the tagger's log-probability of the request with a realism term"},
    )  # fmt: skip
    seed_start: int = field(default=0, metadata={"help": "first seed"})
    psi: float = field(default=0.7, metadata={"help": "truncation psi (reject)"})
    max_samples: int = field(default=256, metadata={"help": "seeds reject looks at, at most"})
    match_confidence: float = field(
        default=0.85,
        metadata={"help": "a photo matches when the tagger gives every value asked at least "
                  "this probability (reject keeps matches first)"},
    )  # fmt: skip
    sigma: float = field(
        default=0.5, metadata={"help": "spread around the class centroid (steer, optimise)"}
    )
    margin: float = field(
        default=0.5,
        metadata={"help": "steer past each value's typical sample by this many of their std"},
    )
    start: str = field(
        default="steer",
        metadata={"help": "optimise starts from steer's or reject's photos (reject: real "
                  "samples of the class, slower)"},
    )  # fmt: skip
    steps: int = field(default=20, metadata={"help": "optimise: Adam steps"})
    lr: float = field(default=0.05, metadata={"help": "optimise: Adam learning rate"})
    realism: float = field(
        default=1.0,
        metadata={"help": "optimise: weight of the penalty on leaving the class's W region"},
    )
    bank_samples: int = field(
        default=2000, metadata={"help": "samples the directions and centroids are learned from"}
    )

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise FauxshopError(f"design: method must be one of {', '.join(METHODS)}")
        if self.start not in ("steer", "reject"):
            raise FauxshopError("design: start must be steer or reject")
        if self.n < 1 or self.max_samples < self.n or self.steps < 0 or self.bank_samples < 50:
            raise FauxshopError(
                "design: n >= 1, max_samples >= n, steps >= 0 and bank_samples >= 50"
            )
        if not 0 <= self.match_confidence <= 1:
            raise FauxshopError("design: match_confidence must be between 0 and 1")
        if self.sigma < 0 or self.realism < 0 or self.lr <= 0:
            raise FauxshopError("design: sigma and realism >= 0, lr > 0")
