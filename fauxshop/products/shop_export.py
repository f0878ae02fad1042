"""Composed products as a shop loads them: a Shopify product-import CSV and a Google Merchant
Center feed (TSV and RSS 2.0 XML).

One product is one Shopify row (one variant, one image) and one Merchant item; the photo is
a file beside the table, referred to by its relative path or, given a base URL, by its URL.
The category maps to Google's product taxonomy (`taxonomy.GOOGLE_CATEGORIES`, the table
`ingest` reads categories with) where it has a place there and is always the product type;
every attribute the tagger claimed is a Shopify metafield column (`custom.NAME`) and a
`NAME:value` tag, and colour and pattern are also Merchant's own `color` and `pattern`.
Descriptions are HTML in both (paragraphs; Merchant's supported `div`; lists as `ul`), so
their lines, bullets and a literal `<S>` come back as they were when the feed is ingested.
Products are marked synthetic (a tag, custom label 0) and carry their provenance (a
metafield; in the Merchant feed the seed and generator hash as custom labels). Shopify
imports them as drafts: a person looks at a synthetic product before it goes on sale.
"""

from __future__ import annotations

import csv
import html
import json
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from fauxshop.atomic import atomic_open
from fauxshop.catalog.taxonomy import GOOGLE_CATEGORIES
from fauxshop.errors import FauxshopError
from fauxshop.products.export_config import ShopOptions

MERCHANT_OWN = ("colour", "pattern")  # attributes Merchant has fields of its own for
G_NS = "http://base.google.com/ns/1.0"
DETAIL_PARTS = ("section_name", "attribute_name", "attribute_value")

SHOPIFY_COLUMNS = (
    "Handle", "Title", "Body (HTML)", "Vendor", "Product Category", "Type", "Tags", "Published",
    "Option1 Name", "Option1 Value", "Variant SKU", "Variant Grams", "Variant Inventory Tracker",
    "Variant Inventory Qty", "Variant Inventory Policy", "Variant Fulfillment Service",
    "Variant Price", "Variant Compare At Price", "Variant Requires Shipping", "Variant Taxable",
    "Variant Barcode", "Image Src", "Image Position", "Image Alt Text", "Gift Card",
    "SEO Title", "SEO Description", "Google Shopping / Google Product Category",
    "Google Shopping / Gender", "Google Shopping / Age Group", "Google Shopping / Condition",
    "Google Shopping / Custom Product", "Google Shopping / Custom Label 0", "Variant Image",
    "Variant Weight Unit", "Status",
)  # fmt: skip
PROVENANCE_COLUMN = "Provenance (product.metafields.fauxshop.provenance)"
MERCHANT_FIELDS = (
    "id", "title", "description", "link", "image_link", "availability", "price", "condition",
    "brand", "identifier_exists", "google_product_category", "product_type", "color",
    "pattern", "gender", "age_group", "product_detail", "custom_label_0", "custom_label_1",
    "custom_label_2",
)  # fmt: skip


def metafield_column(name: str) -> str:
    """Shopify's CSV header for the product metafield custom.NAME."""
    return f"{name.replace('_', ' ').capitalize()} (product.metafields.custom.{name})"


def google_category(category: str) -> str:
    """The category's full path in Google's product taxonomy ('' where it has none): read
    more easily by a person than the numeric id, and accepted in its place."""
    return GOOGLE_CATEGORIES[category][1] if category in GOOGLE_CATEGORIES else ""


def handle(sku: str) -> str:
    """A Shopify handle (lowercase letters, digits, hyphens) from a sku."""
    return "-".join("".join(c if c.isalnum() else " " for c in sku.lower()).split())


def blocks(description: str) -> list[str | list[str]]:
    """The description's lines, each run of "- item" lines gathered into one list of items."""
    out: list[str | list[str]] = []
    for line in description.splitlines():
        text = " ".join(line.split())
        if text.startswith(("- ", "* ", "• ")):
            if not out or isinstance(out[-1], str):
                out.append([])
            out[-1].append(text[2:])
        elif text:
            out.append(text)
    return out


def body_html(description: str, block: str = "p") -> str:
    """The description as HTML: each line a `block` element, each run of "- item" lines a
    list (Merchant takes `div`, not `p`, among its supported tags)."""
    return "".join(
        f"<{block}>{html.escape(b, quote=False)}</{block}>" if isinstance(b, str)
        else "<ul>" + "".join(f"<li>{html.escape(i, quote=False)}</li>" for i in b) + "</ul>"
        for b in blocks(description)
    )  # fmt: skip


def _attribute_names(records: Sequence[dict]) -> list[str]:
    return sorted({name for r in records for name in r["attributes"]})


