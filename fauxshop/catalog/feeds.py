"""Retailers' feeds as the rows ingest reads: a Shopify product export (CSV) and a Google
Merchant Center feed (TSV or RSS 2.0 XML with the `g:` namespace).

`read_feed` turns a feed into `Row`s with the plain table's columns (sku, title, description,
category, image, and an `attributes` object), so everything after it (limits, missing fields,
duplicate skus, image checks) is the same code for every format:

- Shopify writes one row per variant and per extra image; the rows of one product follow each
  other and share its `Handle`, which becomes the sku. They are grouped into one product: the
  first row's title and `Body (HTML)`, the images in `Image Position` order (variant images
  after), each option's values, and the variants (sku, price, options).
- Merchant has one item per product: `id`, `title`, `description`, `image_link`,
  `additional_image_link`, and the rest.
- HTML descriptions become clean text (`html_text`). Google product categories, Shopify's
  product category and type map to a taxonomy category where a word of theirs names one
  (leaf first); `color` and `pattern` (and the taxonomy's own attribute names) map to the
  taxonomy's value where the whole value names exactly one, as do Merchant's
  `product_detail` entries whose attribute name is a taxonomy attribute (`General:Sleeve:
  sleeveless`). Whatever does not match is kept, under its own name, as an attribute, as is
  every other column (the other product details as a list under `product_detail`).

Auto-detection reads the header: `Handle` means Shopify, `id` with `image_link` means
Merchant, an XML file is Merchant, anything else is a plain table. A user's `--map` wins:
with `auto` it means a plain table; with a named format it picks other feed columns for the
product's fields. A bad line stays one bad row (the table readers judge it), and an XML feed
that stops parsing mid-way keeps the items before it and records the rest as one bad row.
XML is parsed with defusedxml: a DTD, entity or external reference refuses the file.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element, ParseError, tostring

import defusedxml
import defusedxml.ElementTree as safe_xml

from fauxshop.catalog.config import FEED_FORMATS
from fauxshop.catalog.html_text import html_to_text, looks_like_html
from fauxshop.catalog.tables import (
    ATTRIBUTES_COLUMN,
    MAX_DEPTH,
    BadRow,
    ColumnMapping,
    Row,
    RowProblem,
    TableError,
    check_file,
    delimited_rows,
    read_rows,
    value_problem,
)
from fauxshop.catalog.taxonomy import (
    ATTRIBUTE_VALUES,
    CATEGORIES,
    GOOGLE_CATEGORIES,
    find_mentions,
    unknown_words,
)

FEED_SUFFIXES = {".csv": ",", ".tsv": "\t", ".txt": "\t"}
MAX_GROUP_ROWS = 5000  # rows of one Shopify product (its variants and images) kept
GOOGLE_IDS = {google_id: category for category, (google_id, _) in GOOGLE_CATEGORIES.items()}
# Feed attribute names → the taxonomy attribute whose values they hold.
TAXONOMY_NAMES = {
    "color": "colour",
    "colour": "colour",
    "pattern": "pattern",
    "sleeve": "sleeve",
    "length": "length",
    "neckline": "neckline",
}

DEFAULT_OPTION = "Default Title"  # Shopify's one option value of a product without options
SHOPIFY_FIELDS = {"sku": "Handle", "title": "Title", "description": "Body (HTML)"}
SHOPIFY_CATEGORY_COLUMNS = ("Product Category", "Google Shopping / Google Product Category", "Type")
SHOPIFY_SKIPPED = ("Variant ", "Option", "Image ")  # prefixes of per-variant and image columns
METAFIELD = re.compile(r"^(?P<label>.*?)\s*\(product\.metafields\.[^.()]+\.(?P<key>[^.()]+)\)$")
MERCHANT_FIELDS = {"sku": "id", "title": "title", "description": "description"}
MERCHANT_CATEGORY_COLUMNS = ("google_product_category", "product_type")
DETAIL_PARTS = ("section_name", "attribute_name", "attribute_value")  # of a product_detail


def read_feed(
    path: Path, fmt: str = "auto", mapping: ColumnMapping | None = None
) -> tuple[str, Iterator[Row | BadRow], ColumnMapping]:
    """(format read, rows, the mapping `to_catalog_row` applies to them) for a feed or a plain
    table. A format that can't be told, or a feed in a file type it never comes in, is a
    TableError before anything is read."""
    if fmt not in FEED_FORMATS:
        raise TableError(f"{path}: unknown format {fmt!r} (use {', '.join(FEED_FORMATS)})")
    suffix = path.suffix.lower()
    if fmt == "auto":
        fmt = "table" if mapping is not None else _detect(path, suffix)
    if fmt == "table":
        return fmt, read_rows(path, mapping), mapping or ColumnMapping()
    overrides = mapping.overrides() if mapping is not None else {}
    if fmt == "merchant":
        overrides = {field: _merchant_name(column) for field, column in overrides.items()}
    if suffix == ".xml" and fmt == "merchant":
        return fmt, _merchant_xml(path, overrides), ColumnMapping()
    if suffix not in FEED_SUFFIXES:
        kinds = "CSV" if fmt == "shopify" else "TSV, CSV or XML"
        raise TableError(f"{path}: a {fmt} feed is a {kinds} file, not {suffix or 'no suffix'}")
    header, rows = delimited_rows(path, FEED_SUFFIXES[suffix])
    names = header if fmt == "shopify" else [_merchant_name(column) for column in header]
    missing = [column for column in overrides.values() if column not in names]
    if missing:
        raise TableError(f"{path}: missing mapped column(s) {', '.join(map(repr, missing))}")
    if fmt == "shopify":
        return fmt, _shopify(path, header, rows, overrides), ColumnMapping()
    return fmt, _merchant_rows(path, header, rows, overrides), ColumnMapping()


def _detect(path: Path, suffix: str) -> str:
    if suffix == ".xml":
        return "merchant"
    if suffix not in FEED_SUFFIXES:
        return "table"
    try:
        header, rows = delimited_rows(path, FEED_SUFFIXES[suffix])
    except TableError:
        return "table"  # reading it as a table says what is wrong, in the run
    rows.close()
    shopify = "Handle" in header
    merchant = {"id", "image_link"} <= {_merchant_name(name) for name in header}
    if shopify and merchant:
        raise TableError(f"{path}: header fits both Shopify and Merchant; give --format")
    return "shopify" if shopify else "merchant" if merchant else "table"


# -- Shopify ---------------------------------------------------------------------------------


def _shopify(
    path: Path, header: list[str], rows: Iterator[Row | BadRow], overrides: dict[str, str]
) -> Iterator[Row | BadRow]:
    """Rows grouped by consecutive Handle into products; unreadable lines pass through."""
    if "Handle" not in header:
        raise TableError(f"{path}: a Shopify export needs a 'Handle' column")
    group: list[Row] = []
    cut = 0
    for row in rows:
        if isinstance(row, BadRow) or (problem := value_problem(row.values)):
            yield row if isinstance(row, BadRow) else BadRow(row.number, *problem, row.raw)
            continue
        handle = str(row.values.get("Handle", "")).strip()
        if group and handle == str(group[0].values.get("Handle", "")).strip() and handle:
            if len(group) < MAX_GROUP_ROWS:
                group.append(row)
            else:
                cut += 1
            continue
        if group:
            yield _product_row(group, cut, _shopify_product, overrides)
        group, cut = [row], 0
    if group:
        yield _product_row(group, cut, _shopify_product, overrides)


def _product_row(group: list[Row], cut: int, build, overrides: dict[str, str]) -> Row | BadRow:
    first = group[0]
    raw = "\n".join(row.raw for row in group)
    if cut:
        detail = f"over {MAX_GROUP_ROWS:,} rows for one product ({cut:,} more skipped)"
        return BadRow(first.number, "over_limit", detail, raw)
    try:
        values = build(group)
        for field, column in overrides.items():
            values[field] = _text(first.values, column)
            values[ATTRIBUTES_COLUMN].pop(column, None)
    except RowProblem as e:
        return BadRow(first.number, e.reason, str(e), raw)
    return Row(first.number, values, raw)


def _shopify_product(group: list[Row]) -> dict[str, Any]:
    first = group[0].values
    product = {field: _text(first, column) for field, column in SHOPIFY_FIELDS.items()}
    product["description"] = html_to_text(product["description"])
    images = _shopify_images(group)
    product["image"] = images[0] if images else ""
    attributes: dict[str, Any] = {}
    options = [
        (n, _text(first, f"Option{n} Name") or f"option{n}")
        for n in (1, 2, 3)
        if any(_text(row.values, f"Option{n} Value") for row in group)
    ]
    variants = []
    for row in group:
        chosen = {name: _text(row.values, f"Option{n} Value") for n, name in options}
        variant = {
            "sku": _text(row.values, "Variant SKU"),
            "price": _text(row.values, "Variant Price"),
            "options": {n: v for n, v in chosen.items() if v and v != DEFAULT_OPTION},
        }
        if any(variant.values()):
            variants.append({key: value for key, value in variant.items() if value})
    for _, name in options:
        chosen = (v.get("options", {}).get(name) for v in variants)
        values = list(dict.fromkeys(value for value in chosen if value))
        if len(values) > 1:  # a choice, not a fact about the product: kept as the options
            attributes.setdefault("options", {})[name] = values
        elif values:
            _set(attributes, name.lower(), values[0])
    if variants:
        attributes["variants"] = variants
    if images:
        attributes["images"] = images
    for column, value in first.items():
        if column in SHOPIFY_FIELDS.values() or column.startswith(SHOPIFY_SKIPPED):
            continue
        metafield = METAFIELD.match(column)
        name = metafield["key"] if metafield else column
        if column == "Tags" and isinstance(value, str):
            value = [tag.strip() for tag in value.split(",") if tag.strip()]
        _set(attributes, name, value, metafield["label"] if metafield else None)
    product["category"] = _category(attributes, SHOPIFY_CATEGORY_COLUMNS)
    product[ATTRIBUTES_COLUMN] = attributes
    return product


def _shopify_images(group: list[Row]) -> list[str]:
    """The product's images in `Image Position` order, then variant images not among them."""
    positioned = []
    for index, row in enumerate(group):
        src = _text(row.values, "Image Src")
        if src:
            position = _text(row.values, "Image Position")
            key = int(position) if position.isdigit() and len(position) < 10 else 1 << 40
            positioned.append((key, index, src))
    images = [src for *_, src in sorted(positioned)]
    images += [_text(row.values, "Variant Image") for row in group]
    return list(dict.fromkeys(src for src in images if src))


