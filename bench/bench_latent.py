"""Speed of the latent tools on the shipped demo models (64x32 generator, demo tagger).

- project: seconds per image for one real demo dress photo, W space, `ProjectConfig`
  defaults (1,000 steps) with each perceptual feature set: none (pixels only), the tagger's
  CNN, and Inception-v3. Inception is slow on CPU, so it runs `--inception-steps` steps and
  the table gives its per-step time x the full step count (marked "per step x N").
- directions: fit seconds for InterFaceGAN (`--num` samples rendered and tagged), GANSpace
  (PCA of 20,000 ws) and SeFa (closed form).
- rare: samples/s per method for jumpsuits (images generated and tagged per second, setup
  included: for centroid, the filter search for its class ws).

No peer is named for these tools, so there is no ratio column. Each measurement runs in its
own process (see _child). Run it on an idle machine:

    .venv/bin/python bench/bench_latent.py            # the full table (~4 min on 2 cores)
    .venv/bin/python bench/bench_latent.py --quick    # tiny counts: smoke check
"""

from __future__ import annotations

import argparse
import json
import os
import time

from _child import run_child

QUICK = {"steps": 20, "inception_steps": 2, "num": 200, "rare_n": 4}


def bench_project(args) -> dict:
    import numpy as np

    from fauxshop.catalog.demo_catalog import demo_product
    from fauxshop.image.checkpoint import load_generator
    from fauxshop.latent.config import ProjectConfig
    from fauxshop.latent.projection import perceptual_net, project
    from fauxshop.products.models import DEMO_GENERATOR, DEMO_TAGGER
    from fauxshop.runtime import configure_torch
    from fauxshop.tagger.model import load_tagger

    G = load_generator(DEMO_GENERATOR)
    configure_torch(next(G.parameters()).device)
    features = args.features
    steps = args.inception_steps if features == "inception" else args.steps
    config = ProjectConfig(steps=steps, features=features, video_every=0)
    net = perceptual_net(config, "cpu", scorer=load_tagger(DEMO_TAGGER))
    photo = np.asarray(demo_product(0, 0, 0.0).image)  # a real dress photo of the demo catalog
    dress = 0
    start = time.perf_counter()
    result = project(G, photo, config, net, class_index=dress)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "steps": steps, "psnr": result.psnr}


def bench_directions(args) -> dict:
    from fauxshop.image.checkpoint import load_generator
    from fauxshop.latent.directions import ganspace, interfacegan, sefa
    from fauxshop.products.models import DEMO_GENERATOR, DEMO_TAGGER
    from fauxshop.tagger.model import load_tagger

    G, tagger = load_generator(DEMO_GENERATOR), load_tagger(DEMO_TAGGER)
    fits = {
        "interfacegan": lambda: interfacegan(
            G, tagger, "length:midi,maxi", args.num, class_index=0
        ),
        "ganspace": lambda: ganspace(G, k=10, n=10 * args.num, class_index=0),
        "sefa": lambda: sefa(G, k=10),
    }
    start = time.perf_counter()
    fits[args.method]()
    return {"seconds": time.perf_counter() - start}


def bench_rare(args) -> dict:
    from fauxshop.image.checkpoint import load_generator, read_snapshot
    from fauxshop.latent.config import RareConfig
    from fauxshop.latent.rare import rare_samples
    from fauxshop.products.models import DEMO_GENERATOR, DEMO_TAGGER
    from fauxshop.tagger.model import load_tagger

    G, tagger = load_generator(DEMO_GENERATOR), load_tagger(DEMO_TAGGER)
    names = read_snapshot(DEMO_GENERATOR).meta["label_names"]
    label = None if args.method == "conditional" else "dress"
    config = RareConfig("jumpsuit", n=args.rare_n, method=args.method, label=label)
    report = rare_samples(G, tagger, config, label_names=names).report
    return {k: report[k] for k in ("samples_per_s", "yield_per_1000", "precision")}


TASKS = {"project": bench_project, "directions": bench_directions, "rare": bench_rare}


def child(task: str, args, **options: str) -> dict:
    """One measurement in a fresh interpreter (see _child)."""
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in options.items()]
    sizes = [f"--{k.replace('_', '-')}={getattr(args, k)}" for k in QUICK]
    return run_child(__file__, ["--task", task, *sizes, *flags, f"--threads={args.threads}"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000, help="projection steps")
    parser.add_argument("--inception-steps", type=int, default=20, help="timed with Inception")
    parser.add_argument("--num", type=int, default=2000, help="InterFaceGAN samples")
    parser.add_argument("--rare-n", type=int, default=100, help="jumpsuits per method")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's)")
    parser.add_argument("--quick", action="store_true", help="tiny counts: smoke check")
    parser.add_argument("--task", choices=TASKS, help=argparse.SUPPRESS)
    parser.add_argument("--features", help=argparse.SUPPRESS)
    parser.add_argument("--method", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        vars(args).update(QUICK)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    args.threads = torch.get_num_threads()
    if args.task:
        print(json.dumps(TASKS[args.task](args)))
        return

    from fauxshop.markdown import markdown_table

    print(f"demo models on CPU: {os.cpu_count()} cores, {args.threads} torch threads\n")
    rows = []
    for features in ("none", "scorer", "inception"):
        r = child("project", args, features=features)
        per_step = r["seconds"] / r["steps"]
        estimated = r["steps"] < args.steps
        rows.append({
            "projection (W, 1 photo)": f"features {features}",
            "s/image": f"{per_step * args.steps:.1f}" + (" (per step x N)" if estimated else ""),
            "ms/step": 1000 * per_step,
            "PSNR dB": r["psnr"] if not estimated else None,
        })  # fmt: skip
    print(markdown_table(rows), end="\n\n")
    fits = [
        {"directions": m, "fit seconds": child("directions", args, method=m)["seconds"]}
        for m in ("interfacegan", "ganspace", "sefa")
    ]
    print(f"InterFaceGAN: {args.num} samples; GANSpace: {10 * args.num} ws; SeFa: closed form")
    print(markdown_table(fits), end="\n\n")
    rare = [
        {"rare (jumpsuit)": m, **child("rare", args, method=m)}
        for m in ("filter", "centroid", "conditional")
    ]
    print(f"{args.rare_n} jumpsuits per method; centroid includes its filter search")
    print(markdown_table(rare))


if __name__ == "__main__":
    main()
