"""The tagger's settings (architecture and training): every field a `train-tagger` flag,
saved with every tagger.

Light on purpose (no torch), so the CLI builds `--help` without importing the model.
"""

from __future__ import annotations

from dataclasses import dataclass

from fauxshop.config_args import help_field
from fauxshop.errors import FauxshopError


@dataclass
class TaggerConfig:
    """Architecture and training settings; saved with every tagger."""

    widths: str = help_field(
        "channels per conv block, comma-separated; each block halves H, W", "32,64,128"
    )
    input_size: str | None = help_field(
        "working resolution HxW every image is resized to; none: the training archive's", None
    )
    dropout: float = help_field("dropout on the pooled embedding before the heads", 0.2)
    seed: int = help_field("seed for weights, batch order, flips and dropout", 0)
    epochs: int = help_field("passes over the training split", 30)
    batch: int = help_field("images per optimiser step", 64)
    lr: float = help_field("AdamW peak learning rate (cosine decay to 0)", 3e-3)
    weight_decay: float = help_field("AdamW weight decay on conv and linear weights", 0.05)
    flip: bool = help_field("mirror a random half of each batch left to right", True)
    device: str = help_field("auto (cuda when present), cpu, cuda or cuda:N", "auto")
    text: str = help_field("text branch on title + description: tfidf, minilm or none", "tfidf")

    def __post_init__(self):
        for name in ("epochs", "batch"):
            if getattr(self, name) < 1:
                raise FauxshopError(f"tagger: {name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 <= self.dropout < 1.0:
            raise FauxshopError(f"tagger: dropout must be in [0, 1), got {self.dropout}")
        if self.text not in ("tfidf", "minilm", "none"):
            raise FauxshopError(f"tagger: text must be tfidf, minilm or none, got {self.text!r}")
        self.channel_widths()  # fail on a bad value now, not after the data is read
        if self.input_size is not None:
            self.working_size()

    def channel_widths(self) -> tuple[int, ...]:
        try:
            widths = tuple(int(part) for part in self.widths.split(","))
        except ValueError:
            widths = ()
        if not widths or min(widths) < 1:
            raise FauxshopError(f"tagger: widths {self.widths!r}: expected e.g. 32,64,128")
        return widths

    def working_size(self) -> tuple[int, int] | None:
        """(H, W) from `input_size` ('64' or '64x32'), None when unset."""
        if self.input_size is None:
            return None
        parts = self.input_size.lower().split("x")
        try:
            sides = [int(p) for p in parts] * (2 if len(parts) == 1 else 1)
        except ValueError:
            sides = []
        if len(sides) != 2 or min(sides) < 1:
            raise FauxshopError(f"tagger: input size {self.input_size!r}: expected N or HxW")
        return sides[0], sides[1]