# -- Merchant --------------------------------------------------------------------------------


def _merchant_name(column: str) -> str:
    """`g:image_link`, `image link` and `image_link` are one attribute."""
    name = column.strip().lower()
    return name.removeprefix("g:").replace(" ", "_")


def _merchant_rows(
    path: Path, header: list[str], rows: Iterator[Row | BadRow], overrides: dict[str, str]
) -> Iterator[Row | BadRow]:
    names = {column: _merchant_name(column) for column in header}
    if not {"id", "image_link"} <= set(names.values()):
        raise TableError(f"{path}: a Merchant feed needs 'id' and 'image_link' columns")
    for row in rows:
        if isinstance(row, BadRow) or (problem := value_problem(row.values)):
            yield row if isinstance(row, BadRow) else BadRow(row.number, *problem, row.raw)
            continue
        values = {names[column]: value for column, value in row.values.items()}
        extra = values.get("additional_image_link")
        if isinstance(extra, str):  # TSV: one cell, commas between the links
            values["additional_image_link"] = [u.strip() for u in extra.split(",") if u.strip()]
        yield _product_row([Row(row.number, values, row.raw)], 0, _merchant_product, overrides)


def _merchant_product(group: list[Row]) -> dict[str, Any]:
    values = dict(group[0].values)
    product = {field: _text(values, column) for field, column in MERCHANT_FIELDS.items()}
    for column in MERCHANT_FIELDS.values():
        values.pop(column, None)
    if looks_like_html(product["description"]):
        product["description"] = html_to_text(product["description"])
    image = _text(values, "image_link")
    extra = values.pop("additional_image_link", None) or []
    extra = [extra] if isinstance(extra, str) else extra
    if not all(isinstance(link, str) for link in extra):
        raise RowProblem("malformed_row", "additional_image_link holds nested elements")
    product["image"] = image
    attributes: dict[str, Any] = {}
    images = list(dict.fromkeys(link for link in (image, *extra) if link))
    if images:
        attributes["images"] = images
    for name, value in values.items():
        if name == "product_detail":
            _product_details(attributes, value)
        elif name != "image_link":
            _set(attributes, name, value)
    product["category"] = _category(attributes, MERCHANT_CATEGORY_COLUMNS)
    product[ATTRIBUTES_COLUMN] = attributes
    return product


