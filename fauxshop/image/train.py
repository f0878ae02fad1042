"""The StyleGAN2-ADA training loop: the schedule around the maths in `loss.py`.

Read top to bottom (the settings, `TrainConfig`, are in config.py): set-up (devices, data,
networks, optimisers, augmentation), then one loop over minibatches, each running four
phases (G main, G path-length reg, D main, D R1 reg, the regularisers lazily every k-th
minibatch), the G EMA update and the ADA heuristic.
Every `tick_kimg` a row goes to `log.csv`; every `snap_kimg` a snapshot, a sample grid from
fixed latents and the requested metrics. Snapshots hold every piece of state the loop reads,
so `train(config, resume=True)` continues bit for bit (same device, same thread count) as if
the run had never stopped.

Under torchrun (RANK / WORLD_SIZE set) each process trains on batch / world_size images of
its shard of the data, gradients are averaged with all_reduce, and only rank 0 writes files.
"""

from __future__ import annotations

import copy
import dataclasses
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from fauxshop.errors import FauxshopError
from fauxshop.image.augment import AdaController, AugmentPipe
from fauxshop.image.augment_spec import parse_augment_spec
from fauxshop.image.checkpoint import (
    Snapshot,
    latest_snapshot,
    read_snapshot,
    save_checkpoint,
)
from fauxshop.image.config import AUGMENT_MODES, TrainConfig
from fauxshop.image.dataset import ImageArchive, InfiniteSampler
from fauxshop.image.importers import (
    TransferReport,
    check_whole_generator,
    frozen_d_params,
    init_from,
    transfer_counts,
)
from fauxshop.image.loss import StyleGAN2Loss, r1_gamma_heuristic
from fauxshop.image.networks import Discriminator, Generator
from fauxshop.metrics.fid import compute_metrics
from fauxshop.pixels import from_uint8, save_grid, to_hwc_uint8
from fauxshop.progress import bar as progress_bar
from fauxshop.runtime import (
    AMP_DTYPES,
    Dist,
    average_grads,
    broadcast,
    configure_torch,
    native_bf16,
    process_group,
    rng_preserved,
    seed_everything,
)
from fauxshop.training_run import append_csv, append_jsonl, changed_settings, start_run_folder

ADA_INTERVAL = 4  # minibatches between ADA updates, as in the paper
GRID = (4, 8)  # rows x columns of the fixed-latent sample grid

# Fields a resumed run may change; any other difference would break "as if never stopped".
RESUMABLE_CHANGES = frozenset(
    {
        "data",
        "out",
        "kimg",
        "budget_minutes",
        "tick_kimg",
        "snap_kimg",
        "keep_snapshots",
        "metrics",
        "metrics_num",
        "workers",
        "device",
        "amp",
        "init_from",
        "allow_data_change",
    }
)


# ----------------------------------------------------------------------------------------------
# Pure schedule helpers


def lazy_adam_hparams(
    lr: float, betas: tuple[float, float], interval: int
) -> tuple[float, tuple[float, float]]:
    """Adam settings that make a step every minibatch plus a reg step every `interval` behave
    like one step per minibatch: c = interval / (interval + 1), lr * c, betas ** c."""
    c = interval / (interval + 1)
    return lr * c, (betas[0] ** c, betas[1] ** c)


def ema_beta(batch: int, ema_kimg: float, ema_rampup: float, cur_nimg: int) -> float:
    """Per-step decay for a G EMA with a half-life of ema_kimg (shorter early in training)."""
    ema_nimg = ema_kimg * 1000
    if ema_rampup > 0:
        ema_nimg = min(ema_nimg, cur_nimg * ema_rampup)
    return 0.5 ** (batch / max(ema_nimg, 1e-8))


# ----------------------------------------------------------------------------------------------
# Networks and data


