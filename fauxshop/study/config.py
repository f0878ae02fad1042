"""The augmentation study's settings, saved in results.json.

Light on purpose (no torch), so the CLI builds `--help` without importing the study.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fauxshop.errors import FauxshopError
from fauxshop.tagger.config import TaggerConfig


def _ints(text: str, name: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        values = []
    if not values or min(values) < 0:
        raise FauxshopError(f"augment-study: {name} must be non-negative integers, got {text!r}")
    return values


@dataclass
class StudyConfig:
    """The study's setting; saved in results.json and mapped onto `augment-study` flags."""

    archive: str = field(metadata={"help": "real images with train and test splits"})
    generator: str = field(metadata={"help": "run or snapshot that makes the synthetic ones"})
    category: str = field(metadata={"help": "the rare class"})
    multiples: str = field(default="0,1,4", metadata={"help": "synthetic = k x real count"})
    seeds: str = field(default="0,1,2", metadata={"help": "one run per seed and multiple"})
    judge: str | None = field(
        default=None, metadata={"help": "tagger that filters an unconditional G's samples"}
    )
    psi: float = field(default=1.0, metadata={"help": "truncation psi of synthetic images"})
    epochs: int = field(default=6, metadata={"help": "classifier epochs"})
    widths: str = field(default="16,32,64", metadata={"help": "classifier channels per block"})
    batch: int = field(default=64, metadata={"help": "classifier batch"})
    device: str = field(default="auto", metadata={"help": "auto, cpu or cuda"})

    def __post_init__(self) -> None:
        self.multiple_list = _ints(self.multiples, "multiples")
        self.seed_list = _ints(self.seeds, "seeds")

    def classifier(self, seed: int) -> TaggerConfig:
        return TaggerConfig(widths=self.widths, epochs=self.epochs, batch=self.batch,
                            seed=seed, device=self.device, text="none")  # fmt: skip
