"""export-products: Shopify CSV, Merchant feed and a Hugging Face imagefolder from a products run
folder (written by the real `save_products`) or the studio's saved products; a Shopify export
ingested back (`ingest --format shopify`) gives the same products.

The products are constructed records with random photos, so every test runs in a second or two
without the models; the dataset test loads the export with the real `datasets` library.
"""

from __future__ import annotations

import csv
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from fauxshop.catalog.feeds import taxonomy_category
from fauxshop.catalog.store import Store
from fauxshop.catalog.taxonomy import ATTRIBUTE_VALUES, CATEGORIES, GOOGLE_CATEGORIES
from fauxshop.cli import main
from fauxshop.digest import file_sha256
from fauxshop.errors import FauxshopError
from fauxshop.products import export_run
from fauxshop.products.compose import Candidate, ComposeResult
from fauxshop.products.export import save_products
from fauxshop.products.export_config import ShopOptions
from fauxshop.products.export_run import MANIFEST, export_products
from fauxshop.products.shop_export import G_NS, body_html, google_category, write_shopify
from fauxshop.web.app import save_product

DESCRIPTION = (
    "A red dress with a sleeveless cut & a tie waist.\n"
    "Details:\n- Knee-length hem\n- Side pockets\n"
    "Model is 5'9\" and wears <S>.\nCare:\n- Machine wash at 30°C"
)
PRODUCTS = [  # sku, category, attributes, photo height x width
    ("fake-000000000001", "dress", {"colour": "red", "sleeve": "sleeveless", "length": "knee"},
     (64, 32)),
    ("fake-000000000002", "skirt", {"pattern": "plaid"}, (48, 40)),
    ("fake-000000000003", "top", {"sleeve": "short", "neckline": "boat"}, (32, 32)),
]  # fmt: skip


def record(sku: str, category: str, attributes: dict, seed: int) -> dict:
    """A composed product's record as `compose` writes it."""
    checks = {
        "on_category": {"passed": True, "category": category, "expected": category},
        "category_agrees": {"passed": True, "fused": category},
        "grounded_text": {"passed": True, "words": 30, "dropped_sentences": []},
        "image_novel": {"passed": True, "nearest_sku": "real-1", "distance": 1.2},
        "text_novel": {"passed": True, "exact_copy": False, "longest_shared_share": 0.2},
    }
    provenance = {
        "models": {"generator": "ab" * 32, "tagger": "cd" * 32, "writer": "ef" * 32},
        "seed": seed, "psi": 0.7, "class_index": None, "w": [0.25, -1.5, 3.0],
        "sampling": {"temperature": 0.8, "top_p": 0.95, "seed": seed},
    }  # fmt: skip
    title = f"{' '.join(attributes.values()).capitalize()} {category}".strip()
    return {
        "sku": sku, "title": title, "description": DESCRIPTION, "category": category,
        "attributes": attributes, "status": "accepted", "checks": checks,
        "provenance": provenance, "nearest_sku": "real-1",
    }  # fmt: skip


def photo(shape: tuple[int, int], seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (*shape, 3), dtype=np.uint8)


@pytest.fixture
def run(tmp_path) -> Path:
    """A products run folder, as `fauxshop products` writes it."""
    candidates = [
        Candidate(record(sku, category, attributes, seed), photo(shape, seed), 0)
        for seed, (sku, category, attributes, shape) in enumerate(PRODUCTS)
    ]
    result = ComposeResult(candidates, {"generate": 1.0}, {"dress": 1, "skirt": 1, "top": 1})
    out = tmp_path / "exports" / "products" / "seeds-0-2"
    save_products(result, SimpleNamespace(images=None), out)
    return out