def _merchant_xml(path: Path, overrides: dict[str, str]) -> Iterator[Row | BadRow]:
    """Items of an RSS 2.0 (or Atom) Merchant feed, numbered from 1, read as a stream."""
    check_file(path)
    return _xml_items(path, overrides)


def _xml_items(path: Path, overrides: dict[str, str]) -> Iterator[Row | BadRow]:
    number = 0
    parents: list[Element] = []
    try:
        for event, element in safe_xml.iterparse(str(path), ("start", "end"), forbid_dtd=True):
            if event == "start":
                parents.append(element)
                continue
            parents.pop()
            if _local(element.tag) not in ("item", "entry"):
                continue
            number += 1
            if parents:
                parents[-1].remove(element)  # the feed is read as a stream: drop what is done
            try:
                values = _xml_values(element, 1)
                raw = tostring(element, encoding="unicode")  # recursive: only once depth is known
            except RowProblem as e:
                yield BadRow(number, e.reason, str(e), f"<{_local(element.tag)}> {e}")
                continue
            if problem := value_problem(values):
                yield BadRow(number, *problem, raw)
                continue
            yield _product_row([Row(number, values, raw)], 0, _merchant_product, overrides)
    except (ParseError, defusedxml.DefusedXmlException) as e:
        detail = f"{type(e).__name__}: {e}"
        if number == 0:
            raise TableError(f"{path}: not a readable XML feed: {detail}") from None
        yield BadRow(number + 1, "malformed_row", f"XML {detail}; the rest is unread", "")
    except OSError as e:
        raise TableError(f"{path}: cannot read: {e.strerror}") from None


