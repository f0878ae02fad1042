"""Speed, FLOPs and peak memory of fauxshop's StyleGAN2: training steps and generation.

Each measurement (a matmul peak, then training and generation per config) runs in its own
child process, so its peak RSS is its own and one config's caches cannot warm the next.

- train img/s: full steps as `fauxshop.image.train` runs them, built by its own `_build_run`
  and stepped by its own `_train_step`, `_update_ema` and ADA bookkeeping: G main + D main
  every step, R1 every 16th (lazy, so R1 and plain steps are timed apart and weighted 1:15),
  style mixing 0.9, ADA 'bgc' at a fixed p=0.2, Adam, G EMA; path-length reg off (train.py's
  default). Real images are random uint8 already in memory: data loading is not timed.
- gen img/s: `fauxshop.latent.generate.generate` on G_ema, batches of 16, noise 'const'.
- GFLOP/img: `FlopCounterMode` over one G forward (gen) and one R1 + one plain training step
  (train, weighted 1:15). It counts matmuls and convolutions only (not element-wise ops or
  the augmentation's grid sampling), so achieved FLOP/s is a floor on work done.
- % mm: achieved FLOP/s over this machine's float32 2048x2048 torch.mm FLOP/s, measured in
  the same run with the same thread count.

Run it on an otherwise idle machine: torch threads that share cores with another job (e.g. a
training run) slow down many times over, not just by the share of cores taken.

    .venv/bin/python bench/bench_image.py                 # demo and 256, 20 s each
    .venv/bin/python bench/bench_image.py --quick         # tiny model, 2 s: smoke check
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import time
from functools import partial
from types import SimpleNamespace

from _child import run_child

# name: (H, W, z_dim = w_dim, mapping layers, channel_base, channel_max, train batch)
CONFIGS = {
    "tiny": (16, 16, 32, 1, 256, 32, 4),
    "narrow": (32, 32, 256, 2, 4096, 256, 32),  # the recipe study's narrow (Fashion-MNIST 32x32)
    "small": (32, 32, 128, 2, 2048, 128, 32),  # --preset small: the study's narrower
    "demo": (64, 32, 128, 2, 2048, 128, 16),  # the demo model (portrait 64x32)
    "256": (256, 256, 512, 8, 16384, 512, 4),  # fauxshop's default widths; batch 4 on CPU
}
GEN_BATCH = 16
AUG_P = 0.2
MM_N = 2048


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _timed(fn, seconds: float, min_calls: int = 1) -> list[float]:
    """Call fn until `seconds` have passed (and at least min_calls times); each call's time."""
    times: list[float] = []
    start = time.perf_counter()
    while time.perf_counter() - start < seconds or len(times) < min_calls:
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return times


def _count_flops(fn) -> int:
    """matmul + conv FLOPs (forward and backward) of fn(), as torch's FlopCounterMode counts."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    # Its ModuleTracker's hooks make R1's autograd.grad on a leaf input fail ("A leaf node was
    # passed to _will_engine_execute_node"); only the global total is needed, so drop it.
    counter.mod_tracker = contextlib.nullcontext()
    counter.mod_tracker.parents = ("Global",)
    with counter:
        fn()
    return counter.get_total_flops()


def bench_matmul(seconds: float) -> dict:
    import torch

    a, b = torch.randn(MM_N, MM_N), torch.randn(MM_N, MM_N)
    torch.mm(a, b)
    times = _timed(lambda: torch.mm(a, b), seconds)
    return {"gflops": 2 * MM_N**3 * len(times) / sum(times) / 1e9, "peak_mb": _peak_mb()}


def _setup(name: str, amp: str = "off", resample: str = "bilinear"):
    """train.py's config and CPU settings for a named config, and a stand-in image archive."""
    import torch

    from fauxshop.image.config import TrainConfig
    from fauxshop.runtime import configure_torch

    h, w, zw, layers, base, cmax, batch = CONFIGS[name]
    config = TrainConfig(
        data="", out="", kimg=1.0, batch=batch, z_dim=zw, w_dim=zw, mapping_layers=layers,
        channel_base=base, channel_max=cmax, augment="fixed", aug_p=AUG_P, amp=amp,
        augment_resample=resample,
    )  # fmt: skip
    configure_torch(torch.device("cpu"))  # flush denormals, deterministic kernels
    archive = SimpleNamespace(c_dim=0, resolution=(h, w), channels=3, num_images=1, labels=None)
    return config, archive


