"""Throughput and peak memory of the catalog stages: render, ingest, prune, pack; and of
ingesting a retailer's feed whose images are URLs.

Each stage runs in its own child process so its peak RSS is its own.

    .venv/bin/python bench/bench_catalog.py --n 3000
    .venv/bin/python bench/bench_catalog.py --feed 10000 --feed-format merchant

`--feed N` writes an N-row feed (Merchant TSV: one item per product; Shopify CSV: two rows per
product, the second a variant with an extra image) whose image links point at a threaded
HTTP server on 127.0.0.1 in this process, then ingests it in a child twice: first with every
image downloaded, then again with every image in the cache. Peak memory is the child's VmHWM.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
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


def feed_stage(work: Path, feed: Path, fmt: str) -> dict:
    """Ingest `feed` into the store in `work`; runs in a child process."""
    from fauxshop.catalog.config import DownloadConfig
    from fauxshop.catalog.ingest import ingest_table
    from fauxshop.catalog.store import Store

    start = time.perf_counter()
    with Store(work / "catalog.db") as store:
        # The images come from this machine's loopback server, which ingest refuses by default.
        report = ingest_table(
            store, feed, work, feed_format=fmt, download=DownloadConfig(allow_private_hosts=True)
        )
    seconds = time.perf_counter() - start
    status = Path("/proc/self/status").read_text()
    vmhwm_kb = int(
        next(line for line in status.splitlines() if line.startswith("VmHWM")).split()[1]
    )
    return {
        "rows": report.rows,
        "products": report.products,
        "ingested": report.products - report.rejected.total(),
        "seconds": seconds,
        "vmhwm_mb": vmhwm_kb / 1024,
    }


def image_server(n_images: int) -> tuple[ThreadingHTTPServer, Counter]:
    """Serves /img/K.png (K modulo `n_images` distinct 96x64 PNGs) on an ephemeral port."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    images = []
    for _ in range(n_images):
        buffer = io.BytesIO()
        pixels = rng.integers(0, 256, (96, 64, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(buffer, "PNG")
        images.append(buffer.getvalue())
    requests: Counter = Counter()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_GET(self):
            requests["all"] += 1
            body = images[int(self.path.rsplit("/", 1)[1].split(".")[0]) % n_images]
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, requests


def write_feed(path: Path, n_rows: int, fmt: str, base: str) -> Path:
    """An `n_rows`-row feed of dresses, skirts, tops and jumpsuits whose images are URLs."""
    kinds = [
        ("Dresses", "2271"),
        ("Skirts", "1581"),
        ("Shirts & Tops", "212"),
        ("Jumpsuits", "5250"),
    ]
    colours = ["Black", "Navy Blue", "Red", "Gray", "Teal"]
    body = "<p>A {c} piece.</p><ul><li>Machine wash</li><li>Do not tumble dry</li></ul>"
    with open(path, "w", newline="", encoding="utf-8") as f:
        if fmt == "merchant":
            out = csv.writer(f, delimiter="\t")
            out.writerow(["id", "title", "description", "image_link", "google_product_category",
                          "color", "pattern", "size", "price"])  # fmt: skip
            for i in range(n_rows):
                (_, gpc), c = kinds[i % 4], colours[i % 5]
                pattern = "Striped" if i % 3 else "solid"
                out.writerow([f"M{i:06d}", f"Item {i}", body.format(c=c), f"{base}/img/{i}.png",
                              gpc, c, pattern, "M", "19.90 EUR"])  # fmt: skip
        else:
            out = csv.writer(f)
            out.writerow(["Handle", "Title", "Body (HTML)", "Type", "Option1 Name",
                          "Option1 Value", "Variant SKU", "Variant Price", "Image Src",
                          "Image Position"])  # fmt: skip
            for i in range(n_rows // 2):
                (kind, _), c = kinds[i % 4], colours[i % 5]
                out.writerow([f"p-{i}", f"Item {i}", body.format(c=c), kind, "Size", "S",
                              f"P{i}-S", "19.90", f"{base}/img/{i}.png", "1"])  # fmt: skip
                out.writerow([f"p-{i}", "", "", "", "", "M", f"P{i}-M", "19.90",
                              f"{base}/img/{n_rows + i}.png", "2"])  # fmt: skip
    return path


def bench_feed(n_rows: int, fmt: str) -> None:
    httpd, requests = image_server(64)
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    env = dict(os.environ, FAUXSHOP_QUIET="1")
    rows = []
    with tempfile.TemporaryDirectory(prefix="fauxshop-bench-feed-") as tmp:
        feed = write_feed(
            Path(tmp) / f"feed.{'tsv' if fmt == 'merchant' else 'csv'}", n_rows, fmt, base
        )
        for run in ("first (all downloaded)", "rerun (all cached)"):
            before = requests["all"]
            cmd = [sys.executable, __file__, "--stage", "feed", "--work", tmp,
                   "--feed-path", str(feed), "--feed-format", fmt]  # fmt: skip
            out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True)
            row = json.loads(out.stdout.strip().splitlines()[-1])
            rows.append({"run": run, "requests": requests["all"] - before, **row})
    httpd.shutdown()
    print(f"ingest of a {n_rows:,}-row {fmt} feed, images over loopback, {os.cpu_count()} cores")
    print(f"| {'run':<22} | {'rows':>6} | {'products':>8} | {'ingested':>8} | {'HTTP GETs':>9} |"
          f" {'seconds':>7} | {'products/s':>10} | {'VmHWM MB':>8} |")  # fmt: skip
    print(
        f"|{'-' * 24}|{'-' * 8}|{'-' * 10}|{'-' * 10}|{'-' * 11}|{'-' * 9}|{'-' * 12}|{'-' * 10}|"
    )
    for r in rows:
        rate = r["products"] / r["seconds"]
        print(f"| {r['run']:<22} | {n_rows:>6} | {r['products']:>8} | {r['ingested']:>8} |"
              f" {r['requests']:>9} | {r['seconds']:>7.1f} | {rate:>10.1f} |"
              f" {r['vmhwm_mb']:>8.0f} |")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=3000, help="products in the demo catalog")
    parser.add_argument(
        "--feed", type=int, metavar="ROWS", help="bench a feed of ROWS rows instead"
    )
    parser.add_argument("--feed-format", choices=("merchant", "shopify"), default="merchant")
    parser.add_argument("--stage", choices=(*STAGES, "feed"), help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--feed-path", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stage == "feed":
        print(json.dumps(feed_stage(args.work, args.feed_path, args.feed_format)))
        return
    if args.stage:
        print(json.dumps(run_stage(args.stage, args.work, args.n)))
        return
    if args.feed:
        bench_feed(args.feed, args.feed_format)
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
