"""Throughput and peak memory of the catalog stages: render, ingest, prune, pack.

Each stage runs in its own child process so its peak RSS is its own.

    .venv/bin/python bench/bench_catalog.py --n 3000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STAGES = ("render", "ingest", "prune", "pack")


def run_stage(stage: str, work: Path, n: int) -> dict:
    from fauxshop.catalog.config import PruneConfig
    from fauxshop.catalog.demo_catalog import write_demo_catalog
    from fauxshop.catalog.ingest import ingest_table
    from fauxshop.catalog.pack import PackConfig, pack
    from fauxshop.catalog.prune import prune
    from fauxshop.catalog.store import Store

    catalog = work / "catalog"
    start = time.perf_counter()
    if stage == "render":
        write_demo_catalog(catalog, n=n, seed=0)
        items = n
    else:
        with Store(work / "catalog.db") as store:
            if stage == "ingest":
                report = ingest_table(store, catalog / "products.jsonl", catalog)
                items = report.rows
            elif stage == "prune":
                items = prune(store, PruneConfig())["judged"]
            else:
                items = pack(store, work / "demo-64x64.zip", PackConfig(64, 64))["packed"]
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"stage": stage, "items": items, "seconds": seconds, "peak_rss_mb": peak_mb}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=3000, help="products in the demo catalog")
    parser.add_argument("--stage", choices=STAGES, help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stage:
        print(json.dumps(run_stage(args.stage, args.work, args.n)))
        return

    env = dict(os.environ, FAUXSHOP_QUIET="1")
    rows = []
    with tempfile.TemporaryDirectory(prefix="fauxshop-bench-") as tmp:
        for stage in STAGES:
            cmd = [sys.executable, __file__, "--stage", stage, "--work", tmp, "--n", str(args.n)]
            out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True)
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))

    print(f"catalog stages on a {args.n}-product demo catalog, {os.cpu_count()} cores")
    print(
        f"| {'stage':<7} | {'items':>6} | {'seconds':>8} | {'items/s':>8} | {'peak RSS MB':>11} |"
    )
    print(f"|{'-' * 9}|{'-' * 8}|{'-' * 10}|{'-' * 10}|{'-' * 13}|")
    for r in rows:
        rate = r["items"] / r["seconds"]
        print(
            f"| {r['stage']:<7} | {r['items']:>6} | {r['seconds']:>8.1f} | {rate:>8.1f} |"
            f" {r['peak_rss_mb']:>11.0f} |"
        )


if __name__ == "__main__":
    main()
