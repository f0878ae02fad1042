"""The image trainer's settings: every field a `train-image` flag, saved in each run.

Light on purpose (no torch), so the CLI builds `--help` without importing the trainer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from fauxshop.config_args import help_field
from fauxshop.errors import FauxshopError
from fauxshop.image.augment_spec import parse_augment_spec
from fauxshop.training_run import check_amp

AUGMENT_MODES = {"ada": "adaptive", "fixed": "fixed", "noaug": "off"}
AUGMENT_RESAMPLE = ("bilinear", "upsampled")  # augment.RESAMPLE_MODES, without torch


@dataclass
class TrainConfig:
    """Everything a training run depends on; saved as the run's config.json and in snapshots."""

    # What a run saved before a setting existed did, where that is not the setting's default
    # now: a resume takes these before the defaults, so it continues the run as it trained.
    BEFORE_SETTING_EXISTED: ClassVar[dict[str, Any]] = {"augment_resample": "bilinear"}

    data: str = help_field("image archive (zip + dataset.json from `fauxshop pack`)")
    out: str = help_field("run folder for config, log, snapshots and sample grids")
    kimg: float = help_field("training length in thousands of real images shown to D")
    budget_minutes: float = help_field(
        "also stop after this many CPU-minutes of the run's own compute (process CPU time, "
        "all threads, summed over resumes), checked every step; 0 = no limit",
        default=0.0,
    )
    batch: int = help_field("total batch size (all processes together)", default=32)
    cond: bool = help_field("class-conditional G and D, from the archive's labels", default=False)
    class_balance: float = help_field(
        "long tail: draw real images and fake labels of class c with probability ~ n_c^(1-b) "
        "(0: as in the data, 1: every class equally often, 0.5: square-root)",
        default=0.0,
    )
    mirror: bool = help_field("add left-right mirrored copies of every image", default=False)
    z_dim: int = help_field("latent z size", default=512)
    w_dim: int = help_field("intermediate latent w size", default=512)
    mapping_layers: int = help_field(
        "mapping network depth (the ADA paper uses 2 on small data)", 8
    )
    channel_base: int = help_field("network width: channels at resolution r = base / r", 16384)
    channel_max: int = help_field("network width cap per layer", default=512)
    lr_g: float = help_field("generator learning rate", default=0.0025)
    lr_d: float = help_field("discriminator learning rate", default=0.0025)
    beta1: float = help_field("Adam beta1", default=0.0)
    beta2: float = help_field("Adam beta2", default=0.99)
    r1_gamma: float | None = help_field("R1 weight; None: 0.0002 * H * W / batch (ADA paper)", None)
    r1_interval: int = help_field("run R1 every N minibatches (lazy regularisation)", default=16)
    pl_weight: float = help_field(
        "path-length reg weight; 0 = off (it costs ~30% on CPU), paper: 2", 0.0
    )
    pl_interval: int = help_field("run path-length reg every N minibatches", default=4)
    style_mixing: float = help_field("probability of style-mixing regularisation", default=0.9)
    ema_kimg: float | None = help_field(
        "G EMA half-life in kimg; None: batch * 10 / 32", default=None
    )
    ema_rampup: float = help_field("EMA half-life at most this times kimg done; 0 = no ramp", 0.05)
    augment: str = help_field(
        "augmentation: ada (adaptive p), fixed (aug_p) or noaug", default="ada"
    )
    aug_p: float = help_field(
        "augmentation probability to start from (fixed: to keep)", default=0.0
    )
    ada_target: float = help_field("ADA target for r_t = E[sign(D(real))]", default=0.6)
    ada_kimg: float = help_field(
        "ADA speed: kimg for p to go from 0 to 1 while r_t stays off target (the paper: 500)",
        default=500.0,
    )
    augment_spec: str = help_field("augmentations, e.g. bgc or 'bgc,cutout=1'", default="bgc")
    augment_resample: str = help_field(
        "geometric augmentations' resampling: upsampled (NVIDIA-style: pad, 2x up with a "
        "12-tap filter, transform, 2x down; leaks less at high p) or bilinear (once, at "
        "native size; 3-6% faster training)",
        default="upsampled",
    )
    tick_kimg: float = help_field("kimg between log rows and progress updates", default=4.0)
    snap_kimg: float = help_field("kimg between snapshots, sample grids and metrics", default=50.0)
    keep_snapshots: int = help_field("keep the newest N snapshots", default=3)
    metrics: str = help_field(
        "comma-separated metrics at each snapshot (fid, fid_inf, kid, pr)", default=""
    )
    metrics_num: int = help_field("generated images per metric evaluation", default=10000)
    seed: int = help_field("random seed for weights, latents, data order and sample grids", 0)
    device: str = help_field("auto, cpu, cuda or cuda:N", default="auto")
    amp: str = help_field(
        "mixed precision: off, bf16 (CPU or CUDA), fp16 (CUDA only) or auto (bf16 where the "
        "hardware runs it natively: a GPU, or a CPU with AVX-512 BF16 or AMX; else off)",
        "off",
    )
    init_from: str = help_field(
        "start from these weights (fauxshop snapshot, NVIDIA .pkl or rosinality .pt): G and "
        "G_ema from its G_ema; the CLI takes the architecture from it unless flags say otherwise",
        "",
    )
    allow_partial: bool = help_field(
        "with init_from: train on even if not all of the generator's tensors fit", False
    )
    freeze_d: int = help_field("freeze D's N highest-resolution layers (transfer learning)", 0)
    workers: int = help_field("data-loading worker processes (0: load in the training process)", 0)
    allow_data_change: bool = help_field("resume even if the archive's sha256 changed", False)
    preset: str = help_field("the recipe (image/presets.py) whose values this run started from", "")

    def __post_init__(self) -> None:
        if self.augment not in AUGMENT_MODES:
            raise FauxshopError(f"augment {self.augment!r}: choose from {', '.join(AUGMENT_MODES)}")
        if self.augment_resample not in AUGMENT_RESAMPLE:
            raise FauxshopError(
                f"augment_resample {self.augment_resample!r}: choose from "
                f"{', '.join(AUGMENT_RESAMPLE)}"
            )
        check_amp(self.amp)
        if self.batch < 1 or self.r1_interval < 1 or self.pl_interval < 1:
            raise FauxshopError("batch, r1_interval and pl_interval must be at least 1")
        if min(self.tick_kimg, self.snap_kimg) <= 0 or self.kimg < 0:
            raise FauxshopError("kimg, tick_kimg and snap_kimg must be positive")
        if self.kimg == 0 and not self.init_from:
            raise FauxshopError("kimg 0 only with init_from (to write the imported model as a run)")
        if not 0 <= self.class_balance <= 1:
            raise FauxshopError(f"class_balance {self.class_balance}: must be between 0 and 1")
        if self.budget_minutes < 0:
            raise FauxshopError(f"budget_minutes {self.budget_minutes}: must be >= 0")
        if not 0 <= self.aug_p <= 1:
            raise FauxshopError(f"aug_p {self.aug_p}: must be between 0 and 1")
        if self.ada_kimg <= 0:
            raise FauxshopError(f"ada_kimg {self.ada_kimg}: must be positive")
        try:
            parse_augment_spec(self.augment_spec)
        except ValueError as e:
            raise FauxshopError(f"augment_spec: {e}") from e

    @property
    def metric_names(self) -> list[str]:
        return [name.strip() for name in self.metrics.split(",") if name.strip()]
