"""Composed products out: photos, JSONL and CSV records, and an HTML gallery that shows each
product beside its nearest real one (the evidence that it is not a copy).

Each run gets its own folder (`run_folder`: named by its seeds), written whole beside it and
swapped in by one rename, so a gallery never mixes two runs' files: images/SKU.png,
real/SKU.png (nearest real photos), products.jsonl (every field, provenance included),
products.csv (the flat fields a spreadsheet wants) and index.html (no scripts, no external
assets: it opens from disk and on a phone).
"""

from __future__ import annotations

import csv
import html
import json
from pathlib import Path

from fauxshop.atomic import atomic_dir, atomic_open
from fauxshop.catalog.store import Store
from fauxshop.errors import FauxshopError
from fauxshop.pixels import save_png
from fauxshop.products.checks import RealCatalog
from fauxshop.products.compose import Candidate, ComposeResult

CSV_FIELDS = ("sku", "title", "category", "attributes", "description", "image", "nearest_sku",
              "image_distance", "longest_shared_share", "seed", "psi")  # fmt: skip

STYLE = """
body { font-family: system-ui, sans-serif; margin: 1rem; background: #fafafa; color: #222; }
h1 { font-size: 1.3rem; } p.summary { color: #555; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(18rem, 1fr)); gap: 1rem; }
.card { background: #fff; border: 1px solid #ddd; border-radius: 8px; padding: .8rem; }
.photos { display: flex; gap: .6rem; align-items: flex-end; }
.photos figure { margin: 0; text-align: center; font-size: .75rem; color: #666; }
.photos img { width: 6rem; image-rendering: pixelated; border: 1px solid #eee; }
.card h2 { font-size: 1rem; margin: .5rem 0 .2rem; } .tags { font-size: .8rem; color: #555; }
.card p { font-size: .85rem; white-space: pre-line; }
"""


def first_new_seed(db_path: Path, hashes: dict[str, str]) -> int:
    """The seed after the highest one the store has tried with these models (0: none), so a
    new run continues the sequence instead of making the same products again."""
    with Store(db_path) as store:
        highest = store.highest_generated_seed(hashes)
    return 0 if highest is None else highest + 1


def run_folder(root: Path, result: ComposeResult, category: str | None = None) -> Path:
    """A run's own gallery folder under `root`, named by the seeds it tried (and the category
    asked for): runs continuing the seed sequence never share one."""
    first, last = result.seeds
    return Path(root) / f"seeds-{first}-{last}{f'-{category}' if category else ''}"


def save_products(
    result: ComposeResult, real: RealCatalog, out: Path, db_path: Path | None = None
) -> dict[str, Path]:
    """Write the accepted products (photos, records, gallery) as folder `out`, replacing a
    gallery already there whole, and with `db_path` every candidate, accepted or not, into
    that store; returns the paths."""
    out = Path(out)
    if out.is_dir() and any(out.iterdir()) and not (out / "products.jsonl").is_file():
        raise FauxshopError(f"{out}: not a products gallery; pick a new or empty folder")
    accepted = result.accepted
    names = {"jsonl": "products.jsonl", "csv": "products.csv", "html": "index.html"}
    with atomic_dir(out) as tmp:
        for candidate in accepted:
            image = Path("images") / f"{candidate.record['sku']}.png"
            save_png(candidate.image, tmp / image)
            candidate.record["image_path"] = str(out / image)
            if real.images is not None:
                nearest = Path("real") / f"{real.skus[candidate.nearest]}.png"
                save_png(real.images[candidate.nearest], tmp / nearest)
        with atomic_open(tmp / names["jsonl"], encoding="utf-8") as f:
            f.writelines(json.dumps(c.record, ensure_ascii=False) + "\n" for c in accepted)
        with atomic_open(tmp / names["csv"], encoding="utf-8", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=CSV_FIELDS)
            writer.writeheader()
            writer.writerows(_csv_row(c) for c in accepted)
        with atomic_open(tmp / names["html"], encoding="utf-8") as f:
            f.write(gallery_html(accepted, result.report(), real.images is not None))
    paths = {kind: out / name for kind, name in names.items()}
    if db_path is not None:
        with Store(db_path) as store:
            store.save_generated(c.record for c in result.candidates)
    return paths


def _csv_row(candidate: Candidate) -> dict:
    r, checks = candidate.record, candidate.record["checks"]
    return {
        "sku": r["sku"], "title": r["title"], "category": r["category"],
        "attributes": json.dumps(r["attributes"], sort_keys=True),
        "description": r["description"], "image": f"images/{r['sku']}.png",
        "nearest_sku": r["nearest_sku"], "image_distance": checks["image_novel"]["distance"],
        "longest_shared_share": checks["text_novel"]["longest_shared_share"],
        "seed": r["provenance"]["seed"], "psi": r["provenance"]["psi"],
    }  # fmt: skip


def gallery_html(accepted: list[Candidate], report: dict, show_real: bool) -> str:
    """One card per product: its photo, the nearest real photo, title, tags, description."""
    cards = []
    for c in accepted:
        r, novel = c.record, c.record["checks"]["image_novel"]
        attributes = ", ".join(f"{k}: {v}" for k, v in sorted(r["attributes"].items()))
        tags = " · ".join(filter(None, [r["category"], attributes]))
        real = (
            f'<figure><img src="real/{html.escape(r["nearest_sku"])}.png" alt="nearest real">'
            f"<figcaption>nearest real<br>{html.escape(r['nearest_sku'])} · "
            f"{novel['distance']:.2f}</figcaption></figure>"
            if show_real
            else ""
        )
        cards.append(
            f'<div class="card"><div class="photos"><figure><img src="images/{r["sku"]}.png" '
            f'alt="{html.escape(r["title"])}"><figcaption>generated</figcaption></figure>{real}'
            f"</div><h2>{html.escape(r['title'])}</h2>"
            f'<div class="tags">{html.escape(tags)}</div>'
            f"<p>{html.escape(r['description'])}</p></div>"
        )
    first, last = report["seeds"]
    summary = (
        f"{report['accepted']} accepted of {report['candidates']} candidates "
        f"({report['acceptance_rate']:.0%}; "
        + ", ".join(f"{k} {v['accepted']}/{v['wanted']}" for k, v in report["per_class"].items())
        + "); "
        + ", ".join(f"{k} {v:.0%}" for k, v in report["pass_rate"].items())
        + f"; seeds {first}-{last}; novelty against {report['real_archive'] or 'a given catalog'}"
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Products that don't exist</title><style>{STYLE}</style></head><body>"
        f'<h1>Products that don\'t exist</h1><p class="summary">{html.escape(summary)}</p>'
        f'<div class="grid">{"".join(cards)}</div></body></html>\n'
    )