def _xml_values(item: Element, depth: int) -> dict[str, Any]:
    """Child elements by local name (`g:id` → id); a repeated one is a list, one with children
    a dict of theirs (`g:shipping`), at most MAX_DEPTH levels deep."""
    if depth > MAX_DEPTH:
        raise RowProblem("over_limit", f"elements nested over {MAX_DEPTH} levels deep")
    values: dict[str, Any] = {}
    for child in item:
        name = _local(child.tag)
        value: Any = _xml_values(child, depth + 1) if len(child) else (child.text or "").strip()
        if _local(child.tag) == "link" and not value:
            value = child.get("href", "")  # Atom's <link href="...">
        if name in values:
            previous = values[name]
            values[name] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            values[name] = value
    return values


def _local(tag: str) -> str:
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


# -- shared ----------------------------------------------------------------------------------


def _text(values: dict[str, Any], column: str) -> str:
    value = values.get(column)
    if isinstance(value, dict | list):
        raise RowProblem("malformed_row", f"column {column!r} holds nested values, expected text")
    return "" if value is None else str(value).strip()


def _set(attributes: dict[str, Any], name: str, value: Any, label: str | None = None) -> None:
    """Keep a non-empty value; one naming exactly one taxonomy value goes in under the
    taxonomy's attribute name instead of its own."""
    if value in ("", None, [], {}):
        return
    if name.lower() in ATTRIBUTE_VALUES and not isinstance(value, str):
        # Readers of a taxonomy attribute look its value up: it must be one text value.
        value = ", ".join(map(str, value)) if isinstance(value, list) else json.dumps(value)
    found = _taxonomy_value(name, value) or _taxonomy_value(label or "", value)
    if found:
        attributes[found[0]] = found[1]
    else:
        attributes[name] = value