def test_shopify_csv_holds_each_product_with_its_photo_beside_it(run, tmp_path):
    report = export_products(run, "shopify", tmp_path / "shop", tmp_path)
    assert report.exported == 3 and not report.skipped
    with open(tmp_path / "shop" / "products.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [r["Variant SKU"] for r in rows] == [sku for sku, *_ in PRODUCTS]
    assert [r["Handle"] for r in rows] == [sku for sku, *_ in PRODUCTS]  # already handle-shaped
    dress, skirt, top = rows
    assert dress["Title"] == "Red sleeveless knee dress" and dress["Type"] == "dress"
    assert dress["Product Category"] == "Apparel & Accessories > Clothing > Dresses"
    assert dress["Option1 Name"] == "Color" and dress["Option1 Value"] == "red"
    assert top["Option1 Name"] == "Title" and top["Option1 Value"] == "Default Title"
    assert dress["Tags"] == "synthetic, colour:red, length:knee, sleeve:sleeveless"
    assert dress["Sleeve (product.metafields.custom.sleeve)"] == "sleeveless"
    assert skirt["Pattern (product.metafields.custom.pattern)"] == "plaid"
    assert skirt["Colour (product.metafields.custom.colour)"] == ""
    assert {r["Status"] for r in rows} == {"draft"} and {r["Published"] for r in rows} == {"FALSE"}
    provenance = json.loads(dress["Provenance (product.metafields.fauxshop.provenance)"])
    assert provenance["seed"] == 0 and provenance["w"] == [0.25, -1.5, 3.0]
    for row, (sku, *_) in zip(rows, PRODUCTS, strict=True):
        assert row["Image Src"] == f"images/{sku}.png" and row["Image Position"] == "1"
        copied = (tmp_path / "shop" / row["Image Src"]).read_bytes()
        assert copied == (run / "images" / f"{sku}.png").read_bytes()
    assert dress["Body (HTML)"] == (
        "<p>A red dress with a sleeveless cut &amp; a tie waist.</p><p>Details:</p>"
        "<ul><li>Knee-length hem</li><li>Side pockets</li></ul>"
        "<p>Model is 5'9\" and wears &lt;S&gt;.</p><p>Care:</p>"
        "<ul><li>Machine wash at 30°C</li></ul>"
    )
    options = ShopOptions(base_url="https://cdn.example.com/feed/", price="19.90")
    export_products(run, "shopify", tmp_path / "shop", tmp_path, options)  # replaces the export
    with open(tmp_path / "shop" / "products.csv", newline="", encoding="utf-8") as f:
        row = next(csv.DictReader(f))
    assert row["Image Src"] == f"https://cdn.example.com/feed/images/{PRODUCTS[0][0]}.png"
    assert row["Variant Price"] == "19.90"


def test_skus_sharing_a_shopify_handle_are_refused(tmp_path):
    records = [record(sku, "dress", {}, 0) for sku in ("Fake_1", "fake-1")]
    with pytest.raises(FauxshopError, match="share a Shopify handle: fake-1"):
        write_shopify([(r, "x.png") for r in records], tmp_path / "p.csv", ShopOptions())
    assert not list(tmp_path.iterdir())


def test_body_html_escapes_text_and_lists_bullets():
    assert body_html("<b>bold</b> & more\n\n- one\n-  two  \nend") == (
        "<p>&lt;b&gt;bold&lt;/b&gt; &amp; more</p><ul><li>one</li><li>two</li></ul><p>end</p>"
    )


def test_merchant_feed_as_tsv_and_rss_xml(run, tmp_path):
    options = ShopOptions(
        vendor="Acme", price="25", currency="EUR", shop_url="https://shop.example.com",
        gender="female", age_group="adult",
    )  # fmt: skip
    report = export_products(run, "merchant", tmp_path / "feed", tmp_path, options)
    assert sorted(p.name for p in report.files) == ["products.tsv", "products.xml"]
    with open(tmp_path / "feed" / "products.tsv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    dress, skirt, top = rows
    assert dress["id"] == PRODUCTS[0][0] and dress["brand"] == "Acme"
    assert dress["price"] == "25 EUR" and dress["availability"] == "in_stock"
    assert dress["link"] == f"https://shop.example.com/products/{PRODUCTS[0][0]}"
    assert dress["image_link"] == f"images/{PRODUCTS[0][0]}.png"
    assert dress["google_product_category"] == "Apparel & Accessories > Clothing > Dresses"
    assert dress["color"] == "red" and skirt["pattern"] == "plaid" and top["color"] == ""
    assert dress["product_detail"] == "General:Length:knee,General:Sleeve:sleeveless"
    assert (dress["gender"], dress["age_group"], dress["condition"]) == ("female", "adult", "new")
    assert (dress["custom_label_0"], dress["custom_label_1"]) == ("synthetic", "seed 0")
    assert dress["description"] == (
        "<div>A red dress with a sleeveless cut &amp; a tie waist.</div><div>Details:</div>"
        "<ul><li>Knee-length hem</li><li>Side pockets</li></ul>"
        "<div>Model is 5'9\" and wears &lt;S&gt;.</div><div>Care:</div>"
        "<ul><li>Machine wash at 30°C</li></ul>"
    )
    channel = ET.parse(tmp_path / "feed" / "products.xml").getroot().find("channel")
    items = channel.findall("item")
    assert [i.findtext(f"{{{G_NS}}}id") for i in items] == [sku for sku, *_ in PRODUCTS]
    first = items[0]
    assert first.findtext(f"{{{G_NS}}}description") == dress["description"]
    assert first.findtext(f"{{{G_NS}}}color") == "red"
    details = [
        [d.findtext(f"{{{G_NS}}}{part}") for part in ("attribute_name", "attribute_value")]
        for d in first.findall(f"{{{G_NS}}}product_detail")
    ]
    assert details == [["Length", "knee"], ["Sleeve", "sleeveless"]]
    assert items[2].find(f"{{{G_NS}}}color") is None  # no value: no element
    for sku, *_ in PRODUCTS:
        assert (tmp_path / "feed" / "images" / f"{sku}.png").is_file()


def test_the_imagefolder_export_loads_with_hugging_face_datasets(run, tmp_path):
    import datasets  # the dev extra's; imported here, as only this test needs it

    export_products(run, "hf", tmp_path / "data", tmp_path)
    loaded = datasets.load_dataset(
        "imagefolder", data_dir=str(tmp_path / "data"), cache_dir=str(tmp_path / "cache")
    )
    rows = loaded["train"]
    assert rows.num_rows == len(PRODUCTS)
    by_sku = {row["sku"]: row for row in rows}
    assert set(by_sku) == {sku for sku, *_ in PRODUCTS}
    for seed, (sku, category, attributes, (height, width)) in enumerate(PRODUCTS):
        row = by_sku[sku]
        assert row["image"].size == (width, height)
        assert np.array_equal(np.asarray(row["image"].convert("RGB")), photo((height, width), seed))
        assert row["category"] == category and row["synthetic"] is True
        for name in ("colour", "pattern", "sleeve", "length"):
            assert row[name] == attributes.get(name)  # null where the tags claimed nothing
        assert row["provenance"]["seed"] == seed and row["provenance"]["w"] == [0.25, -1.5, 3.0]
        assert row["description"] == DESCRIPTION
    assert rows.features["category"].dtype == "string"
    labelled = rows.class_encode_column("category")  # ready for a classifier
    assert labelled.features["category"].names == ["dress", "skirt", "top"]


def test_bad_photos_and_records_are_skipped_counted_and_reported(run, tmp_path, capsys):
    (run / "images" / f"{PRODUCTS[1][0]}.png").unlink()
    broken = run / "images" / f"{PRODUCTS[2][0]}.png"
    broken.write_bytes(b"<html>not a photo</html>")
    table = run / "products.jsonl"
    edited = {**record("fake-edited", "dress", {}, 7), "attributes": None}
    with open(table, "a", encoding="utf-8") as f:  # a hand-edited line
        f.write(json.dumps(edited) + "\n")
    out = tmp_path / "data"
    code = main(["export-products", str(run), "--format", "hf", "--out", str(out),
                 "--workdir", str(tmp_path)])  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert "1 products" in printed
    assert "skipped 1 (image_missing" in printed and "skipped 1 (image_corrupt" in printed
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["products"] == 1 and manifest["synthetic"] is True
    assert manifest["skipped"] == {"image_missing": 1, "image_corrupt": 1, "bad_record": 1}
    assert "skipped 1 (bad_record, e.g. fake-edited: no attributes)" in printed
    rows = [json.loads(line) for line in (out / "metadata.jsonl").read_text().splitlines()]
    assert [r["sku"] for r in rows] == [PRODUCTS[0][0]]
    assert sorted(p.name for p in (out / "images").iterdir()) == [f"{PRODUCTS[0][0]}.png"]
    (run / "images" / f"{PRODUCTS[0][0]}.png").unlink()
    with pytest.raises(FauxshopError, match="no product to export"):
        export_products(run, "hf", tmp_path / "none", tmp_path)
    assert not (tmp_path / "none").exists()


def test_an_export_is_written_whole_or_not_at_all(run, tmp_path, monkeypatch):
    out = tmp_path / "shop"
    export_products(run, "shopify", out, tmp_path)
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    copies = []

    def copy_then_fail(src, dst):
        copies.append(dst)
        if len(copies) == 2:
            raise OSError("disk full")
        return Path(dst).write_bytes(Path(src).read_bytes())

    monkeypatch.setattr(export_run.shutil, "copyfile", copy_then_fail)
    with pytest.raises(OSError, match="disk full"):
        export_products(run, "shopify", out, tmp_path, ShopOptions(price="99.00"))
    after = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before  # the earlier export, untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exports", "shop"]  # no temp left
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "mine.txt").write_text("keep")
    with pytest.raises(FauxshopError, match="not an export folder"):
        export_products(run, "shopify", tmp_path / "notes", tmp_path)
    assert (tmp_path / "notes" / "mine.txt").read_text() == "keep"


def test_the_studios_saved_products_export_without_runs_or_failed_ones(run, tmp_path, capsys):
    for seed, (sku, category, attributes, shape) in enumerate(PRODUCTS[:2]):
        saved = record(sku.replace("fake-", "studio-"), category, attributes, seed)
        if seed == 1:
            saved["status"] = "rejected"  # the studio saves what it composed, checks failed or not
        save_product(tmp_path, SimpleNamespace(record=saved, image=photo(shape, seed)))
    from_run = {**record(*PRODUCTS[2][:3], 2), "image_path": str(run / "images" / "x.png")}
    with Store(tmp_path / "catalog.db") as store:  # a `products` run's, in the same store
        store.save_generated([from_run])
    assert main(["export-products", "studio", "--format", "shopify", "--workdir",
                 str(tmp_path)]) == 0  # fmt: skip
    assert "skipped 1 (failed_checks" in capsys.readouterr().out
    out = tmp_path / "exports" / "shopify" / "studio"
    with open(out / "products.csv", newline="", encoding="utf-8") as f:
        assert [r["Variant SKU"] for r in csv.DictReader(f)] == ["studio-000000000001"]
    with Image.open(out / "images" / "studio-000000000001.png") as image:
        assert image.size == (32, 64)


@pytest.mark.parametrize(
    "options, message",
    [({"price": "cheap"}, "price"), ({"currency": "EURO"}, "currency"),
     ({"shop_url": "ftp://x"}, "shop URL"), ({"gender": "dress"}, "gender")],
)  # fmt: skip
def test_shop_options_refuse_what_a_shop_would(options, message):
    with pytest.raises(FauxshopError, match=message):
        ShopOptions(**options)


def test_a_shopify_export_ingests_back_as_the_same_products(run, tmp_path):
    export_products(run, "shopify", tmp_path / "shop", tmp_path)
    work = tmp_path / "work"
    table = tmp_path / "shop" / "products.csv"
    assert main(["ingest", str(table), "--format", "shopify", "--workdir", str(work)]) == 0
    with Store(work / "catalog.db") as store:
        rows = {row["sku"]: row for row in store.products()}
    assert sorted(rows) == [sku for sku, *_ in PRODUCTS]
    for seed, (sku, category, attributes, (height, width)) in enumerate(PRODUCTS):
        row, original = rows[sku], record(sku, category, attributes, seed)
        assert row["status"] == "ingested"
        assert (row["title"], row["category"]) == (original["title"], category)
        assert row["description"] == DESCRIPTION  # Body (HTML) back to the same lines
        back = json.loads(row["attributes"])
        assert {k: v for k, v in back.items() if k in ATTRIBUTE_VALUES} == attributes
        assert json.loads(back["provenance"]) == original["provenance"]
        assert "synthetic" in back["Tags"]
        assert row["image_sha256"] == file_sha256(run / "images" / f"{sku}.png")
        assert (row["width"], row["height"]) == (width, height)


@pytest.mark.parametrize("feed", ["products.tsv", "products.xml"])
def test_a_merchant_export_ingests_back_as_the_same_products(run, tmp_path, feed):
    export_products(run, "merchant", tmp_path / "feed", tmp_path)
    work = tmp_path / "work"
    assert main(["ingest", str(tmp_path / "feed" / feed), "--workdir", str(work)]) == 0
    with Store(work / "catalog.db") as store:
        rows = {row["sku"]: row for row in store.products()}
    assert sorted(rows) == [sku for sku, *_ in PRODUCTS]
    for seed, (sku, category, attributes, _) in enumerate(PRODUCTS):
        row, original = rows[sku], record(sku, category, attributes, seed)
        assert row["status"] == "ingested"
        assert (row["title"], row["category"]) == (original["title"], category)
        assert row["description"] == DESCRIPTION  # lines, bullets and "<S>" as they were
        back = json.loads(row["attributes"])
        assert {k: v for k, v in back.items() if k in ATTRIBUTE_VALUES} == attributes
        assert "product_detail" not in back  # every detail was a taxonomy attribute
        assert back["custom_label_0"] == "synthetic"
        assert row["image_sha256"] == file_sha256(run / "images" / f"{sku}.png")


def test_every_google_category_written_is_read_back_as_its_category():
    assert set(GOOGLE_CATEGORIES) == set(CATEGORIES)
    for category, (google_id, path) in GOOGLE_CATEGORIES.items():
        assert google_category(category) == path
        assert taxonomy_category(path) == category
        assert taxonomy_category(google_id) == category
        assert taxonomy_category(f"{google_id} - {path}") == category
    assert google_category("coat") == ""
