from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from fauxshop.catalog.ingest import ingest_table
from fauxshop.catalog.store import Store
from fauxshop.catalog.tables import ColumnMapping, MappingError, TableError, parse_mapping

GOOD = [
    {"sku": "A1", "title": "Red dress", "category": "dress", "image": "a1.png", "colour": "red"},
    {"sku": "B2", "title": "Blue top", "category": "top", "image": "sub/b2.jpg", "split": "val"},
]


def png_bytes(size: tuple[int, int] = (20, 30), fmt: str = "PNG", seed: int = 0) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, fmt)
    return buffer.getvalue()


@pytest.fixture
def images(tmp_path) -> Path:
    folder = tmp_path / "images"
    (folder / "sub").mkdir(parents=True)
    (folder / "a1.png").write_bytes(png_bytes())
    (folder / "sub" / "b2.jpg").write_bytes(png_bytes(fmt="JPEG", seed=1))
    (folder / "c3.png").write_bytes(png_bytes(seed=2))
    return folder


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def good_csv_rows() -> list[list[str]]:
    return [[r["sku"], r["title"], r["category"], r["image"], r.get("split", "")] for r in GOOD]


CSV_HEADER = ["sku", "title", "category", "image", "split"]


def assert_good_rows_stored(store: Store) -> None:
    """Nothing good is lost next to a bad row."""
    for row in GOOD:
        product = store.product(row["sku"])
        assert product is not None, row["sku"]
        assert product["status"] == "ingested"
        assert product["title"] == row["title"]
        assert len(product["image_sha256"]) == 64


def only_reject(store: Store) -> dict:
    rejects = store.ingest_rejects()
    assert len(rejects) == 1, [dict(r) for r in rejects]
    return dict(rejects[0])


def ingest_jsonl_with(tmp_path, store, images, extra: list, **kwargs):
    table = write_jsonl(tmp_path / "catalog.jsonl", [*GOOD, *extra])
    return ingest_table(store, table, images, **kwargs)


# -- happy paths --------------------------------------------------------------------------


def test_jsonl_products_with_attributes(tmp_path, store, images):
    extra = {"sku": "C3", "image": "c3.png", "attributes": {"sleeve": "long"}, "size": 38}
    report = ingest_jsonl_with(tmp_path, store, images, [extra])
    assert (report.added, report.rows, report.bad_rows.total()) == (3, 3, 0)
    assert_good_rows_stored(store)
    c3 = store.product("C3")
    assert json.loads(c3["attributes"]) == {"sleeve": "long", "size": 38}
    assert c3["split"] == "train" and c3["title"] == "" and (c3["width"], c3["height"]) == (20, 30)
    assert json.loads(store.product("A1")["attributes"]) == {"colour": "red"}
    assert store.product("B2")["split"] == "val"
    assert c3["image_path"] == str((images / "c3.png").resolve())
    assert c3["source"] == str((tmp_path / "catalog.jsonl").resolve())


def test_csv_with_mapping_and_attribute_columns(tmp_path, store, images):
    header = ["product_id", "name", "category", "img", "colour", "attributes"]
    rows = [
        ["A1", "Red dress", "dress", "a1.png", "red", ""],
        ["B2", "Blue top", "top", "sub/b2.jpg", "", '{"sleeve": "short", "colour": "x"}'],
    ]
    table = write_csv(tmp_path / "catalog.csv", header, rows)
    mapping = parse_mapping("sku=product_id, title=name, image=img")
    report = ingest_table(store, table, images, mapping)
    assert report.added == 2 and report.bad_rows.total() == 0
    assert store.product("A1")["title"] == "Red dress"
    assert json.loads(store.product("A1")["attributes"]) == {"colour": "red"}
    # A column wins over the same key inside `attributes`; empty cells are no attribute.
    assert json.loads(store.product("B2")["attributes"]) == {"sleeve": "short", "colour": "x"}


def test_parquet_with_mapping_and_attribute_columns(tmp_path, store, images):
    table = tmp_path / "catalog.parquet"
    pq.write_table(
        pa.table(
            {
                "id": ["A1", "B2"],
                "title": ["Red dress", "Blue top"],
                "picture": ["a1.png", "sub/b2.jpg"],
                "split": [None, "val"],
                "price": [19.5, None],
                "stock": [3, 4],
            }
        ),
        table,
    )
    report = ingest_table(store, table, images, ColumnMapping(sku="id", image="picture"))
    assert report.added == 2
    assert_good_rows_stored(store)
    assert json.loads(store.product("A1")["attributes"]) == {"price": 19.5, "stock": 3}
    assert store.product("B2")["split"] == "val"


