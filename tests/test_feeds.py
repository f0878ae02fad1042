"""Shopify exports and Google Merchant feeds (TSV, XML) in: grouping, HTML to text, taxonomy
mapping, auto-detection, hostile XML, and a feed mixing good and bad rows."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fauxshop.catalog.feeds import read_feed, taxonomy_category
from fauxshop.catalog.html_text import html_to_text
from fauxshop.catalog.ingest import ingest_table
from fauxshop.catalog.store import Store
from fauxshop.catalog.tables import MAX_FIELD_CHARS, TableError, parse_mapping
from fauxshop.pixels import png_bytes

SHOPIFY_HEADER = [
    "Handle", "Title", "Body (HTML)", "Vendor", "Product Category", "Type", "Tags",
    "Option1 Name", "Option1 Value", "Option2 Name", "Option2 Value", "Variant SKU",
    "Variant Price", "Image Src", "Image Position", "Variant Image",
    "Sleeve (product.metafields.fauxshop.sleeve)",
]  # fmt: skip
BODY = (
    "<p>A <b>floaty</b>&nbsp;midi dress.</p><ul><li>Machine wash</li><li>Do not <i>iron</i>"
    "</li></ul><script>track()</script><style>p{color:red}</style><!-- note -->"
)


def shopify_row(**values: str) -> list[str]:
    return [values.get(column, "") for column in SHOPIFY_HEADER]


def write_rows(path: Path, header: list[str], rows: list[list[str]], delimiter=",") -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, delimiter=delimiter)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture
def photos(tmp_path) -> Path:
    for i in range(6):
        pixels = np.random.default_rng(i).integers(0, 256, (30, 20, 3), dtype=np.uint8)
        (tmp_path / f"p{i}.png").write_bytes(png_bytes(pixels))
    return tmp_path


def attributes(store: Store, sku: str) -> dict:
    return json.loads(store.product(sku)["attributes"])


def shopify_feed(tmp_path: Path) -> Path:
    rows = [
        shopify_row(
            Handle="midi-dress", Title="Midi dress", **{"Body (HTML)": BODY}, Vendor="Acme",
            **{"Product Category": "Apparel & Accessories > Clothing > Dresses"}, Type="Dress",
            Tags="summer, new", **{"Option1 Name": "Color", "Option1 Value": "Navy Blue"},
            **{"Option2 Name": "Size", "Option2 Value": "S", "Variant SKU": "MD-S"},
            **{"Variant Price": "49.00", "Image Src": "p1.png", "Image Position": "2"},
            **{"Sleeve (product.metafields.fauxshop.sleeve)": "long"},
        ),
        shopify_row(
            Handle="midi-dress", **{"Option1 Value": "Navy Blue", "Option2 Value": "M"},
            **{"Variant SKU": "MD-M", "Variant Price": "49.00", "Variant Image": "p2.png"},
            **{"Image Src": "p0.png", "Image Position": "1"},
        ),
        shopify_row(Handle="midi-dress", **{"Image Src": "p3.png", "Image Position": "3"}),
        shopify_row(
            Handle="tee", Title="Tee", **{"Body (HTML)": "Plain text"}, Type="T-shirt",
            **{"Option1 Name": "Title", "Option1 Value": "Default Title"},
            **{"Variant SKU": "T1", "Image Src": "p4.png"},
        ),
    ]  # fmt: skip
    return write_rows(tmp_path / "products_export.csv", SHOPIFY_HEADER, rows)


def test_shopify_rows_are_grouped_into_products(tmp_path, store, photos):
    feed = shopify_feed(tmp_path)
    report = ingest_table(store, feed, photos)
    assert (report.rows, report.added, report.bad_rows.total()) == (2, 2, 0)
    dress = store.product("midi-dress")
    assert dress["title"] == "Midi dress" and dress["category"] == "dress"
    assert dress["description"] == "A floaty midi dress.\n- Machine wash\n- Do not iron"
    assert dress["image_path"] == str(photos / "p0.png")  # Image Position 1 comes first
    attrs = attributes(store, "midi-dress")
    assert attrs["images"] == ["p0.png", "p1.png", "p3.png", "p2.png"]
    assert attrs["colour"] == "navy" and attrs["sleeve"] == "long"
    assert attrs["options"] == {"Size": ["S", "M"]}
    assert [v["sku"] for v in attrs["variants"]] == ["MD-S", "MD-M"]
    assert attrs["Tags"] == ["summer", "new"] and attrs["Vendor"] == "Acme"
    assert "Type" not in attrs and "Product Category" not in attrs  # used up by the category
    tee = store.product("tee")
    assert tee["category"] == "" and tee["description"] == "Plain text"
    assert attributes(store, "tee")["Type"] == "T-shirt"  # no taxonomy category: kept
    assert "options" not in attributes(store, "tee")
    assert ingest_table(store, feed, photos).unchanged == 2  # idempotent like any table


def test_merchant_tsv(tmp_path, store, photos):
    header = ["id", "title", "description", "image_link", "additional_image_link",
              "google_product_category", "color", "pattern", "size", "price"]  # fmt: skip
    rows = [
        ["M1", "Skirt", "<ul><li>Pleated</li></ul>", "p0.png", "p1.png,p2.png",
         "Apparel & Accessories > Clothing > Skirts", "Gray", "Striped", "M", "20.00 EUR"],
        ["M2", "Dress", "Plain <3 text", "p3.png", "", "2271", "Teal", "paisley", "", ""],
        ["M3", "Bag", "x", "p4.png", "", "Apparel & Accessories > Handbags", "", "", "", ""],
    ]  # fmt: skip
    feed = write_rows(tmp_path / "feed.tsv", header, rows, delimiter="\t")
    report = ingest_table(store, feed, photos)
    assert report.added == 3 and report.bad_rows.total() == 0
    skirt = attributes(store, "M1")
    assert store.product("M1")["category"] == "skirt"
    assert store.product("M1")["description"] == "- Pleated"
    assert skirt == {
        "images": ["p0.png", "p1.png", "p2.png"],
        "colour": "grey",
        "pattern": "stripes",
        "size": "M",
        "price": "20.00 EUR",
    }
    dress = attributes(store, "M2")
    assert store.product("M2")["category"] == "dress"
    assert store.product("M2")["description"] == "Plain <3 text"
    assert dress["color"] == "Teal" and dress["pattern"] == "paisley" and "colour" not in dress
    assert store.product("M3")["category"] == ""
    assert attributes(store, "M3")["google_product_category"].endswith("Handbags")


RSS = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:g="http://base.google.com/ns/1.0">
<channel><title>Shop</title><link>https://shop.example</link>
{items}
</channel></rss>"""
ITEM = """<item><g:id>{sku}</g:id><title>Jumpsuit {sku}</title>
<description><![CDATA[<p>Wide legs.</p><ul><li>Linen</li></ul>]]></description>
<g:image_link>{image}</g:image_link><g:additional_image_link>p1.png</g:additional_image_link>
<g:additional_image_link>p2.png</g:additional_image_link>
<g:google_product_category>5250</g:google_product_category><g:color>Black</g:color>
<g:shipping><g:country>DE</g:country><g:price>4.95 EUR</g:price></g:shipping></item>"""