def _channels_last(*modules):  # as train.py does on CPU
    return [m.to(memory_format=__import__("torch").channels_last) for m in modules]


def bench_train(name: str, seconds: float, amp: str, resample: str) -> dict:
    import torch

    from fauxshop.image import train as T
    from fauxshop.runtime import Dist

    config, archive = _setup(name, amp, resample)
    run = T._build_run(config, Dist(0, 1, torch.device("cpu"), False), archive, None)
    _channels_last(run.G, run.D, run.G_ema)
    h, w = archive.resolution
    real = torch.randint(0, 256, (config.batch, 3, h, w), dtype=torch.uint8)
    real, real_c = T._to_images(real, torch.device("cpu")), torch.zeros(config.batch, 0)
    ema_kimg = config.batch * 10 / 32  # train.py's default half-life
    r1 = config.r1_interval
    state = {"nimg": 0, "steps": 0}

    def step(with_r1: bool) -> None:  # one iteration of train.py's loop, minus data loading
        # _train_step runs R1 iff step % r1_interval == 0 (path-length reg is off)
        T._train_step(run, real, real_c, 0 if with_r1 else 1)
        beta = T.ema_beta(config.batch, ema_kimg, config.ema_rampup, state["nimg"])
        T._update_ema(run.G_ema, run.G, beta)
        state["nimg"] += config.batch
        state["steps"] += 1
        if state["steps"] % T.ADA_INTERVAL == 0:
            run.ada.update(T.ADA_INTERVAL * config.batch)

    step(True)  # warm-up: an R1 step and a plain one
    step(False)
    plain = _timed(lambda: step(False), seconds * 3 / 4, min_calls=2)
    with_r1 = _timed(lambda: step(True), seconds / 4)
    t_plain, t_r1 = sum(plain) / len(plain), sum(with_r1) / len(with_r1)
    t_step = ((r1 - 1) * t_plain + t_r1) / r1
    flops = {r1_step: _count_flops(partial(step, r1_step)) for r1_step in (False, True)}
    per_step = ((r1 - 1) * flops[False] + flops[True]) / r1
    return {
        "img_s": config.batch / t_step,
        "gflop_img": per_step / config.batch / 1e9,
        "peak_mb": _peak_mb(),
    }


def bench_gen(name: str, seconds: float) -> dict:
    from fauxshop.image.networks import Generator
    from fauxshop.latent.generate import generate

    config, archive = _setup(name)
    G = Generator(  # train.py's _build_networks G, without the D it also builds (RSS)
        z_dim=config.z_dim, w_dim=config.w_dim, img_resolution=archive.resolution,
        mapping_kwargs={"num_layers": config.mapping_layers},
        synthesis_kwargs={"channel_base": config.channel_base, "channel_max": config.channel_max},
    )  # fmt: skip
    (G,) = _channels_last(G.eval().requires_grad_(False))  # as G_ema
    seeds = iter(range(10**9))

    def batch() -> None:
        generate(G, [next(seeds) for _ in range(GEN_BATCH)], noise_mode="const", batch=GEN_BATCH)

    batch()  # warm-up
    batch()
    times = _timed(batch, seconds)
    flops = _count_flops(batch)
    return {
        "img_s": GEN_BATCH * len(times) / sum(times),
        "gflop_img": flops / GEN_BATCH / 1e9,
        "peak_mb": _peak_mb(),
    }