def test_report_and_run_are_recorded(tmp_path, store, images):
    report = ingest_jsonl_with(tmp_path, store, images, [{"sku": "Z", "image": "none.png"}, "{"])
    text = report.format()
    assert "image_missing" in text and "malformed_row" in text and "added 3" in text
    run = store.db.execute("SELECT * FROM runs").fetchone()
    assert (run["kind"], run["status"]) == ("ingest", "finished")
    assert json.loads(run["summary"])["rejected"] == {"image_missing": 1}


# -- idempotence -----------------------------------------------------------------------------


def test_second_ingest_changes_nothing(tmp_path, store, images):
    extra = [{"sku": "M", "image": "gone.png"}, "not json", {"sku": "A1", "image": "a1.png"}]
    ingest_jsonl_with(tmp_path, store, images, extra)
    report = ingest_jsonl_with(tmp_path, store, images, extra)
    assert (report.added, report.updated, report.unchanged) == (0, 0, 3)
    assert len(store.ingest_rejects()) == 2  # refreshed, not doubled


def test_changed_row_is_updated_in_place(tmp_path, store, images):
    ingest_jsonl_with(tmp_path, store, images, [])
    first_id = store.product("A1")["id"]
    changed = [{**GOOD[0], "title": "Crimson dress"}, GOOD[1]]
    report = ingest_table(store, write_jsonl(tmp_path / "catalog.jsonl", changed), images)
    assert (report.added, report.updated, report.unchanged) == (0, 1, 1)
    assert store.product("A1")["id"] == first_id
    assert store.product("A1")["title"] == "Crimson dress"


def test_fixed_image_brings_a_rejected_product_back(tmp_path, store, images):
    ingest_jsonl_with(tmp_path, store, images, [{"sku": "L", "image": "later.png"}])
    assert store.product("L")["status"] == "rejected"
    (images / "later.png").write_bytes(png_bytes(seed=5))
    report = ingest_jsonl_with(tmp_path, store, images, [{"sku": "L", "image": "later.png"}])
    assert report.updated == 1 and store.product("L")["status"] == "ingested"


# -- image problems: stored as rejected products -----------------------------------------------


def rejected_reason(store: Store, sku: str) -> str:
    product = store.product(sku)
    assert product["status"] == "rejected"
    return product["reject_reason"]


def test_missing_image(tmp_path, store, images):
    report = ingest_jsonl_with(tmp_path, store, images, [{"sku": "X", "image": "nope.png"}])
    assert rejected_reason(store, "X") == "image_missing"
    assert report.rejected == {"image_missing": 1}
    assert_good_rows_stored(store)