def test_merchant_xml(tmp_path, store, photos):
    items = ITEM.format(sku="X1", image="p0.png") + ITEM.format(sku="X2", image="p3.png")
    feed = tmp_path / "feed.xml"
    feed.write_text(RSS.format(items=items))
    report = ingest_table(store, feed, photos)
    assert report.added == 2 and report.bad_rows.total() == 0
    product = store.product("X1")
    assert product["category"] == "jumpsuit" and product["title"] == "Jumpsuit X1"
    assert product["description"] == "Wide legs.\n- Linen"
    assert attributes(store, "X1") == {
        "images": ["p0.png", "p1.png", "p2.png"],
        "colour": "black",
        "shipping": {"country": "DE", "price": "4.95 EUR"},
    }


DETAIL = (
    "<g:product_detail><g:section_name>{}</g:section_name><g:attribute_name>{}"
    "</g:attribute_name><g:attribute_value>{}</g:attribute_value></g:product_detail>"
)


def test_merchant_product_details_of_taxonomy_attributes_become_them(tmp_path, store, photos):
    one = DETAIL.format("General", "Sleeve", "Long-sleeved")
    several = (
        one
        + DETAIL.format("General", "Neckline", "V-neck")
        + DETAIL.format("Care", "Washing", "30°C")
        + DETAIL.format("General", "Length", "ankle-grazing")
    )  # no taxonomy value: kept
    items = "".join(
        f"<item><g:id>{sku}</g:id><title>t</title><g:image_link>p0.png</g:image_link>"
        f"{details}</item>"
        for sku, details in (("x1", one), ("x2", several))
    )
    (tmp_path / "feed.xml").write_text(RSS.format(items=items))
    header = ["id", "title", "image_link", "product_detail"]
    row = ["t1", "t", "p0.png", "General:Length:Maxi, Care:Washing:30°C,General:Neckline:boat"]
    tsv = write_rows(tmp_path / "feed.tsv", header, [row], delimiter="\t")
    ingest_table(store, tmp_path / "feed.xml", photos)
    ingest_table(store, tsv, photos)
    assert attributes(store, "x1") == {"images": ["p0.png"], "sleeve": "long"}
    assert attributes(store, "x2") == {
        "images": ["p0.png"],
        "sleeve": "long",
        "neckline": "v-neck",
        "product_detail": [
            {"section_name": "Care", "attribute_name": "Washing", "attribute_value": "30°C"},
            {"section_name": "General", "attribute_name": "Length",
             "attribute_value": "ankle-grazing"},
        ],
    }  # fmt: skip
    assert attributes(store, "t1") == {
        "images": ["p0.png"],
        "length": "maxi",
        "neckline": "boat",
        "product_detail": [
            {"section_name": "Care", "attribute_name": "Washing", "attribute_value": "30°C"}
        ],
    }


