"""What ADA's augmentation pipe costs per batch: bilinear vs upsampled geometric resampling.

Times `AugmentPipe` with the 'bgc' transforms, forward and backward (G's pass trains through
the pipe), on a batch of each training config's images, at ADA's p = 0.2 (where the project's
runs settle) and p = 0.8 (where the leak study holds it). Both resampling paths run in the
same process, one after the other, so the ratio is measured under the same load.

    .venv/bin/python bench/bench_augment.py                  # small, demo, 256; 5 s each
    .venv/bin/python bench/bench_augment.py --configs small --seconds 1 --threads 1
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from fauxshop.image.augment import AugmentPipe
from fauxshop.image.augment_spec import parse_augment_spec
from fauxshop.image.config import AUGMENT_RESAMPLE

# name: (channels, H, W, batch), as bench_image.py's configs train them
CONFIGS = {
    "small": (1, 32, 32, 32),  # --preset small on Fashion-MNIST
    "demo": (3, 64, 32, 16),  # the demo generator
    "256": (3, 256, 256, 4),
}


def ms_per_batch(config: str, p: float, resample: str, seconds: float) -> float:
    """Mean milliseconds of one forward + backward pass through the pipe."""
    c, h, w, batch = CONFIGS[config]
    pipe = AugmentPipe(**parse_augment_spec("bgc"), p=p, resample=resample)
    images = torch.randn(batch, c, h, w).requires_grad_(True)

    def once() -> None:
        pipe(images).square().mean().backward()

    once()  # warm-up
    times: list[float] = []
    start = time.perf_counter()
    while time.perf_counter() - start < seconds or len(times) < 3:
        t = time.perf_counter()
        once()
        times.append(time.perf_counter() - t)
    return 1000 * sum(times) / len(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", default="small,demo,256", help=f"from {', '.join(CONFIGS)}")
    parser.add_argument("--p", default="0.2,0.8", help="ADA probabilities")
    parser.add_argument("--seconds", type=float, default=5.0, help="per measurement")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(
        f"AugmentPipe 'bgc', forward + backward: {os.cpu_count()} cores, "
        f"{torch.get_num_threads()} torch threads, load average {os.getloadavg()[0]:.2f}\n"
    )
    columns = " | ".join(f"{m} ms" for m in AUGMENT_RESAMPLE)
    print(f"| config | CxHxW | batch | p | {columns} | upsampled / bilinear |")
    print("|---|---|---:|---:|" + "---:|" * len(AUGMENT_RESAMPLE) + "---:|")
    for config in args.configs.split(","):
        c, h, w, batch = CONFIGS[config]
        for p in (float(x) for x in args.p.split(",")):
            ms = {m: ms_per_batch(config, p, m, args.seconds) for m in AUGMENT_RESAMPLE}
            cells = " | ".join(f"{ms[m]:.1f}" for m in AUGMENT_RESAMPLE)
            ratio = ms["upsampled"] / ms["bilinear"]
            print(f"| {config} | {c}x{h}x{w} | {batch} | {p:g} | {cells} | {ratio:.1f}x |")


if __name__ == "__main__":
    main()
