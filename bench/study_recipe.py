"""Which StyleGAN2 recipe gives the best images per CPU-minute? Train each at equal compute.

Every recipe trains the same conditional StyleGAN2 generator on the same archive for the same
CPU-minutes of its own (process CPU time over all its threads, `train-image --budget-minutes`,
so a run sharing the machine is not charged for the other's time); at each milestone the
run stops with a snapshot, its FID is measured, and it resumes to the next. FID is against
cached Inception statistics of the whole archive: `--fid-num` images at the milestones, and
`--final-num` (FID@10k) too at the last one. Results go to OUT/results.jsonl as they come, so a
stopped study continues where it was (run it again with the same arguments, or with more
milestones); OUT/table.md and OUT/fid-vs-cpu-minutes.png are rewritten after each result.
With `--kimg` instead the milestones are images shown, for recipes that differ only in how
fast they compute (fp32 against bf16: is the bf16 run as good at equal kimg?); the plot is
then OUT/fid-vs-kimg.png.

    .venv/bin/python bench/study_recipe.py --data fm/archives/fmnist-32.zip --out fm/study \\
        --minutes 5,10 --workdir fm              # FID cache in fm/metric-cache
    .venv/bin/python bench/study_recipe.py ... --recipes default,narrow --parallel 1
    .venv/bin/python bench/study_recipe.py ... --recipes narrower,narrower-bf16 --kimg 24,61,98

`--parallel 2` trains two recipes at once with one thread each (small convolutions use two
cores better as two processes than as two threads of one); FID runs alone, on every core.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

# name: (what it tests, train-image flags); every recipe adds --cond and the study's seed.
NARROW = "--z-dim 256 --w-dim 256 --mapping-layers 2 --channel-base 4096 --channel-max 256"
NARROWER = "--z-dim 128 --w-dim 128 --mapping-layers 2 --channel-base 2048 --channel-max 128"
RECIPES = {
    "default": ("today's TrainConfig defaults: 512 wide, 8-layer mapping, ADA", ""),
    "narrow": ("256 -> 128 channels, 2-layer mapping, z = w = 256", NARROW),
    "narrow-bf16": ("narrow, bf16 autocast", f"{NARROW} --amp bf16"),
    "narrow-noaug": ("narrow, no augmentation", f"{NARROW} --augment noaug"),
    "narrow-r1x10": ("narrow, R1 gamma x10 (0.064)", f"{NARROW} --r1-gamma 0.064"),
    "narrow-b64": ("narrow, batch 64", f"{NARROW} --batch 64"),
    "narrower": ("128 -> 64 channels, 2-layer mapping, z = w = 128", NARROWER),
    "narrower-bf16": ("narrower, bf16 autocast", f"{NARROWER} --amp bf16"),
    "narrow-ema2": ("narrow, G EMA half-life 2 kimg (default 10)", f"{NARROW} --ema-kimg 2"),
}


def _train(data: str, out: Path, flags: str, until: list[str], threads: int, seed: int) -> None:
    """Train (or resume) one recipe's run until the milestone (`until`: train-image flags)."""
    from fauxshop.image.checkpoint import latest_snapshot

    env = dict(os.environ, OMP_NUM_THREADS=str(threads), FAUXSHOP_QUIET="1")
    if out.is_dir() and latest_snapshot(out):
        cmd = ["train-image", "--resume", str(out), *until]
    else:
        shutil.rmtree(out, ignore_errors=True)  # a start killed before its first snapshot
        cmd = ["train-image", "--data", data, "--out", str(out), *until, "--cond"]
        cmd += ["--seed", str(seed), "--tick-kimg", "0.25", "--snap-kimg", "100000"]
        cmd += ["--keep-snapshots", "1", *flags.split()]
    log = out.parent / f"{out.name}.log"
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a", encoding="utf-8") as f:
        done = subprocess.run([sys.executable, "-m", "fauxshop", *cmd], env=env, stdout=f, stderr=f)
    if done.returncode:
        sys.exit(f"{out.name}: train-image failed, see {log}")


def _evaluate(run: Path, data: str, nums: list[int], cache: Path, args) -> dict:
    """kimg, CPU-minutes and FID@num (each num) of the run's newest snapshot."""
    import torch

    from fauxshop.image.checkpoint import resolve_snapshot, snapshot_generator
    from fauxshop.metrics.fid import compute_metrics
    from fauxshop.metrics.inception import InceptionFeatures
    from fauxshop.runtime import configure_torch

    configure_torch(torch.device("cpu"))
    snapshot = resolve_snapshot(run)
    G = snapshot_generator(snapshot)
    extract = InceptionFeatures("cpu", precision=args.precision)
    row = {"kimg": snapshot.meta["kimg"], "cpu_min": snapshot.meta["own_cpu_s"] / 60}
    for num in nums:
        row[f"fid@{num / 1000:g}k"] = compute_metrics(
            ["fid"], G, data, num, cache, max_real=args.max_real, feature_extractor=extract
        )["fid"]
    return row