@pytest.mark.parametrize(
    "doctype",
    [
        '<!DOCTYPE rss [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>',
        '<!DOCTYPE rss [<!ENTITY x SYSTEM "file:///etc/passwd">]>',
        '<!DOCTYPE rss SYSTEM "http://127.0.0.1:9/rss.dtd">',
    ],
)
def test_xml_with_entities_or_a_dtd_is_refused(tmp_path, store, photos, doctype):
    feed = tmp_path / "feed.xml"
    text = RSS.format(items=ITEM.format(sku="X1", image="p0.png")).replace(
        "<title>Shop", "<title>&b;"
    )
    feed.write_text(text.replace("<rss ", doctype + "\n<rss ", 1))
    with pytest.raises(TableError, match="feed.xml: not a readable XML feed"):
        ingest_table(store, feed, photos)
    assert store.count() == 0


def test_xml_broken_mid_way_keeps_the_items_before(tmp_path, store, photos):
    items = ITEM.format(sku="X1", image="p0.png") + "<item><g:id>X2</g:id><title>cut"
    feed = tmp_path / "feed.xml"
    feed.write_text(RSS.format(items=items).split("</channel>")[0])
    report = ingest_table(store, feed, photos)
    assert report.added == 1 and dict(report.bad_rows) == {"malformed_row": 1}
    assert store.ingest_rejects()[0]["row_number"] == 2


def test_xml_item_nested_too_deep_is_one_bad_row(tmp_path, store, photos):
    deep = "<g:a>" * 5000 + "x" + "</g:a>" * 5000
    items = ITEM.format(sku="X1", image="p0.png").replace("</item>", deep + "</item>")
    feed = tmp_path / "feed.xml"
    feed.write_text(RSS.format(items=items + ITEM.format(sku="X2", image="p3.png")))
    report = ingest_table(store, feed, photos)
    assert report.added == 1 and dict(report.bad_rows) == {"over_limit": 1}
    assert store.product("X2") is not None


def test_auto_detection_and_map(tmp_path, photos):
    shopify = shopify_feed(tmp_path)
    merchant = write_rows(tmp_path / "m.csv", ["id", "title", "image_link"], [["a", "t", "p0.png"]])
    plain = write_rows(tmp_path / "plain.csv", ["sku", "image"], [["a", "p0.png"]])
    both = write_rows(tmp_path / "both.csv", ["Handle", "id", "image_link"], [["a", "b", "c"]])
    assert read_feed(shopify)[0] == "shopify"
    assert read_feed(merchant)[0] == "merchant"
    assert read_feed(plain)[0] == "table"
    (tmp_path / "x.jsonl").write_text('{"Handle": "a", "id": "b", "image_link": "c"}\n')
    assert read_feed(tmp_path / "x.jsonl")[0] == "table"
    with pytest.raises(TableError, match="both Shopify and Merchant; give --format"):
        read_feed(both)
    assert read_feed(both, "merchant")[0] == "merchant"
    # --map: with auto, the table is plain; with a named format, it picks the feed's columns.
    assert read_feed(shopify, "auto", parse_mapping("sku=Handle,image=Image Src"))[0] == "table"
    with pytest.raises(TableError, match="a shopify feed is a CSV file"):
        read_feed(tmp_path / "feed.parquet", "shopify")
    with pytest.raises(TableError, match="missing mapped column"):
        read_feed(merchant, "merchant", parse_mapping("sku=mpn"))


