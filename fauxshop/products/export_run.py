"""`export-products`: a source's products into one format's folder, written whole or not at all.

The folder is built beside its destination and swapped in by one rename (`atomic.atomic_dir`),
so a killed export leaves the previous export, or nothing, never half a feed whose rows point
at photos that were not copied yet. It holds the format's table(s), images/SKU.png and
export.json (what was exported from where, and how many products were skipped and why).
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import fauxshop
from fauxshop.atomic import atomic_dir, atomic_open
from fauxshop.errors import FauxshopError
from fauxshop.products.dataset_export import write_imagefolder
from fauxshop.products.export_config import EXPORT_FORMATS, ShopOptions
from fauxshop.products.export_source import read_source
from fauxshop.products.shop_export import write_merchant, write_shopify

MANIFEST = "export.json"


@dataclass
class ExportReport:
    source: str
    format: str
    out: Path
    exported: int
    skipped: Counter[str] = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)  # reason -> one product's detail
    files: list[Path] = field(default_factory=list)

    def format_text(self) -> str:
        lines = [f"export {self.source} as {self.format}: {self.exported} products -> {self.out}"]
        lines += [f"  skipped {n} ({reason}, e.g. {self.examples[reason]})"
                  for reason, n in sorted(self.skipped.items())]  # fmt: skip
        lines += [f"  {path}" for path in self.files]
        return "\n".join(lines)


def _write(fmt: str, pairs: list[tuple[dict, str]], folder: Path, options: ShopOptions,
           title: str) -> list[Path]:  # fmt: skip
    if fmt == "shopify":
        write_shopify(pairs, folder / "products.csv", options)
        return [folder / "products.csv"]
    if fmt == "merchant":
        return list(write_merchant(pairs, folder, options, title).values())
    return [write_imagefolder(pairs, folder)]


def export_products(
    source: str | Path, fmt: str, out: Path, workdir: Path, options: ShopOptions | None = None
) -> ExportReport:
    """Export `source` (a `products` run folder, or "studio") as `fmt` into folder `out`,
    replacing an earlier export there whole; products whose photo is missing or broken are
    skipped and counted."""
    if fmt not in EXPORT_FORMATS:
        raise FauxshopError(f"export: format {fmt!r} is not one of {', '.join(EXPORT_FORMATS)}")
    options = options or ShopOptions()
    out = Path(out)
    if out.is_dir() and any(out.iterdir()) and not (out / MANIFEST).is_file():
        raise FauxshopError(f"{out}: not an export folder; pick a new or empty folder")
    src = read_source(source, workdir)
    if not src.products:
        why = ", ".join(f"{n} {r}" for r, n in sorted(src.skipped.items())) or "it is empty"
        raise FauxshopError(f"export {src.name}: no product to export ({why})")
    with atomic_dir(out) as tmp:
        (tmp / "images").mkdir()
        pairs = []
        for product in src.products:
            image = f"images/{product.record['sku']}{product.photo.suffix.lower()}"
            shutil.copyfile(product.photo, tmp / image)
            pairs.append((product.record, image))
        files = _write(fmt, pairs, tmp, options, f"fauxshop products: {src.name}")
        manifest = {
            "format": fmt, "source": str(source), "products": len(pairs), "synthetic": True,
            "skipped": dict(src.skipped), "fauxshop": fauxshop.__version__,
        }  # fmt: skip
        with atomic_open(tmp / MANIFEST, encoding="utf-8") as f:
            json.dump(manifest, f, indent=2)
    files = [out / f.relative_to(tmp) for f in files]
    return ExportReport(src.name, fmt, out, len(pairs), src.skipped, src.examples, files)