def shopify_row(record: dict, image: str, options: ShopOptions) -> dict:
    """One product's row of the Shopify CSV: its only variant and its only image."""
    attributes, category = record["attributes"], record["category"]
    tags = ["synthetic", *(f"{k}:{v}" for k, v in sorted(attributes.items()))]
    colour = attributes.get("colour")
    row = {
        "Handle": handle(record["sku"]), "Title": record["title"],
        "Body (HTML)": body_html(record["description"]), "Vendor": options.vendor,
        "Product Category": google_category(category), "Type": category,
        "Tags": ", ".join(tags), "Published": "FALSE",
        "Option1 Name": "Color" if colour else "Title",
        "Option1 Value": colour or "Default Title",
        "Variant SKU": record["sku"], "Variant Grams": "0",
        "Variant Inventory Policy": "deny", "Variant Fulfillment Service": "manual",
        "Variant Price": options.price, "Variant Requires Shipping": "TRUE",
        "Variant Taxable": "TRUE", "Image Src": image, "Image Position": "1",
        "Image Alt Text": record["title"], "Gift Card": "FALSE",
        "Google Shopping / Google Product Category": google_category(category),
        "Google Shopping / Gender": options.gender or "",
        "Google Shopping / Age Group": options.age_group or "",
        "Google Shopping / Condition": "new", "Google Shopping / Custom Product": "TRUE",
        "Google Shopping / Custom Label 0": "synthetic", "Variant Weight Unit": "kg",
        "Status": "draft",
        PROVENANCE_COLUMN: json.dumps(record.get("provenance", {}), sort_keys=True),
    }  # fmt: skip
    row.update({metafield_column(k): v for k, v in attributes.items()})
    return row


def write_shopify(products: Sequence[tuple[dict, str]], path: Path, options: ShopOptions) -> None:
    """`products` as (record, image path) into a Shopify product-import CSV at `path`."""
    records = [r for r, _ in products]
    handles = Counter(handle(r["sku"]) for r in records)
    shared = sorted(h for h, n in handles.items() if n > 1)
    if shared:  # Shopify would merge their rows into one product
        raise FauxshopError(f"export: skus that share a Shopify handle: {', '.join(shared)}")
    columns = [
        *SHOPIFY_COLUMNS,
        *(metafield_column(k) for k in _attribute_names(records)),
        PROVENANCE_COLUMN,
    ]
    with atomic_open(path, encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, restval="")
        writer.writeheader()
        writer.writerows(shopify_row(r, options.image_ref(image), options) for r, image in products)


def merchant_item(record: dict, image: str, options: ShopOptions) -> dict:
    """One Merchant item's fields, those with no value left out; product_detail is a list of
    (section, attribute, value)."""
    attributes, provenance = record["attributes"], record.get("provenance", {})
    generator = provenance.get("models", {}).get("generator", "")
    details = [
        ("General", k.replace("_", " ").capitalize(), v)
        for k, v in sorted(attributes.items())
        if k not in MERCHANT_OWN
    ]
    shop = options.shop_url
    link = f"{shop.rstrip('/')}/products/{handle(record['sku'])}" if shop else ""
    item = {
        "id": record["sku"], "title": record["title"],
        "description": body_html(record["description"], "div"),
        "link": link, "image_link": options.image_ref(image),
        "availability": "in_stock", "price": f"{options.price} {options.currency.upper()}",
        "condition": "new", "brand": options.vendor, "identifier_exists": "no",
        "google_product_category": google_category(record["category"]),
        "product_type": record["category"], "color": attributes.get("colour", ""),
        "pattern": attributes.get("pattern", ""), "gender": options.gender or "",
        "age_group": options.age_group or "", "product_detail": details,
        "custom_label_0": "synthetic",
        "custom_label_1": f"seed {provenance['seed']}" if "seed" in provenance else "",
        "custom_label_2": f"generator {generator[:12]}" if generator else "",
    }  # fmt: skip
    return {k: v for k, v in item.items() if v}


def _tsv_value(key: str, value: str | list) -> str:
    """A value as Merchant's TSV spells it: one line, no tab; product details as
    section:attribute:value, comma separated."""
    if key == "product_detail":
        return ",".join(":".join(d) for d in value)
    return " ".join(value.split())


def write_merchant(
    products: Sequence[tuple[dict, str]], folder: Path, options: ShopOptions, title: str
) -> dict[str, Path]:
    """`products` as (record, image path) into products.tsv and products.xml in `folder`."""
    items = [merchant_item(r, image, options) for r, image in products]
    paths = {"tsv": folder / "products.tsv", "xml": folder / "products.xml"}
    with atomic_open(paths["tsv"], encoding="utf-8", newline="") as f:
        f.write("\t".join(MERCHANT_FIELDS) + "\n")
        for item in items:
            values = (_tsv_value(k, item.get(k, "")) for k in MERCHANT_FIELDS)
            f.write("\t".join(values) + "\n")
    ET.register_namespace("g", G_NS)
    rss = ET.Element("rss", version="2.0")
    channel = ET.SubElement(rss, "channel")
    ET.SubElement(channel, "title").text = title
    ET.SubElement(channel, "link").text = options.shop_url or ""
    ET.SubElement(channel, "description").text = "Synthetic products composed by fauxshop"
    for item in items:
        entry = ET.SubElement(channel, "item")
        for key in (k for k in MERCHANT_FIELDS if k in item):
            if key != "product_detail":
                ET.SubElement(entry, f"{{{G_NS}}}{key}").text = item[key]
                continue
            for detail in item[key]:  # one element per detail, its three parts spelled out
                element = ET.SubElement(entry, f"{{{G_NS}}}product_detail")
                for part, text in zip(DETAIL_PARTS, detail, strict=True):
                    ET.SubElement(element, f"{{{G_NS}}}{part}").text = text
    ET.indent(rss)
    with atomic_open(paths["xml"], "wb") as f:
        ET.ElementTree(rss).write(f, encoding="utf-8", xml_declaration=True)
    return paths
