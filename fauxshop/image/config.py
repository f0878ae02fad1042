"""The image trainer's settings: every field a `train-image` flag, saved in each run.

Light on purpose (no torch), so the CLI builds `--help` without importing the trainer.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from fauxshop.errors import FauxshopError
from fauxshop.image.augment_spec import parse_augment_spec
from fauxshop.training_run import AMP_MODES

AUGMENT_MODES = {"ada": "adaptive", "fixed": "fixed", "noaug": "off"}


def _help(text: str, default: Any = dataclasses.MISSING) -> Any:
    """A dataclass field with the one-line help the CLI shows for its flag."""
    return field(default=default, metadata={"help": text})


@dataclass
class TrainConfig:
    """Everything a training run depends on; saved as the run's config.json and in snapshots."""

    data: str = _help("image archive (zip + dataset.json from `fauxshop pack`)")
    out: str = _help("run folder for config, log, snapshots and sample grids")
    kimg: float = _help("training length in thousands of real images shown to D")
    budget_minutes: float = _help(
        "also stop after this many CPU-minutes of the run's own compute (process CPU time, "
        "all threads, summed over resumes), checked every step; 0 = no limit",
        default=0.0,
    )
    batch: int = _help("total batch size (all processes together)", default=32)
    cond: bool = _help("class-conditional G and D, from the archive's labels", default=False)
    class_balance: float = _help(
        "long tail: draw real images and fake labels of class c with probability ~ n_c^(1-b) "
        "(0: as in the data, 1: every class equally often, 0.5: square-root)",
        default=0.0,
    )
    mirror: bool = _help("add left-right mirrored copies of every image", default=False)
    z_dim: int = _help("latent z size", default=512)
    w_dim: int = _help("intermediate latent w size", default=512)
    mapping_layers: int = _help("mapping network depth (the ADA paper uses 2 on small data)", 8)
    channel_base: int = _help("network width: channels at resolution r = base / r", 16384)
    channel_max: int = _help("network width cap per layer", default=512)
    lr_g: float = _help("generator learning rate", default=0.0025)
    lr_d: float = _help("discriminator learning rate", default=0.0025)
    beta1: float = _help("Adam beta1", default=0.0)
    beta2: float = _help("Adam beta2", default=0.99)
    r1_gamma: float | None = _help("R1 weight; None: 0.0002 * H * W / batch (ADA paper)", None)
    r1_interval: int = _help("run R1 every N minibatches (lazy regularisation)", default=16)
    pl_weight: float = _help(
        "path-length reg weight; 0 = off (it costs ~30% on CPU), paper: 2", 0.0
    )
    pl_interval: int = _help("run path-length reg every N minibatches", default=4)
    style_mixing: float = _help("probability of style-mixing regularisation", default=0.9)
    ema_kimg: float | None = _help("G EMA half-life in kimg; None: batch * 10 / 32", default=None)
    ema_rampup: float = _help("EMA half-life at most this times kimg done; 0 = no ramp", 0.05)
    augment: str = _help("augmentation: ada (adaptive p), fixed (aug_p) or noaug", default="ada")
    aug_p: float = _help("augmentation probability to start from (fixed: to keep)", default=0.0)
    ada_target: float = _help("ADA target for r_t = E[sign(D(real))]", default=0.6)
    augment_spec: str = _help("augmentations, e.g. bgc or 'bgc,cutout=1'", default="bgc")
    tick_kimg: float = _help("kimg between log rows and progress updates", default=4.0)
    snap_kimg: float = _help("kimg between snapshots, sample grids and metrics", default=50.0)
    keep_snapshots: int = _help("keep the newest N snapshots", default=3)
    metrics: str = _help("comma-separated metrics at each snapshot (fid, kid, pr)", default="")
    metrics_num: int = _help("generated images per metric evaluation", default=10000)
    seed: int = _help("random seed for weights, latents, data order and sample grids", 0)
    device: str = _help("auto, cpu, cuda or cuda:N", default="auto")
    amp: str = _help("mixed precision: off, bf16 (CPU or CUDA) or fp16 (CUDA only)", "off")
    init_from: str = _help("start from these weights (fauxshop snapshot or NVIDIA .pkl)", "")
    freeze_d: int = _help("freeze D's N highest-resolution layers (transfer learning)", 0)
    workers: int = _help("data-loading worker processes (0: load in the training process)", 0)
    allow_data_change: bool = _help("resume even if the archive's sha256 changed", False)
    preset: str = _help("the recipe (image/presets.py) whose values this run started from", "")

    def __post_init__(self) -> None:
        if self.augment not in AUGMENT_MODES:
            raise FauxshopError(f"augment {self.augment!r}: choose from {', '.join(AUGMENT_MODES)}")
        if self.amp not in AMP_MODES:
            raise FauxshopError(f"amp {self.amp!r}: choose from {', '.join(AMP_MODES)}")
        if self.batch < 1 or self.r1_interval < 1 or self.pl_interval < 1:
            raise FauxshopError("batch, r1_interval and pl_interval must be at least 1")
        if min(self.kimg, self.tick_kimg, self.snap_kimg) <= 0:
            raise FauxshopError("kimg, tick_kimg and snap_kimg must be positive")
        if not 0 <= self.class_balance <= 1:
            raise FauxshopError(f"class_balance {self.class_balance}: must be between 0 and 1")
        if self.budget_minutes < 0:
            raise FauxshopError(f"budget_minutes {self.budget_minutes}: must be >= 0")
        if not 0 <= self.aug_p <= 1:
            raise FauxshopError(f"aug_p {self.aug_p}: must be between 0 and 1")
        try:
            parse_augment_spec(self.augment_spec)
        except ValueError as e:
            raise FauxshopError(f"augment_spec: {e}") from e

    @property
    def metric_names(self) -> list[str]:
        return [name.strip() for name in self.metrics.split(",") if name.strip()]