def _load(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _report(out: Path, results: list[dict], unit: str) -> None:
    """table.md (one row per recipe and milestone) and the plot of FID against the unit."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from fauxshop.atomic import atomic_open
    from fauxshop.markdown import markdown_table

    rows = sorted((r for r in results if unit in r), key=lambda r: (r["recipe"], r[unit]))
    x, xlabel, plot = {
        "minutes": ("cpu_min", "CPU-minutes of the run's own compute", "fid-vs-cpu-minutes.png"),
        "at_kimg": ("kimg", "kimg (thousands of real images shown to D)", "fid-vs-kimg.png"),
    }[unit]
    with atomic_open(out / "table.md", "w", encoding="utf-8") as f:
        f.write(markdown_table(rows) + "\n")
    fig, ax = plt.subplots(figsize=(7, 4.5))
    key = next(k for k in rows[0] if k.startswith("fid@"))  # the milestones' FID
    for recipe in dict.fromkeys(r["recipe"] for r in rows):
        mine = [r for r in rows if r["recipe"] == recipe]
        ax.plot([r[x] for r in mine], [r[key] for r in mine], marker="o", label=recipe)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(key.replace("fid", "FID") + " (lower is better)")
    ax.set_yscale("log")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("Recipes at equal compute" if unit == "minutes" else "Recipes at equal kimg")
    with atomic_open(out / plot, "wb") as f:
        fig.savefig(f, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="image archive (zip) with labels")
    parser.add_argument("--out", required=True, type=Path, help="study folder")
    parser.add_argument("--workdir", default="fauxshop-work", help="holds metric-cache/")
    parser.add_argument("--minutes", default="10,20,40,60", help="milestones, CPU-minutes")
    parser.add_argument("--kimg", help="milestones in kimg instead (equal images, not compute)")
    parser.add_argument("--recipes", default=",".join(RECIPES), help="from " + ", ".join(RECIPES))
    parser.add_argument("--fid-num", type=int, default=2000, help="images per milestone FID")
    parser.add_argument(
        "--final-num", type=int, default=10000, help="images at the last one (0: none)"
    )
    parser.add_argument("--parallel", type=int, default=2, help="recipes trained at once")
    parser.add_argument(
        "--max-real", type=int, help="real images in the FID statistics (default: all)"
    )
    parser.add_argument(
        "--precision", default="fp32", help="Inception precision (bf16: ~2x faster, FID ~1%% lower)"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    recipes = args.recipes.split(",")
    unknown = [r for r in recipes if r not in RECIPES]
    if unknown:
        parser.error(f"unknown recipe {', '.join(unknown)}; choose from {', '.join(RECIPES)}")
    unit = "at_kimg" if args.kimg else "minutes"
    milestones = sorted(float(m) for m in (args.kimg or args.minutes).split(","))
    cache = Path(args.workdir) / "metric-cache"
    results_path = args.out / "results.jsonl"
    threads = max(1, (os.cpu_count() or 1) // args.parallel)

    for milestone in milestones:
        final = milestone == milestones[-1] and args.final_num > 0
        nums = [args.fid_num] + ([args.final_num] if final else [])
        done = {r["recipe"] for r in _load(results_path) if r.get(unit) == milestone}
        todo = [r for r in recipes if r not in done]
        until = ["--budget-minutes", str(milestone), "--kimg", "100000"]
        if unit == "at_kimg":
            until = ["--budget-minutes", "0", "--kimg", str(milestone)]
        with ThreadPoolExecutor(args.parallel) as pool:  # each job is its own process
            runs = [pool.submit(_train, args.data, args.out / r, RECIPES[r][1], until,
                                threads, args.seed) for r in todo]  # fmt: skip
            for run in runs:
                run.result()
        for recipe in todo:
            row = {"recipe": recipe, unit: milestone}
            row.update(_evaluate(args.out / recipe, args.data, nums, cache, args))
            with open(results_path, "a", encoding="utf-8") as f:
                f.write(json.dumps(row) + "\n")
            print(json.dumps(row), flush=True)
            _report(args.out, _load(results_path), unit)


if __name__ == "__main__":
    main()