def child(
    task: str, name: str, seconds: float, threads: int, amp: str = "off", resample: str = "bilinear"
) -> dict:
    """One measurement in a fresh interpreter (see _child)."""
    args = ["--task", task, "--configs", name, "--seconds", str(seconds), "--amp", amp]
    args += ["--resample", resample]
    return run_child(__file__, [*args, "--threads", str(threads)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", default="demo,256", help=f"from {', '.join(CONFIGS)}")
    parser.add_argument("--seconds", type=float, default=20.0, help="per measurement")
    parser.add_argument("--quick", action="store_true", help="tiny config, 2 s: smoke check")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's)")
    parser.add_argument(
        "--precisions", default="off,bf16", help="training precisions, side by side (--amp)"
    )
    parser.add_argument(
        "--resamples", default="bilinear", help="ADA's geometric resampling paths, side by side"
    )
    parser.add_argument("--resample", default="bilinear", help=argparse.SUPPRESS)  # a child's
    parser.add_argument("--amp", default="off", help=argparse.SUPPRESS)  # a child's precision
    parser.add_argument("--task", choices=("mm", "train", "gen"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    if args.task == "mm":
        print(json.dumps(bench_matmul(args.seconds)))
        return
    if args.task:
        if args.task == "train":
            result = bench_train(args.configs, args.seconds, args.amp, args.resample)
        else:
            result = bench_gen(args.configs, args.seconds)
        print(json.dumps(result))
        return

    configs, seconds = args.configs.split(","), args.seconds
    if args.quick:
        configs, seconds = ["tiny"], 2.0
    unknown = [c for c in configs if c not in CONFIGS]
    if unknown:
        parser.error(f"unknown config {', '.join(unknown)}; choose from {', '.join(CONFIGS)}")
    variants = [(p, r) for p in args.precisions.split(",") for r in args.resamples.split(",")]
    mm = child("mm", "-", 2.0, threads)
    rows = []
    for c in configs:
        gen = child("gen", c, seconds, threads)
        trains = {v: child("train", c, seconds, threads, *v) for v in variants}
        rows += [(c, *v, tr, trains[variants[0]], gen) for v, tr in trains.items()]

    print(f"StyleGAN2 on CPU: {os.cpu_count()} cores, {threads} torch threads, {seconds:g} s, "
          f"load average {os.getloadavg()[0]:.2f}")  # fmt: skip
    print(f"float32 torch.mm {MM_N}x{MM_N}: {mm['gflops']:.1f} GFLOP/s (= 100% mm)")
    print("train: G+D main every step, R1 every 16th, style mixing, ADA p=0.2, Adam, EMA")
    print("amp bf16: G and D main passes under autocast, R1 in fp32; generation is fp32\n")
    head = (
        "config", "amp", "ADA resample", "HxW", "batch", "train img/s",
        f"vs {' '.join(variants[0])}", "gen img/s",
        "G fwd GFLOP/img", "train GFLOP/img", "train GFLOP/s", "train % fp32 mm",
        "gen GFLOP/s", "gen % mm", "train RSS MB", "gen RSS MB",
    )  # fmt: skip
    table = []
    for name, amp, resample, tr, base, gen in rows:
        h, w, *_, batch = CONFIGS[name]
        train_gflops, gen_gflops = tr["img_s"] * tr["gflop_img"], gen["img_s"] * gen["gflop_img"]
        table.append((
            name, amp, resample, f"{h}x{w}", str(batch), f"{tr['img_s']:.1f}",
            f"{tr['img_s'] / base['img_s']:.2f}x", f"{gen['img_s']:.1f}",
            f"{gen['gflop_img']:.3f}", f"{tr['gflop_img']:.3f}", f"{train_gflops:.1f}",
            f"{100 * train_gflops / mm['gflops']:.0f}%", f"{gen_gflops:.1f}",
            f"{100 * gen_gflops / mm['gflops']:.0f}%", f"{tr['peak_mb']:.0f}",
            f"{gen['peak_mb']:.0f}",
        ))  # fmt: skip
    widths = [max(len(c) for c in col) for col in zip(head, *table, strict=True)]
    print("| " + " | ".join(c.ljust(n) for c, n in zip(head, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (n + 2) for n in widths) + "|")
    for cells in table:
        print("| " + " | ".join(c.rjust(n) for c, n in zip(cells, widths, strict=True)) + " |")


if __name__ == "__main__":
    main()
