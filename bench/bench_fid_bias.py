"""How FID depends on how many images it is given: FID@N for N = 1k ... 50k from one model.

FID is biased upwards by a term that shrinks roughly as 1/N (Chong & Forsyth, "Effectively
Unbiased FID and Inception Score", CVPR 2020), so an FID@2k and an FID@10k of the same model
differ, and only numbers at the same N compare. This bench generates `--num` images once,
keeps their Inception features (OUT/fake-features.npy, reused by a rerun), and computes FID
against the archive's cached real statistics for each N in `--sizes`: over every disjoint
block of N generated images (at most `--blocks`), mean and spread; and FID∞ as `metrics
--metrics fid_inf` computes it from all of them (`metrics.fid.fid_infinity`: a line in 1/N
through FIDs of random subsets), the value with the generated side's bias removed (the real
side stays at `--max-real` images, so its own bias remains).

    nice -n 5 .venv/bin/python bench/bench_fid_bias.py --run /work/fm/study/narrower-bf16 \\
        --data /work/fm/archives/fmnist-32.zip --workdir /work/fm --out /work/fm/fid-bias
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def fid_by_size(
    fake: np.ndarray, real, sizes: list[int], blocks: int
) -> list[dict[str, float | int]]:
    """FID over up to `blocks` disjoint blocks of each size: mean, spread and block count."""
    from fauxshop.metrics.fid import FeatureStats, fid

    rows = []
    for n in sizes:
        count = min(blocks, len(fake) // n)
        scores = [
            fid(real, FeatureStats.from_features(fake[k * n : (k + 1) * n], keep_features=False))
            for k in range(count)
        ]
        rows.append({"n": n, "blocks": count, "fid": float(np.mean(scores)),
                     "spread": float(np.std(scores))})  # fmt: skip
    return rows


def generated_features(args: argparse.Namespace, extractor) -> np.ndarray:
    """The run's `--num` generated features, read back from OUT when a rerun finds them."""
    from fauxshop.atomic import atomic_open
    from fauxshop.image.checkpoint import load_generator
    from fauxshop.metrics.fid import archive_label_sampler, generator_stats

    path = args.out / "fake-features.npy"
    if path.is_file():
        features = np.load(path)
        if len(features) >= args.num:
            return features[: args.num]
    G = load_generator(args.run)
    sampler = archive_label_sampler(args.data, G.c_dim) if G.c_dim > 0 else None
    stats = generator_stats(G, args.num, 32, 1.0, sampler, args.seed, feature_extractor=extractor)
    with atomic_open(path, "wb") as f:
        np.save(f, stats.features)
    return stats.features


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", required=True, help="a training run or snapshot")
    ap.add_argument("--data", required=True, help="the archive it was trained on")
    ap.add_argument("--workdir", required=True, help="workspace (its metric-cache is reused)")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--num", type=int, default=50_000)
    ap.add_argument("--sizes", default="1000,2000,5000,10000,20000,50000")
    ap.add_argument("--blocks", type=int, default=5, help="disjoint blocks per size, at most")
    ap.add_argument("--max-real", type=int, default=10_000)
    ap.add_argument("--precision", default="bf16", choices=("fp32", "bf16"))
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    if max(sizes) > args.num:
        ap.error(f"--sizes goes up to {max(sizes)}, more than --num {args.num}")
    args.out.mkdir(parents=True, exist_ok=True)

    import torch

    from fauxshop.markdown import markdown_table
    from fauxshop.metrics.fid import fid_infinity, real_stats_for_archive
    from fauxshop.metrics.inception import InceptionFeatures
    from fauxshop.runtime import configure_torch

    configure_torch(torch.device("cpu"))
    start = time.perf_counter()
    extractor = InceptionFeatures("cpu", batch_size=32, precision=args.precision)
    cache = Path(args.workdir) / "metric-cache"
    real = real_stats_for_archive(args.data, cache, args.max_real, extractor)
    fake = generated_features(args, extractor)
    features_s = time.perf_counter() - start
    rows = fid_by_size(fake, real, sizes, args.blocks)
    extrapolated = fid_infinity(real, fake)
    intercept, slope = extrapolated["fid_inf"], extrapolated["fid_inf_slope"]
    result = {"run": str(args.run), "precision": args.precision, "max_real": args.max_real,
              "rows": rows, "fid_infinity": intercept, "slope": slope,
              "features_s": features_s}  # fmt: skip
    (args.out / "fid-bias.json").write_text(json.dumps(result, indent=1))
    table = markdown_table(
        [
            {
                "N": f"{row['n']:,}",
                "blocks": row["blocks"],
                "FID@N (mean)": f"{row['fid']:.1f}",
                "spread (std)": f"{row['spread']:.2f}",
                "FID∞ + slope/N": f"{intercept + slope / row['n']:.1f}",
            }
            for row in rows
        ]
    )
    (args.out / "table.md").write_text(table + "\n")
    print(table)
    print(f"FID∞ {intercept:.1f} (slope {slope:,.0f}); real side: {args.max_real:,} images, "
          f"{args.precision} Inception; features took {features_s / 60:.1f} min")  # fmt: skip


if __name__ == "__main__":
    main()