def test_map_with_a_named_format_picks_feed_columns(tmp_path, store, photos):
    header = ["id", "mpn", "title", "image_link"]
    feed = write_rows(tmp_path / "feed.tsv", header, [["1", "SKU-9", "t", "p0.png"]], "\t")
    ingest_table(store, feed, photos, parse_mapping("sku=mpn"), feed_format="merchant")
    assert store.product("SKU-9") is not None and "mpn" not in attributes(store, "SKU-9")


def test_feed_mixing_good_and_bad_rows_counts_each_reason(tmp_path, store, photos):
    good = [
        shopify_row(Handle=f"good-{i}", Title=f"Dress {i}", **{"Image Src": f"p{i}.png"})
        for i in range(4)
    ]
    rows = [
        *good[:2],
        shopify_row(Handle="no-image", Title="No photo"),  # missing_field
        shopify_row(Title="No handle", **{"Image Src": "p0.png"}),  # missing_field
        shopify_row(Handle="huge", Title="x" * (MAX_FIELD_CHARS + 1), **{"Image Src": "p0.png"}),
        shopify_row(Handle="gone", Title="Gone", **{"Image Src": "nowhere.png"}),  # image_missing
        shopify_row(Handle="escape", Title="Out", **{"Image Src": "../../etc/passwd"}),
        good[0],  # the same product again, not next to its first rows: duplicate_sku
        *good[2:],
    ]
    feed = write_rows(tmp_path / "mixed.csv", SHOPIFY_HEADER, rows)
    with open(feed, "ab") as f:
        f.write(b"bad-bytes,\xff\xfe title" + b"," * (len(SHOPIFY_HEADER) - 2) + b"\n")  # not_utf8
        f.write(b"short,row\n")  # malformed_row
    report = ingest_table(store, feed, photos)
    assert report.added == 6 and store.count("ingested") == 4
    assert dict(report.rejected) == {"image_missing": 1, "image_outside_dir": 1}
    assert dict(report.bad_rows) == {
        "missing_field": 2,
        "over_limit": 1,
        "duplicate_sku": 1,
        "not_utf8": 1,
        "malformed_row": 1,
    }
    assert {r["reason"] for r in store.ingest_rejects()} == set(report.bad_rows)


def test_taxonomy_category():
    assert taxonomy_category("Apparel & Accessories > Clothing > Shirts & Tops") == "top"
    assert taxonomy_category("2271 - Apparel & Accessories > Clothing > Dresses") == "dress"
    assert taxonomy_category("1581") == "skirt" and taxonomy_category("Maxi Dresses") == "dress"
    assert taxonomy_category("Apparel & Accessories > Clothing > Pants") == ""
    assert taxonomy_category("999") == "" and taxonomy_category(None) == ""


def test_html_to_text():
    assert html_to_text(BODY) == "A floaty midi dress.\n- Machine wash\n- Do not iron"
    table = "<table><tr><th>Size</th><td>M</td></tr></table>one<br>two &amp; three"
    assert html_to_text(table) == "Size M\none\ntwo & three"
    assert html_to_text("<noscript>x</noscript><template>y</template>Shown") == "Shown"
    # Nesting far past Python's recursion limit: the walk keeps its own stack.
    assert html_to_text("<div>" * 5_000 + "deep" + "</div>" * 5_000) == "deep"


def test_ingest_help_lists_the_formats_without_loading_the_readers():
    """The CLI takes --format's choices from the light config module: `ingest --help` loads
    neither pyarrow nor numpy (which feeds.py brings in through the table readers)."""
    code = (
        "import contextlib, io, sys\n"
        "from fauxshop.cli import main\n"
        "out = io.StringIO()\n"
        "with contextlib.suppress(SystemExit), contextlib.redirect_stdout(out):\n"
        "    main(['ingest', '--help'])\n"
        "print(sorted(m for m in ('pyarrow', 'numpy') if m in sys.modules))\n"
        "print('{auto,table,shopify,merchant}' in out.getvalue())\n"
        "print('--allow-private-hosts' in out.getvalue())\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["[]", "True", "True"]
