"""Products/s of `fauxshop products` at the demo config, and where the time goes per stage.

The shipped demo models (64x32 generator, tagger with its TF-IDF text branch, GPT-2 tiny
writer) compose products of every class in turn (or `--category`), checked against a
freshly rendered demo catalog (600 products, seed 0) and the writer's training texts, as
`make demo` does. Candidates are counted whether accepted or not, since every one costs all
five stages. The same run also composes candidates one at a time (`compose_one`, as the
studio does: its photo and tags in the fixed batch shapes, its text written alone) for the
one-at-a-time column. A short run's one chunk passes more than it wants (the rest is
surplus, not counted), so the steady rate needs a longer run. No peer is named for this
pipeline, so there is no ratio column. The load average is printed: run it on an idle
machine:

    .venv/bin/python bench/bench_products.py            # 20 products
    .venv/bin/python bench/bench_products.py --n 100 --category dress   # the steady rate
    .venv/bin/python bench/bench_products.py --quick    # 3 dresses: smoke check
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path


def demo_archive(root: Path, n: int) -> Path:
    """Render, ingest, prune and pack a demo catalog at the generator's 64x32."""
    from fauxshop.catalog.config import PruneConfig
    from fauxshop.catalog.demo_catalog import write_demo_catalog
    from fauxshop.catalog.ingest import ingest_table
    from fauxshop.catalog.pack import PackConfig, pack
    from fauxshop.catalog.prune import prune
    from fauxshop.catalog.store import Store

    write_demo_catalog(root / "catalog", n=n, seed=0)
    with Store(root / "catalog.db") as store:
        ingest_table(store, root / "catalog" / "products.jsonl", root / "catalog")
        prune(store, PruneConfig())
        pack(store, root / "demo-64x32.zip", PackConfig(64, 32))
    return root / "demo-64x32.zip"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20, help="accepted products wanted")
    parser.add_argument("--catalog", type=int, default=600, help="real demo products")
    parser.add_argument("--category", help="only this category (default: every class in turn)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's)")
    parser.add_argument("--alone", type=int, default=8, help="candidates composed one at a time")
    parser.add_argument("--quick", action="store_true", help="3 dresses, 100 real: smoke")
    args = parser.parse_args()
    if args.quick:
        args.n, args.catalog, args.alone = 3, 100, 2
        args.category = args.category or "dress"
    os.environ.setdefault("FAUXSHOP_QUIET", "1")
    import torch

    from fauxshop.markdown import markdown_table
    from fauxshop.products.compose import STAGES, compose, compose_one
    from fauxshop.products.config import ComposeConfig
    from fauxshop.products.models import product_models

    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    config = ComposeConfig(n=args.n, category=args.category)
    with tempfile.TemporaryDirectory(prefix="fauxshop-bench-") as tmp:
        archive = demo_archive(Path(tmp), args.catalog)
        start = time.perf_counter()
        models = product_models(archive)
        load_seconds = time.perf_counter() - start
        result = compose(models, config)
        alone = dict.fromkeys(STAGES, 0.0)
        tried = [c.record["provenance"] for c in result.candidates[: args.alone]]
        singles = [compose_one(models, config, p["seed"], p["class_index"], alone) for p in tried]
    report = result.report()
    total, alone_total = sum(report["seconds"].values()), sum(alone.values())
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"demo models on CPU: {os.cpu_count()} cores, {torch.get_num_threads()} torch threads")
    print(f"loading the models and indexing {args.catalog} real products: {load_seconds:.1f} s\n")
    rows = [
        {"stage": stage, "batched s": s, "share": f"{s / total:.0%}",
         "batched ms/candidate": 1000 * s / report["candidates"],
         "one at a time ms/candidate": 1000 * alone[stage] / len(singles)}
        for stage, s in report["seconds"].items()
    ]  # fmt: skip
    print(markdown_table(rows), end="\n\n")
    print(markdown_table([{"check": k, "pass rate": v} for k, v in report["pass_rate"].items()]))
    rate = report["accepted"] / report["candidates"]
    print(
        f"\nbatched: {report['accepted']} accepted of {report['candidates']} candidates "
        f"({report['surplus']} surplus) in {total:.1f} s: {report['products_per_s']:.2f} "
        f"products/s, {report['candidates'] / total:.2f} candidates/s"
    )
    print(
        f"one at a time: {len(singles)} candidates in {alone_total:.1f} s: "
        f"{len(singles) / alone_total:.2f} candidates/s, {rate * len(singles) / alone_total:.2f} "
        "products/s at the batched run's acceptance rate"
    )
    same = all(a.record == b.record for a, b in zip(singles, result.candidates, strict=False))
    print(f"one at a time equals batched, record for record: {same}")


if __name__ == "__main__":
    main()