def _taxonomy_value(name: str, value: Any) -> tuple[str, str] | None:
    """(taxonomy attribute, value) when `name` is one of the taxonomy's attributes (or a feed's
    word for one) and `value` is one of its values ("short", under Sleeve) or, all of it,
    names exactly one ("Short-sleeved")."""
    attribute = TAXONOMY_NAMES.get(name.strip().lower())
    if (
        attribute
        and isinstance(value, str)
        and value.strip().lower() in ATTRIBUTE_VALUES[attribute]
    ):
        return attribute, value.strip().lower()
    if attribute and isinstance(value, str) and not unknown_words(value):
        found = find_mentions(value).get(attribute, set())
        if len(found) == 1:
            return attribute, found.pop()
    return None


def _product_details(attributes: dict[str, Any], value: Any) -> None:
    """Merchant's product_detail entries (XML: one or several elements of section_name,
    attribute_name, attribute_value; TSV: `Section:Name:value,...`): one naming a taxonomy
    attribute and value becomes that attribute, the others stay under product_detail."""
    entries = value if isinstance(value, list) else [value]
    if isinstance(value, str):
        entries = [part for part in value.split(",") if part.strip()]
    kept = []
    for entry in entries:
        if isinstance(entry, dict):
            parts = [_text(entry, part) for part in DETAIL_PARTS]
        elif isinstance(entry, str):  # a TSV entry, or an element holding it as text
            parts = (["", ""] + [p.strip() for p in entry.split(":", 2)])[-3:]
        else:
            raise RowProblem("malformed_row", "product_detail holds nested lists")
        found = _taxonomy_value(parts[1], parts[2])
        if found:
            attributes[found[0]] = found[1]
        elif any(parts):
            kept.append(
                {part: text for part, text in zip(DETAIL_PARTS, parts, strict=True) if text}
            )
    if kept:
        attributes["product_detail"] = kept


def _category(attributes: dict[str, Any], columns: Iterable[str]) -> str:
    """The first taxonomy category the category columns name; the columns that name it are
    used up, the others stay attributes."""
    found = {column: taxonomy_category(attributes.get(column)) for column in columns}
    category = next((c for c in found.values() if c), "")
    for column, match in found.items():
        if category and match == category:
            del attributes[column]
    return category


def taxonomy_category(value: Any) -> str:
    """The taxonomy category a Google product category (`2271`, `Apparel & Accessories >
    Clothing > Dresses`, `2271 - Apparel ...`), Shopify category or type names, or ''."""
    if not isinstance(value, str) or not value.strip():
        return ""
    number, _, rest = value.partition(" - ")
    if number.strip().isdigit():
        if number.strip() in GOOGLE_IDS:
            return GOOGLE_IDS[number.strip()]
        value = rest
    for segment in reversed(value.split(">")):
        for word in re.findall(r"[a-z]+", segment.lower()):
            for singular in (word, word.removesuffix("s"), word.removesuffix("es")):
                if singular in CATEGORIES:
                    return singular
    return ""
