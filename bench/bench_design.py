"""Describe it, see it: how often each design method's photos show what was asked, judged by
an independent tagger.

Steer and optimise push photos towards what the shipped demo tagger scores, so judging them
with that tagger is circular. A judge of another architecture and seed, trained on the demo
catalog's training split (bench_tag_claims' JUDGE), reads every photo too. Requests are drawn
at random from the demo taxonomy, every category equally often (so jumpsuits, 3 % of the
catalog, are a quarter of the requests), each with 1-3 attribute values, after a few fixed
rare ones; each request text goes through the parser. Per method: the share of photos in
which the judge (and the tagger) sees each requested attribute and all of them; realism, the
improved k-NN precision of the photos among the real catalog's photos in the judge's
feature space; diversity, the mean pairwise judge-feature distance of a request's photos;
novelty, the median distance to the nearest real photo over the catalog's typical gap; and
seconds per request and per photo. Also a grid: rows are requests, then each method's photos.

    .venv/bin/python bench/bench_design.py --archive A.zip --judge J.safetensors
    .venv/bin/python bench/bench_design.py --quick                 # smoke: 300 real, 6 requests
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from pathlib import Path

from bench_tag_claims import JUDGE, add_judge_args, archive_and_judge

RARE = ("long-sleeved striped jumpsuit", "red sleeveless striped midi jumpsuit",
        "plaid maxi skirt", "yellow polka-dot boat-neck top")  # fmt: skip
METHODS = ("reject", "steer", "optimise")


def random_requests(count: int, seed: int) -> list[str]:
    """The fixed rare requests, then random ones: a category uniformly, 1-3 of its attributes,
    a value of each uniformly, written as a shopper's title."""
    from fauxshop.catalog.taxonomy import ATTRIBUTE_VALUES, CATEGORIES, CATEGORY_ATTRIBUTES
    from fauxshop.text.corpus import context_from_tags

    rng = random.Random(seed)
    texts = list(RARE[:count])
    while len(texts) < count:
        category = rng.choice(CATEGORIES)
        heads = rng.sample(CATEGORY_ATTRIBUTES[category], rng.randint(1, 3))
        texts.append(
            context_from_tags(category, {h: rng.choice(ATTRIBUTE_VALUES[h]) for h in heads})
        )
    return texts


def tops(probs, heads) -> list[dict[str, str]]:
    """The top class per head of each photo."""
    n = len(next(iter(probs.values())))
    return [{h: heads[h][int(probs[h][i].argmax())] for h in heads} for i in range(n)]


def run_method(method, requests, models, judge, bank, args):
    """Per photo: which requested values judge and tagger see; per request: seconds, photos."""
    from fauxshop.design.config import DesignConfig
    from fauxshop.design.methods import design_images
    from fauxshop.tagger.scoring import image_features, score_images

    config = DesignConfig(n=args.n, method=method, max_samples=args.max_samples,
                          match_confidence=args.match_confidence, steps=args.steps, lr=args.lr,
                          start=args.start, bank_samples=args.bank_samples)  # fmt: skip
    rows, photos, features = [], [], []
    for k, request in enumerate(requests):
        config.seed_start = k * 1000
        start = time.perf_counter()
        found = design_images(models.G, models.tagger, request.targets, config,
                              models.label_names, bank)  # fmt: skip
        seconds = time.perf_counter() - start
        judged = tops(score_images(judge, found.images), judge.heads)
        tagged = tops(score_images(models.tagger, found.images), models.tagger.heads)
        for i in range(len(found.images)):
            rows.append(
                {
                    "request": k,
                    "seconds": seconds / len(found.images),
                    "judge": {h: judged[i][h] == v for h, v in request.targets.items()},
                    "tagger": {h: tagged[i][h] == v for h, v in request.targets.items()},
                }
            )
        photos.append(found.images)
        features.append(image_features(judge, found.images))
        print(f"  {method} {k + 1}/{len(requests)} {request.text!r}: {seconds:.1f} s", flush=True)
    return rows, photos, features