def test_corrupt_image(tmp_path, store, images):
    (images / "bad.png").write_bytes(b"\x89PNG this is not really a png")
    ingest_jsonl_with(tmp_path, store, images, [{"sku": "X", "image": "bad.png"}])
    assert rejected_reason(store, "X") == "image_corrupt"
    assert_good_rows_stored(store)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_image(tmp_path, store, images, fmt):
    data = png_bytes((64, 64), fmt=fmt)
    (images / "cut.img").write_bytes(data[: len(data) // 2])
    ingest_jsonl_with(tmp_path, store, images, [{"sku": "X", "image": "cut.img"}])
    assert rejected_reason(store, "X") == "image_truncated"
    assert_good_rows_stored(store)


def test_unsupported_image_format(tmp_path, store, images):
    (images / "icon.ico").write_bytes(png_bytes(fmt="ICO"))
    ingest_jsonl_with(tmp_path, store, images, [{"sku": "X", "image": "icon.ico"}])
    assert rejected_reason(store, "X") == "image_unsupported"
    assert_good_rows_stored(store)


def test_decompression_bomb_by_pixel_cap(tmp_path, store, images):
    (images / "big.png").write_bytes(png_bytes((100, 100)))
    extra = [{"sku": "X", "image": "big.png"}]
    ingest_jsonl_with(tmp_path, store, images, extra, max_pixels=50 * 50)
    assert rejected_reason(store, "X") == "image_too_large"
    assert_good_rows_stored(store)


def test_image_path_escaping_the_folder(tmp_path, store, images):
    (tmp_path / "secret.png").write_bytes(png_bytes())
    extra = [
        {"sku": "X", "image": "../secret.png"},
        {"sku": "Y", "image": "sub/../../secret.png"},
        {"sku": "ABS", "image": str(tmp_path / "secret.png")},
    ]
    ingest_jsonl_with(tmp_path, store, images, extra)
    assert rejected_reason(store, "X") == "image_outside_dir"
    assert rejected_reason(store, "Y") == "image_outside_dir"
    assert rejected_reason(store, "ABS") == "image_outside_dir"
    assert_good_rows_stored(store)


def test_image_path_that_is_a_directory(tmp_path, store, images):
    ingest_jsonl_with(tmp_path, store, images, [{"sku": "X", "image": "sub"}])
    assert rejected_reason(store, "X") == "image_missing"
    assert_good_rows_stored(store)


# -- rows that cannot be products: ingest_rejects ------------------------------------------------


def test_non_utf8_row_in_jsonl(tmp_path, store, images):
    table = tmp_path / "catalog.jsonl"
    lines = [json.dumps(r).encode() for r in GOOD]
    lines.insert(1, b'{"sku": "X", "title": "caf\xe9", "image": "c3.png"}')
    table.write_bytes(b"\n".join(lines) + b"\n")
    report = ingest_table(store, table, images)
    reject = only_reject(store)
    assert (reject["row_number"], reject["reason"]) == (2, "not_utf8")
    offset = len(lines[0]) + 1 + lines[1].index(b"\xe9")
    assert f"byte {offset}" in reject["detail"] and "0xe9" in reject["detail"]
    assert "caf\\xe9" in reject["raw"]
    assert report.bad_rows == {"not_utf8": 1}
    assert_good_rows_stored(store)


def test_non_utf8_row_in_csv(tmp_path, store, images):
    table = write_csv(tmp_path / "catalog.csv", CSV_HEADER, good_csv_rows())
    with open(table, "ab") as f:
        f.write(b"X,Caf\xe9 dress,dress,c3.png,train\n")
    ingest_table(store, table, images)
    reject = only_reject(store)
    assert (reject["row_number"], reject["reason"]) == (4, "not_utf8")
    assert "'title'" in reject["detail"] and "0xe9" in reject["detail"]
    assert_good_rows_stored(store)


def test_non_utf8_value_in_parquet(tmp_path, store, images):
    table = tmp_path / "catalog.parquet"
    skus = pa.array([b"A1", b"X\xff", b"B2"], pa.binary()).cast(pa.string(), safe=False)
    pq.write_table(pa.table({"sku": skus, "image": ["a1.png", "c3.png", "sub/b2.jpg"]}), table)
    report = ingest_table(store, table, images)
    reject = only_reject(store)
    assert (reject["row_number"], reject["reason"]) == (2, "not_utf8")
    assert "'sku'" in reject["detail"]
    assert report.added == 2


def test_csv_with_byte_order_mark(tmp_path, store, images):
    table = write_csv(tmp_path / "catalog.csv", CSV_HEADER, good_csv_rows())
    table.write_bytes(b"\xef\xbb\xbf" + table.read_bytes())
    assert ingest_table(store, table, images).added == 2
    assert_good_rows_stored(store)


def test_malformed_json_row(tmp_path, store, images):
    ingest_jsonl_with(tmp_path, store, images, ['{"sku": "X", "image": "c3.png"'])
    reject = only_reject(store)
    assert (reject["row_number"], reject["reason"]) == (3, "malformed_row")
    assert reject["raw"] == '{"sku": "X", "image": "c3.png"'
    assert_good_rows_stored(store)


def test_json_row_that_is_not_an_object(tmp_path, store, images):
    ingest_jsonl_with(tmp_path, store, images, ['["X", "c3.png"]'])
    assert only_reject(store)["reason"] == "malformed_row"
    assert_good_rows_stored(store)


def test_csv_row_with_wrong_field_count(tmp_path, store, images):
    rows = good_csv_rows()
    rows.insert(1, ["X", "Too few", "c3.png"])
    ingest_table(store, write_csv(tmp_path / "catalog.csv", CSV_HEADER, rows), images)
    reject = only_reject(store)
    assert (reject["row_number"], reject["reason"]) == (3, "malformed_row")
    assert "expected 5 fields, found 3" in reject["detail"]
    assert reject["raw"] == "X,Too few,c3.png"
    assert_good_rows_stored(store)


def test_csv_row_numbers_follow_multiline_fields(tmp_path, store, images):
    rows = [["M", "two\nlines", "dress", "missing-field-count"], *good_csv_rows()]
    ingest_table(store, write_csv(tmp_path / "catalog.csv", CSV_HEADER, rows), images)
    assert only_reject(store)["row_number"] == 2
    assert_good_rows_stored(store)


def test_missing_sku(tmp_path, store, images):
    extra = [{"title": "no sku", "image": "c3.png"}, {"sku": "  ", "image": "c3.png"}]
    report = ingest_jsonl_with(tmp_path, store, images, extra)
    assert report.bad_rows == {"missing_field": 2}
    assert {r["row_number"] for r in store.ingest_rejects()} == {3, 4}
    assert_good_rows_stored(store)


def test_missing_image_field_keeps_the_sku(tmp_path, store, images):
    ingest_jsonl_with(tmp_path, store, images, [{"sku": "X", "title": "no picture"}])
    reject = only_reject(store)
    assert (reject["reason"], reject["sku"]) == ("missing_field", "X")
    assert "image" in reject["detail"]
    assert store.product("X") is None
    assert_good_rows_stored(store)


def test_duplicate_sku_keeps_the_first(tmp_path, store, images):
    report = ingest_jsonl_with(
        tmp_path, store, images, [{"sku": "A1", "title": "Second A1", "image": "c3.png"}]
    )
    reject = only_reject(store)
    assert (reject["reason"], reject["row_number"], reject["sku"]) == ("duplicate_sku", 3, "A1")
    assert "row 1" in reject["detail"]
    assert report.bad_rows == {"duplicate_sku": 1}
    assert_good_rows_stored(store)  # A1 keeps its first title


def test_bad_split(tmp_path, store, images):
    ingest_jsonl_with(tmp_path, store, images, [{"sku": "X", "image": "c3.png", "split": "dev"}])
    reject = only_reject(store)
    assert (reject["reason"], reject["sku"]) == ("bad_split", "X")
    assert "'dev'" in reject["detail"]
    assert_good_rows_stored(store)


def test_attributes_column_that_is_not_an_object(tmp_path, store, images):
    extra = [{"sku": "X", "image": "c3.png", "attributes": "[1, 2]"}]
    ingest_jsonl_with(tmp_path, store, images, extra)
    assert only_reject(store)["reason"] == "malformed_row"
    assert_good_rows_stored(store)


# -- tables that cannot be read at all -------------------------------------------------------


def test_missing_required_column_in_csv_header(tmp_path, store, images):
    table = write_csv(tmp_path / "catalog.csv", ["sku", "title"], [["A1", "x"]])
    with pytest.raises(TableError) as caught:
        ingest_table(store, table, images)
    message = str(caught.value)
    assert str(table) in message and "'image'" in message and "\n" not in message
    assert store.count() == 0
    run = store.db.execute("SELECT status FROM runs").fetchone()
    assert run["status"] == "failed"


def test_missing_mapped_column_in_parquet(tmp_path, store, images):
    table = tmp_path / "catalog.parquet"
    pq.write_table(pa.table({"sku": ["A1"], "image": ["a1.png"]}), table)
    with pytest.raises(TableError, match="'name' \\(for title\\)"):
        ingest_table(store, table, images, ColumnMapping(title="name"))
    # Unmapped optional columns may be absent.
    assert ingest_table(store, table, images).added == 1


def test_unknown_extension(tmp_path, store, images):
    table = tmp_path / "catalog.xlsx"
    table.write_text("whatever")
    with pytest.raises(TableError, match="catalog.xlsx: unknown table type '.xlsx'"):
        ingest_table(store, table, images)


def test_missing_table_and_directory_table(tmp_path, store, images):
    with pytest.raises(TableError, match="no such file"):
        ingest_table(store, tmp_path / "nope.csv", images)
    (tmp_path / "dir.csv").mkdir()
    with pytest.raises(TableError, match="not a regular file"):
        ingest_table(store, tmp_path / "dir.csv", images)


def test_corrupt_parquet(tmp_path, store, images):
    table = tmp_path / "catalog.parquet"
    table.write_bytes(b"PAR1 but not really")
    with pytest.raises(TableError) as caught:
        ingest_table(store, table, images)
    assert str(table) in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "text, message",
    [
        ("sku", "expected field=column"),
        ("sku=", "expected field=column"),
        ("colour=c", "unknown field 'colour'"),
        ("sku=a,sku=b", "given twice"),
        ("title=sku", "used for two fields"),
    ],
)
def test_bad_mapping(text, message):
    with pytest.raises(MappingError, match=message):
        parse_mapping(text)


def test_mapping_defaults():
    mapping = parse_mapping("sku=product_id,image=img")
    assert (mapping.sku, mapping.image, mapping.title, mapping.split) == (
        "product_id",
        "img",
        "title",
        "split",
    )
