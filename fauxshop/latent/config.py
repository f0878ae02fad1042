"""Settings of the latent tools (projection, rare classes) and the direction methods' names.

Light on purpose (no torch), so the CLI builds `--help` without importing the tools.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fauxshop.config_args import help_field
from fauxshop.errors import FauxshopError

SPACES = ("w", "w+")
FEATURES = ("inception", "scorer", "none")
DIRECTION_METHODS = ("interfacegan", "ganspace", "sefa")
RARE_METHODS = ("filter", "centroid", "conditional")
# What truncation pulls a w towards: G's mean w over every class (NVIDIA's) or the asked class's
TRUNCATE_TO = ("global", "class")


@dataclass(frozen=True)
class ProjectConfig:
    """Settings of a projection, saved in every NAME.npz; defaults are the paper's."""

    steps: int = help_field("optimisation steps (the paper uses 1000)", 1000)
    space: str = help_field(
        "w: one latent for every layer; w+: one per layer (closer, less editable)", "w"
    )
    lr: float = help_field("peak Adam learning rate", 0.1)
    lr_rampup: float = help_field("fraction of the steps over which lr rises from 0", 0.05)
    lr_rampdown: float = help_field(
        "fraction of the steps at the end over which lr falls to 0", 0.25
    )
    w_noise: float = help_field("noise added to w at the start, as a fraction of std(W)", 0.05)
    w_noise_ramp: float = help_field("fraction of the steps after which w gets no more noise", 0.75)
    noise_weight: float = help_field("weight of the noise maps' autocorrelation penalty", 1e5)
    perceptual_weight: float = help_field("weight of the mean squared feature difference", 1.0)
    pixel_weight: float = help_field("weight of the pixel MSE (pixels in [-1, 1])", 1.0)
    features: str = help_field(
        "perceptual features: inception, scorer (the tagger) or none", "inception"
    )
    w_avg_samples: int = help_field("mapped z averaged for the starting w and std(W)", 10000)
    background: str = help_field("colour that pads a photo of another aspect ratio", "white")
    video_every: int = help_field("keep a video frame every N steps (0: no video)", 10)
    seed: int = help_field("seed of the w_avg samples, the starting noise and w's noise", 0)
    device: str | None = help_field("cpu, cuda or cuda:N (default: where G's weights are)", None)

    def __post_init__(self) -> None:
        problems = []
        if self.steps < 1:
            problems.append(f"steps must be >= 1, got {self.steps}")
        if self.space not in SPACES:
            problems.append(f"space must be one of {SPACES}, got {self.space!r}")
        if self.features not in FEATURES:
            problems.append(f"features must be one of {FEATURES}, got {self.features!r}")
        for name in ("lr_rampup", "lr_rampdown", "w_noise_ramp"):
            if not 0 <= getattr(self, name) <= 1:
                problems.append(f"{name} must be a fraction in [0, 1], got {getattr(self, name)}")
        if self.w_avg_samples < 1 or self.video_every < 0:
            problems.append("w_avg_samples must be >= 1 and video_every >= 0")
        if problems:
            raise FauxshopError("project: " + "; ".join(problems))
        from fauxshop.catalog.pack import parse_colour  # PIL: loaded only when checked

        parse_colour(self.background)


@dataclass
class RareConfig:
    """What to make and how; saved beside the images, mapped onto `fauxshop rare` flags."""

    category: str = field(metadata={"help": "'jumpsuit' (a category) or HEAD:CLASS[,CLASS]"})
    n: int = field(default=100, metadata={"help": "images wanted"})
    method: str = field(default="filter", metadata={"help": "filter, centroid or conditional"})
    psi: float = field(default=1.0, metadata={"help": "truncation psi of the seeds' ws"})
    seed_start: int = field(default=0, metadata={"help": "first seed; seeds run up from it"})
    max_samples: int = field(default=100_000, metadata={"help": "filter: seeds to look at"})
    class_n: int = field(default=16, metadata={"help": "centroid: class ws found by filtering"})
    sigma: float = field(default=0.5, metadata={"help": "centroid: spread around the centroid"})
    mix: float = field(default=0.5, metadata={"help": "centroid: share of class-w style mixes"})
    label: str | None = field(
        default=None,
        metadata={"help": "class of a conditional G (conditional default: the category)"},
    )
    batch: int = field(default=16, metadata={"help": "images rendered together"})

    def __post_init__(self) -> None:
        if self.method not in RARE_METHODS:
            raise FauxshopError(f"rare: method must be one of {', '.join(RARE_METHODS)}")
        if self.n < 1 or self.max_samples < 1:
            raise FauxshopError("rare: n and max_samples must be >= 1")
        if not 0 <= self.mix <= 1 or self.sigma < 0:
            raise FauxshopError("rare: mix must be in [0, 1] and sigma >= 0")