def summary(method, rows, features, real, typical, n_requests) -> dict:
    import numpy as np
    import torch

    from fauxshop.metrics.fid import precision_recall

    fake = torch.cat(features)
    nearest = torch.cdist(fake, real).min(dim=1).values / typical
    spread = [float(torch.pdist(f).mean()) for f in features if len(f) > 1]
    out = {"method": method}
    for who in ("judge", "tagger"):
        out[f"all ({who})"] = float(np.mean([all(r[who].values()) for r in rows]))
        per_request = {}
        for r in rows:
            per_request.setdefault(r["request"], []).append(all(r[who].values()))
        out[f"requests with a match ({who})"] = sum(map(any, per_request.values())) / n_requests
    for head in ("category", "colour", "pattern", "sleeve", "length", "neckline"):
        verdicts = [r["judge"][head] for r in rows if head in r["judge"]]
        out[f"{head} (judge)"] = float(np.mean(verdicts)) if verdicts else None
    out["realism"] = precision_recall(real.numpy(), fake.numpy(), k=3)["precision"]
    out["diversity"] = float(np.mean(spread)) if spread else None
    out["novelty"] = float(nearest.median())
    out["s/request"] = sum(r["seconds"] for r in rows) / n_requests
    out["s/photo"] = out["s/request"] * n_requests / len(rows)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100, help="requests (rare ones first)")
    parser.add_argument("--n", type=int, default=2, help="photos per request")
    parser.add_argument("--max-samples", type=int, default=32, help="reject's samples")
    parser.add_argument(
        "--match-confidence", type=float, default=0.85, help="a match's least tagger probability"
    )
    parser.add_argument("--steps", type=int, default=6, help="optimise's Adam steps")
    parser.add_argument("--lr", type=float, default=0.1, help="optimise's learning rate")
    parser.add_argument("--start", default="steer", help="optimise from steer or reject")
    parser.add_argument("--bank-samples", type=int, default=500, help="steer's samples")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--seed", type=int, default=0, help="seed of the random requests")
    add_judge_args(parser)
    parser.add_argument("--grid", type=Path, default=Path("design-grid.png"), help="grid PNG")
    parser.add_argument("--grid-rows", type=int, default=8, help="requests in the grid")
    parser.add_argument("--quick", action="store_true", help="300 real, 6 requests, 2 epochs")
    args = parser.parse_args()
    if args.quick:
        args.requests, args.catalog, JUDGE["epochs"] = 6, 300, 2
    os.environ.setdefault("FAUXSHOP_QUIET", "1")

    import numpy as np
    import torch

    from fauxshop.design.methods import Bank
    from fauxshop.design.request import parse_request
    from fauxshop.markdown import markdown_table
    from fauxshop.pixels import save_png, tile_grid
    from fauxshop.products.models import product_models
    from fauxshop.tagger.data import read_archive
    from fauxshop.tagger.model import load_tagger
    from fauxshop.tagger.scoring import image_features

    with tempfile.TemporaryDirectory(prefix="fauxshop-bench-") as tmp:
        archive, judge_path = archive_and_judge(args, Path(tmp))
        judge = load_tagger(judge_path)
        models = product_models(archive)
        data = read_archive(archive, heads=judge.heads)
        real = image_features(judge, data.images.permute(0, 2, 3, 1).numpy())
    gaps = torch.cdist(real, real).fill_diagonal_(float("inf")).min(dim=1).values
    typical = float(gaps.median())
    requests = [parse_request(t) for t in random_requests(args.requests, args.seed)]
    start = time.perf_counter()
    bank = Bank(models.G, models.tagger, args.bank_samples)
    print(f"bank of {args.bank_samples} samples: {time.perf_counter() - start:.1f} s (once)")
    table, grids = [], {}
    for method in args.methods.split(","):
        rows, photos, features = run_method(method, requests, models, judge, bank, args)
        table.append(summary(method, rows, features, real, typical, len(requests)))
        print(markdown_table(table[-1:]), flush=True)  # each method's row as soon as it is known
        grids[method] = photos
    print(markdown_table(table))
    best = max(table, key=lambda row: row["all (judge)"])
    met = best["all (judge)"] >= 0.7 and best["realism"] >= 0.8 and best["s/photo"] < 2
    print(f"bar (every attribute in >= 70 % by the judge, realism >= 0.8, < 2 s a photo): "
          f"{'met' if met else 'not met'} by the best, {best['method']}: "
          f"{best['all (judge)']:.0%} at realism {best['realism']:.2f}, "
          f"{best['s/photo']:.2f} s a photo")  # fmt: skip
    cells = [img for k in range(min(args.grid_rows, len(requests)))
             for m in grids for img in grids[m][k]]  # fmt: skip
    cols = args.n * len(grids)
    save_png(tile_grid(np.stack(cells), cols), args.grid)
    print(f"grid: {args.grid} (rows: requests; columns: {args.n} photos per method, "
          f"{', '.join(grids)})")  # fmt: skip
    for k, request in enumerate(requests[: args.grid_rows]):
        print(f"  row {k + 1}: {request.text}")


if __name__ == "__main__":
    main()
