"""`fauxshop demo`: the whole pipeline on the built-in demo catalog, printing each stage.

Later stages (training, generation, products) append themselves to STAGES.
"""

from __future__ import annotations

import json
import time

from fauxshop.catalog.demo_catalog import write_demo_catalog
from fauxshop.catalog.ingest import ingest_table
from fauxshop.catalog.pack import PackConfig, pack
from fauxshop.catalog.prune import PruneConfig, format_report, load_ground_truth, prune
from fauxshop.catalog.status import format_status
from fauxshop.catalog.store import Store
from fauxshop.workspace import Workspace

DEMO_SIZES = ((64, 32), (128, 64))


def _stage(title: str) -> float:
    print(f"\n== {title} ==", flush=True)
    return time.perf_counter()


def _done(start: float) -> None:
    print(f"({time.perf_counter() - start:.1f} s)", flush=True)


def run_demo(ws: Workspace, n: int = 600, seed: int = 0) -> None:
    catalog_dir = ws.root / "demo-catalog"
    t = _stage(f"demo-catalog: rendering {n} products into {catalog_dir}")
    summary = write_demo_catalog(catalog_dir, n=n, seed=seed)
    print(json.dumps(summary))
    _done(t)

    with Store(ws.db_path) as store:
        t = _stage("ingest: products.jsonl + images/ into the store")
        report = ingest_table(store, catalog_dir / "products.jsonl", catalog_dir)
        print(report.format())
        _done(t)

        t = _stage("prune: size, composition, background, non-product rules")
        truth = load_ground_truth(catalog_dir / "ground_truth.jsonl")
        result = prune(store, PruneConfig(), truth, ws.reports_dir / "prune")
        print(format_report(result))
        print(f"contact sheets of rejects: {ws.reports_dir / 'prune'}/")
        _done(t)

        for height, width in DEMO_SIZES:
            out = ws.archives_dir / f"demo-{height}x{width}.zip"
            t = _stage(f"pack: {height}x{width} archive and text corpus")
            packed = pack(store, out, PackConfig(height, width))
            print(f"{packed['packed']} images → {out}; corpus → {packed['corpus']}")
            print(f"per category: {packed['per_label']}")
            _done(t)

        print("\n== workspace ==")
        print(format_status(store))