def _build_networks(config: TrainConfig, archive: ImageArchive) -> tuple[Generator, Discriminator]:
    widths = {"channel_base": config.channel_base, "channel_max": config.channel_max}
    mapping = {"num_layers": config.mapping_layers}
    G = Generator(
        z_dim=config.z_dim,
        c_dim=archive.c_dim,
        w_dim=config.w_dim,
        img_resolution=archive.resolution,
        img_channels=archive.channels,
        mapping_kwargs=mapping,
        synthesis_kwargs=widths,
    )
    D = Discriminator(
        c_dim=archive.c_dim,
        img_resolution=archive.resolution,
        img_channels=archive.channels,
        mapping_kwargs=mapping,
        **widths,
    )
    return G, D


def _batches(
    archive: ImageArchive, sampler: InfiniteSampler, batch: int, workers: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(uint8 images, one-hot labels) forever, in the sampler's order."""
    loader = torch.utils.data.DataLoader(
        archive,
        batch_size=batch,
        sampler=sampler,
        num_workers=workers,
        drop_last=True,
        generator=torch.Generator().manual_seed(sampler.seed),  # leave the global RNG alone
    )
    return iter(loader)


def _to_images(images: torch.Tensor, device: torch.device) -> torch.Tensor:
    """uint8 0..255 -> float [-1, 1] on device (channels_last on CPU, where it is faster)."""
    x = from_uint8(images.to(device))
    return x.contiguous(memory_format=torch.channels_last) if device.type == "cpu" else x


def class_weights(labels: np.ndarray | None, c_dim: int, balance: float) -> np.ndarray | None:
    """Each class's share of draws, n_c^(1-balance) normalised (None: unlabelled).

    balance 0 keeps the data's frequencies, 1 shows every class equally often; between, rare
    classes are seen more often without repeating their few images as much as full balance.
    """
    if labels is None or c_dim == 0:
        return None
    counts = np.bincount(labels, minlength=c_dim).astype(np.float64)
    shares = np.where(counts > 0, counts ** (1 - balance), 0.0)
    return shares / shares.sum()


def image_weights(labels: np.ndarray, shares: np.ndarray) -> np.ndarray:
    """Per-image draw probabilities that give each class its share."""
    counts = np.bincount(labels, minlength=len(shares))
    weights = shares[labels] / counts[labels]
    return weights / weights.sum()


def _latents(
    n: int, z_dim: int, class_probs: torch.Tensor | None, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """z and one-hot fake labels drawn with the classes' shares (empty when unconditional)."""
    z = torch.randn(n, z_dim, device=device)
    if class_probs is None:
        return z, torch.zeros(n, 0, device=device)
    classes = torch.multinomial(class_probs, n, replacement=True)
    return z, torch.nn.functional.one_hot(classes, len(class_probs)).float().to(device)


def _set_trainable(train: list[torch.nn.Parameter], freeze: list[torch.nn.Parameter]) -> None:
    """Only the phase's own network builds gradients: the other is used, not trained."""
    for p in train:
        p.requires_grad_(True)
    for p in freeze:
        p.requires_grad_(False)


@torch.no_grad()
def _update_ema(G_ema: Generator, G: Generator, beta: float) -> None:
    for p_ema, p in zip(G_ema.parameters(), G.parameters(), strict=True):
        p_ema.copy_(p.lerp(p_ema, beta))
    for b_ema, b in zip(G_ema.buffers(), G.buffers(), strict=True):
        b_ema.copy_(b)


# ----------------------------------------------------------------------------------------------
# Run-folder outputs (rank 0 only)


def _grid_latents(G: Generator, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The same z (and one class per row) at every snapshot, so grids show progress."""
    n, cols = GRID[0] * GRID[1], GRID[1]
    z = torch.randn(n, G.z_dim, generator=torch.Generator().manual_seed(seed))
    c = torch.zeros(n, G.c_dim)
    if G.c_dim:
        c[torch.arange(n), torch.arange(n) // cols % G.c_dim] = 1
    return z, c


@torch.no_grad()
def _save_grid(G: Generator, z: torch.Tensor, c: torch.Tensor, path: Path) -> None:
    device = next(G.parameters()).device
    images = G(z.to(device), c.to(device) if G.c_dim else None, noise_mode="const")
    save_grid(to_hwc_uint8(images), path, cols=GRID[1])


class TickStats:
    """Running sums of the phases' statistics; read (one device sync) once per tick."""

    def __init__(self) -> None:
        self.sums: dict[str, torch.Tensor] = {}
        self.counts: dict[str, int] = {}

    def add(self, stats: dict[str, torch.Tensor]) -> None:
        for key, value in stats.items():
            if value.ndim == 0:
                self.sums[key] = self.sums.get(key, 0) + value
                self.counts[key] = self.counts.get(key, 0) + 1

    def means(self) -> dict[str, float]:
        return {key: float(total) / self.counts[key] for key, total in self.sums.items()}


def _describe_transfer(path: str, report: TransferReport) -> str:
    """init_from's report in a few lines: counts, and the names that did not fit."""
    lines = [
        f"init-from {path}: copied {len(report.copied)} tensors, {len(report.initialised)} "
        f"kept fresh, {len(report.skipped_shape)} of another shape, {len(report.unused)} "
        f"unused, {len(report.frozen)} D parameters frozen"
    ]
    if report.skipped_shape:
        lines.append("  other shape (kept fresh): " + ", ".join(report.skipped_shape))
    if report.initialised:
        lines.append("  not in the source (kept fresh): " + ", ".join(report.initialised))
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------
# Resume


def _check_resume(config: TrainConfig, snapshot: Snapshot, archive: ImageArchive) -> None:
    """Refuse a resume that could not continue the stopped run exactly."""
    if snapshot.meta["dataset_fingerprint"] != archive.fingerprint and not config.allow_data_change:
        raise FauxshopError(
            f"{archive.path}: not the archive this run was trained on (sha256 differs from "
            f"{snapshot.path.name}'s); pass --allow-data-change to resume anyway"
        )
    # a setting added since the run started was, in effect, at its default all along (or at
    # what such runs did, where the default changed since)
    defaults = {
        f.name: f.default
        for f in dataclasses.fields(TrainConfig)
        if f.default is not dataclasses.MISSING
    }
    saved = {**defaults, **TrainConfig.BEFORE_SETTING_EXISTED, **snapshot.meta["config"]}
    current = dataclasses.asdict(config)
    changed = changed_settings(saved, current, RESUMABLE_CHANGES)
    if changed:
        diffs = ", ".join(f"{k} {saved.get(k)!r} -> {current[k]!r}" for k in changed)
        raise FauxshopError(f"{snapshot.path}: cannot resume with a changed {diffs}")


# ----------------------------------------------------------------------------------------------
# Training


@dataclass
class Run:
    """Everything one training process holds: set up once, then read by every step."""

    config: TrainConfig
    env: Dist
    archive: ImageArchive
    G: Generator
    G_ema: Generator
    D: Discriminator
    opt_G: torch.optim.Optimizer
    opt_D: torch.optim.Optimizer
    g_params: list[torch.nn.Parameter]
    d_params: list[torch.nn.Parameter]
    g_reg_interval: int | None  # path-length reg every N minibatches; None: off
    ada: AdaController
    loss: StyleGAN2Loss
    class_probs: torch.Tensor | None  # each class's share of fake labels (None: unconditional)
    batch_gpu: int
    transfer: dict[str, int] | None = None  # init_from's counts (copied, fresh, unused, ...)

    @property
    def run_dir(self) -> Path:
        return Path(self.config.out)

    def latents(self) -> tuple[torch.Tensor, torch.Tensor]:
        return _latents(self.batch_gpu, self.G.z_dim, self.class_probs, self.env.device)


def train(config: TrainConfig, resume: bool = False) -> dict[str, Any]:
    """Train (or resume) a run in config.out; returns the last tick's statistics."""
    with process_group(config.device) as env:
        return _train(config, resume, env)


def _open_snapshot(config: TrainConfig, resume: bool, archive: ImageArchive) -> Snapshot | None:
    """The snapshot to continue from (resume), or None after checking the folder is fresh."""
    latest = latest_snapshot(config.out)
    if not resume:
        if latest is not None:
            raise FauxshopError(
                f"{config.out}: already holds snapshots; resume or use a new folder"
            )
        return None
    if latest is None:
        raise FauxshopError(f"{config.out}: nothing to resume, no complete snapshot here")
    snapshot = read_snapshot(latest)
    _check_resume(config, snapshot, archive)
    return snapshot


def _build_run(
    config: TrainConfig, env: Dist, archive: ImageArchive, snapshot: Snapshot | None
) -> Run:
    """Networks (from the seed, then imported weights), optimisers, augmentation, loss."""
    if config.batch % env.world_size:
        raise FauxshopError(
            f"batch {config.batch} must divide evenly over {env.world_size} processes"
        )
    seed_everything(config.seed)
    G, D = _build_networks(config, archive)
    G_ema = copy.deepcopy(G).eval()
    transfer = snapshot.meta.get("init_from_report") if snapshot else None
    if snapshot is None and config.init_from:
        report = init_from(G, D, config.init_from, config.freeze_d, G_ema=G_ema)
        if not config.allow_partial:
            check_whole_generator(config.init_from, report)
        transfer = transfer_counts(report)
        if env.is_main:
            print(_describe_transfer(config.init_from, report), file=sys.stderr)
    G, D, G_ema = (m.to(env.device) for m in (G, D, G_ema))
    G_ema.requires_grad_(False)
    frozen = set(frozen_d_params(D, config.freeze_d)) if config.freeze_d else set()
    for name, p in D.named_parameters():
        p.requires_grad_(name not in frozen)
    d_params = [p for name, p in D.named_parameters() if name not in frozen]

    # Adam, corrected for the lazy regularisation steps it also takes.
    betas = (config.beta1, config.beta2)
    g_reg_interval = config.pl_interval if config.pl_weight > 0 else None
    lr_g, betas_g = config.lr_g, betas
    if g_reg_interval:
        lr_g, betas_g = lazy_adam_hparams(config.lr_g, betas, g_reg_interval)
    lr_d, betas_d = lazy_adam_hparams(config.lr_d, betas, config.r1_interval)
    opt_G = torch.optim.Adam(G.parameters(), lr=lr_g, betas=betas_g, eps=1e-8)
    opt_D = torch.optim.Adam(d_params, lr=lr_d, betas=betas_d, eps=1e-8)

    pipe = None
    if config.augment != "noaug":
        multipliers = parse_augment_spec(config.augment_spec)
        pipe = AugmentPipe(**multipliers, resample=config.augment_resample).to(env.device)
    p = config.aug_p if pipe is not None else 0.0  # noaug: r_t is still logged
    mode = AUGMENT_MODES[config.augment]
    ada = AdaController(
        config.batch, mode, p, config.ada_target, speed_kimg=config.ada_kimg, pipe=pipe
    )
    r1_gamma = config.r1_gamma
    if r1_gamma is None:
        r1_gamma = r1_gamma_heuristic(archive.resolution, config.batch)
    amp_dtype = _amp_dtype(config.amp, env)
    loss = StyleGAN2Loss(
        G, D, pipe, r1_gamma, config.style_mixing, config.pl_weight, amp_dtype=amp_dtype
    )
    return Run(
        config=config,
        env=env,
        archive=archive,
        G=G,
        G_ema=G_ema,
        D=D,
        opt_G=opt_G,
        opt_D=opt_D,
        g_params=list(G.parameters()),
        d_params=d_params,
        g_reg_interval=g_reg_interval,
        ada=ada,
        loss=loss,
        class_probs=_class_probs(config, archive),
        batch_gpu=config.batch // env.world_size,
        transfer=transfer,
    )


def _amp_dtype(amp: str, env: Dist) -> torch.dtype | None:
    """--amp's autocast dtype. auto: bf16 only where the hardware runs it, since emulated bf16
    is ~11x slower than fp32 on AVX2-only CPUs; an explicit bf16 there trains, with a warning."""
    native = native_bf16(env.device)
    if amp == "auto":
        dtype = torch.bfloat16 if native else None
        if env.is_main:
            why = "native here" if native else f"no native bf16 on this {env.device.type}"
            print(f"amp auto: {'bf16' if native else 'off'} ({why})", file=sys.stderr)
        return dtype
    dtype = AMP_DTYPES[amp]
    if dtype is torch.float16 and env.device.type != "cuda":
        raise FauxshopError("amp fp16 needs CUDA (no fp16 grad scaling here); use bf16 on CPU")
    if dtype is torch.bfloat16 and not native and env.is_main:
        print(
            f"warning: this {env.device.type} has no native bf16 (no AVX-512 BF16 or AMX): "
            "--amp bf16 runs ~11x slower than --amp off here; --amp auto picks for you",
            file=sys.stderr,
        )
    return dtype


def _class_probs(config: TrainConfig, archive: ImageArchive) -> torch.Tensor | None:
    shares = class_weights(archive.labels, archive.c_dim, config.class_balance)
    return None if shares is None else torch.from_numpy(shares).float()


def _sampler(run: Run, position: int) -> InfiniteSampler:
    """Real images in a seeded order; with class_balance, drawn so each class gets the share
    its fake labels get too (`run.class_probs`)."""
    config, archive, env, weights = run.config, run.archive, run.env, None
    if run.class_probs is not None and config.class_balance > 0:
        per_image = image_weights(archive.labels, run.class_probs.double().numpy())
        copies = len(archive) // archive.num_images  # 2 with mirrored copies
        weights = np.tile(per_image, copies) / copies
    return InfiniteSampler(
        len(archive),
        config.seed,
        rank=env.rank,
        world_size=env.world_size,
        position=position,
        weights=weights,
    )


def _restore(run: Run, snapshot: Snapshot) -> dict[str, int]:
    """Load a snapshot's weights, optimiser, ADA and loss state; returns its counters."""
    for name, module in (("G", run.G), ("G_ema", run.G_ema), ("D", run.D)):
        snapshot.load_module(name, module)
    snapshot.load_optimizer("opt_G", run.opt_G)
    snapshot.load_optimizer("opt_D", run.opt_D)
    try:
        run.ada.load_state_dict(snapshot.meta["ada"])
        run.loss.pl_mean.copy_(snapshot.tensors("loss.")["pl_mean"])
        counters = {k: snapshot.meta.get(k, 0) for k in COUNTERS}  # older ones lack own_cpu_s
    except (KeyError, TypeError, ValueError, AttributeError, RuntimeError) as e:
        raise FauxshopError(f"{snapshot.path}: its ADA or loss state is damaged ({e!r})") from e
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in counters.values()):
        raise FauxshopError(f"{snapshot.path}: its counters are not numbers")
    return counters


def _train_step(run: Run, real: torch.Tensor, real_c: torch.Tensor, step: int) -> dict:
    """One minibatch: G main [+ path-length reg], D main [+ R1]; returns the phases' stats."""
    loss, world, stats = run.loss, run.env.world_size, {}
    _set_trainable(run.g_params, run.d_params)
    run.opt_G.zero_grad(set_to_none=True)
    stats.update(loss.g_main(*run.latents()))
    average_grads(run.g_params, world)
    run.opt_G.step()
    if run.g_reg_interval and step % run.g_reg_interval == 0:
        run.opt_G.zero_grad(set_to_none=True)
        stats.update(loss.g_pl(*run.latents(), gain=run.g_reg_interval))
        average_grads(run.g_params, world)
        run.opt_G.step()

    _set_trainable(run.d_params, run.g_params)
    run.opt_D.zero_grad(set_to_none=True)
    stats.update(loss.d_main(real, real_c, *run.latents()))
    run.ada.accumulate(stats["real_logits"])
    average_grads(run.d_params, world)
    run.opt_D.step()
    if step % run.config.r1_interval == 0:
        run.opt_D.zero_grad(set_to_none=True)
        stats.update(loss.d_r1(real, real_c, gain=run.config.r1_interval))
        average_grads(run.d_params, world)
        run.opt_D.step()
    return stats


COUNTERS = ("cur_nimg", "step", "tick", "sampler_position", "own_cpu_s")


def _train(config: TrainConfig, resume: bool, env: Dist) -> dict[str, Any]:
    configure_torch(env.device)
    archive = ImageArchive(config.data, use_labels=config.cond, xflip=config.mirror)
    snapshot = _open_snapshot(config, resume, archive)
    run = _build_run(config, env, archive, snapshot)
    counters = _restore(run, snapshot) if snapshot else dict.fromkeys(COUNTERS, 0)
    if env.world_size > 1:
        broadcast([run.G, run.D, run.G_ema])
    if env.device.type == "cpu":
        for module in (run.G, run.D, run.G_ema):
            module.to(memory_format=torch.channels_last)
    sampler = _sampler(run, counters["sampler_position"])
    data = _batches(archive, sampler, run.batch_gpu, config.workers)
    grid = _grid_latents(run.G, config.seed)
    ema_kimg = config.ema_kimg if config.ema_kimg is not None else config.batch * 10 / 32
    # RNG last: nothing in the set-up may draw from the streams the training steps use.
    if snapshot is not None:
        snapshot.restore_rng()
    # Each rank draws its own latents; rank 0's stream is the one snapshots record.
    if snapshot is None or env.rank > 0:
        seed_everything(
            (config.seed * env.world_size + env.rank) * 1_000_003 + counters["cur_nimg"]
        )
    if env.is_main:
        start_run_folder(
            run.run_dir,
            _run_record(run),
            indent=1,
            logs=("log.csv", "metrics.jsonl"),
            counter="tick",
            resumed_at=counters["tick"],  # 0 when fresh: drops a killed first try's rows
        )

    total_nimg = int(config.kimg * 1000)
    bar = progress_bar(
        total_nimg, "train-image", "img", initial=counters["cur_nimg"], enabled=env.is_main
    )
    budget_s = config.budget_minutes * 60
    stats, tick_start_nimg, tick_start = TickStats(), counters["cur_nimg"], time.perf_counter()
    cpu_start = time.process_time()
    r_t, last_snapshot, row = float("nan"), snapshot.path if snapshot else None, {}
    while counters["cur_nimg"] < total_nimg:
        real_u8, real_c = next(data)
        real, real_c = _to_images(real_u8, env.device), real_c.to(env.device)
        stats.add(_train_step(run, real, real_c, counters["step"]))
        beta = ema_beta(config.batch, ema_kimg, config.ema_rampup, counters["cur_nimg"])
        _update_ema(run.G_ema, run.G, beta)
        counters["cur_nimg"] += config.batch
        counters["step"] += 1
        counters["sampler_position"] += run.batch_gpu
        if counters["step"] % ADA_INTERVAL == 0:
            if env.world_size > 1:
                dist.all_reduce(run.ada.stats)
            r_t = run.ada.update(ADA_INTERVAL * config.batch)
        bar.update(config.batch)

        done = counters["cur_nimg"] >= total_nimg or _over_budget(
            budget_s, counters["own_cpu_s"] + time.process_time() - cpu_start, env
        )
        if not done and counters["cur_nimg"] < tick_start_nimg + config.tick_kimg * 1000:
            continue
        counters["tick"] += 1
        seconds = time.perf_counter() - tick_start
        cpu_now = time.process_time()
        counters["own_cpu_s"] += cpu_now - cpu_start
        cpu_start = cpu_now
        row = {
            "tick": counters["tick"],
            "kimg": counters["cur_nimg"] / 1000,
            "step": counters["step"],
            "cpu_min": counters["own_cpu_s"] / 60,
            "img_per_s": (counters["cur_nimg"] - tick_start_nimg) / max(seconds, 1e-9),
            **stats.means(),
            "ada_p": run.ada.p,
            "ada_rt": r_t,
        }
        if env.is_main:
            append_csv(run.run_dir / "log.csv", row)
            bar.set_postfix_str(
                f"kimg {row['kimg']:.1f} {row['img_per_s']:.0f} img/s G {row['loss_G']:.3f} "
                f"D {row['loss_D']:.3f} p {run.ada.p:.3f}",
                refresh=False,
            )
        snap_nimg = config.snap_kimg * 1000
        if done or counters["cur_nimg"] // snap_nimg > tick_start_nimg // snap_nimg:
            if env.is_main:
                last_snapshot = _snapshot(run, counters, grid)
            if env.world_size > 1:
                dist.barrier()
        if done:
            break
        stats, tick_start_nimg, tick_start = TickStats(), counters["cur_nimg"], time.perf_counter()
        cpu_start = time.process_time()  # snapshots and metrics are not training time
    if last_snapshot is None and total_nimg == 0 and env.is_main:  # --kimg 0: the import alone
        last_snapshot = _snapshot(run, counters, grid)
    bar.close()
    return {
        **row,
        "run_dir": config.out,
        "snapshot": str(last_snapshot) if last_snapshot else None,
        **_run_record(run, config_too=False),
    }


def _run_record(run: Run, config_too: bool = True) -> dict[str, Any]:
    """config.json's content: the config, and what init_from copied (kept across resumes)."""
    record = dataclasses.asdict(run.config) if config_too else {}
    if run.transfer is not None:
        record["init_from_report"] = run.transfer
    return record


def _over_budget(budget_s: float, spent_s: float, env: Dist) -> bool:
    """Checked every step, so a slow recipe cannot overrun by a whole tick; under torchrun
    the ranks agree (any rank over budget stops them all at the same step)."""
    if budget_s <= 0:
        return False
    over = torch.tensor(float(spent_s >= budget_s), device=env.device)
    if env.world_size > 1:
        dist.all_reduce(over, op=dist.ReduceOp.MAX)
    return bool(over)


def _snapshot(run: Run, counters: dict[str, int], grid: tuple[torch.Tensor, torch.Tensor]) -> Path:
    """Checkpoint first (it records the RNG state the next step will use), then side work."""
    config, run_dir = run.config, run.run_dir
    path = save_checkpoint(
        run_dir,
        {
            **counters,
            "kimg": counters["cur_nimg"] / 1000,
            "config": dataclasses.asdict(config),
            "G_kwargs": run.G.config,
            "D_kwargs": run.D.config,
            "ada": run.ada.state_dict(),
            "dataset_fingerprint": run.archive.fingerprint,
            "label_names": run.archive.label_names,
            "G": run.G,
            "G_ema": run.G_ema,
            "D": run.D,
            "opt_G": run.opt_G,
            "opt_D": run.opt_D,
            "loss.pl_mean": run.loss.pl_mean,
            **_run_record(run, config_too=False),
        },
        keep=config.keep_snapshots,
    )
    with rng_preserved():
        _save_grid(run.G_ema, *grid, run_dir / f"fakes-{counters['cur_nimg'] // 1000:06d}.png")
        if config.metric_names:
            results = compute_metrics(
                config.metric_names,
                run.G_ema,
                run.archive.path,
                config.metrics_num,
                run_dir / "metric-cache",
                run.env.device,
            )
            record = {
                "tick": counters["tick"],
                "kimg": counters["cur_nimg"] / 1000,
                "snapshot": path.name,
                **results,
            }
            append_jsonl(run_dir / "metrics.jsonl", record)
    return path
