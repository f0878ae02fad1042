"""Hostile tables and photos: each bad row is one reject with its reason, every good row stays."""

# ruff: noqa: F811 - the fixtures `images` and `store` are test_ingest's, used as arguments

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_ingest import (  # noqa: F401 - `images` is a fixture
    CSV_HEADER,
    GOOD,
    assert_good_rows_stored,
    good_csv_rows,
    images,
    ingest_jsonl_with,
    only_reject,
    png_bytes,
    rejected_reason,
    write_csv,
)

from fauxshop.catalog import tables
from fauxshop.catalog.images import DEFAULT_MAX_BYTES
from fauxshop.catalog.ingest import ingest_table
from fauxshop.catalog.tables import MAX_DEPTH, MAX_FIELD_CHARS, MAX_RAW_CHARS

HOSTILE_ATTRIBUTES = {
    "huge_int": "1" * 5000,
    "deep_900": "[" * 900 + "]" * 900,
    "deep_100000": "[" * 100_000 + "]" * 100_000,
}


def hostile_line(kind: str) -> str:
    if kind == "surrogate_title":
        return '{"sku": "X", "image": "c3.png", "title": "bad \\ud800 title"}'
    return f'{{"sku": "X", "image": "c3.png", "attributes": {{"a": {HOSTILE_ATTRIBUTES[kind]}}}}}'


@pytest.mark.parametrize(
    "kind, reason",
    [
        ("huge_int", "over_limit"),
        ("deep_900", "over_limit"),
        ("deep_100000", "over_limit"),
        ("surrogate_title", "not_utf8"),
    ],
)
def test_hostile_jsonl_row_is_one_reject(tmp_path, store, images, kind, reason):
    extra = [hostile_line(kind), GOOD[0] | {"sku": "Z"}]
    report = ingest_jsonl_with(tmp_path, store, images, extra)
    reject = only_reject(store)
    assert (reject["row_number"], reject["reason"], report.bad_rows) == (3, reason, {reason: 1})
    assert reject["detail"] and report.added == 3
    assert_good_rows_stored(store)
    run = store.db.execute("SELECT status FROM runs").fetchone()
    assert run["status"] == "finished"


@pytest.mark.parametrize("kind", [*HOSTILE_ATTRIBUTES, "surrogate"])
def test_hostile_attributes_cell_in_csv_is_one_reject(tmp_path, store, images, kind):
    cell = '{"a": "\\ud800"}' if kind == "surrogate" else f'{{"a": {HOSTILE_ATTRIBUTES[kind]}}}'
    rows = [[*row, ""] for row in good_csv_rows()] + [["X", "t", "dress", "c3.png", "", cell]]
    table = write_csv(tmp_path / "catalog.csv", [*CSV_HEADER, "attributes"], rows)
    ingest_table(store, table, images)
    reject = only_reject(store)
    assert reject["row_number"] == 4
    assert reject["reason"] == ("not_utf8" if kind == "surrogate" else "over_limit")
    assert_good_rows_stored(store)


def test_depth_limit_is_the_same_for_every_format(tmp_path, store, images):
    def nested(depth: int) -> dict:
        value: object = 1
        for _ in range(depth - 1):
            value = [value]
        return {"a": value}  # `depth` containers counting the attributes object

    ok, deep = nested(MAX_DEPTH), nested(MAX_DEPTH + 1)
    rows = [{"sku": "OK", "image": "c3.png", "attributes": ok}]
    rows.append({"sku": "DEEP", "image": "c3.png", "attributes": deep})
    ingest_jsonl_with(tmp_path, store, images, rows)
    assert store.product("OK") is not None and store.product("DEEP") is None
    table = write_csv(
        tmp_path / "catalog.csv",
        ["sku", "image", "attributes"],
        [["OK", "c3.png", json.dumps(ok)], ["DEEP", "c3.png", json.dumps(deep)]],
    )
    ingest_table(store, table, images)
    assert [r["sku"] for r in store.ingest_rejects(str(table.resolve()))] == ["DEEP"]


def test_field_size_limit_is_the_same_for_jsonl_csv_and_parquet(tmp_path, store, images):
    fits, over = "x" * MAX_FIELD_CHARS, "y" * (MAX_FIELD_CHARS + 1)
    jsonl = [{"sku": "J1", "image": "c3.png", "title": fits}]
    jsonl.append({"sku": "J2", "image": "c3.png", "title": over})
    ingest_jsonl_with(tmp_path, store, images, jsonl)
    csv_rows = [["C1", "c3.png", fits], ["C2", "c3.png", over]]
    table = write_csv(tmp_path / "catalog.csv", ["sku", "image", "title"], csv_rows)
    ingest_table(store, table, images)
    parquet = tmp_path / "catalog.parquet"
    columns = {"sku": ["P1", "P2"], "image": ["c3.png"] * 2, "title": [fits, over]}
    pq.write_table(pa.table(columns), parquet)
    ingest_table(store, parquet, images)
    for sku in ("J1", "C1", "P1"):
        assert store.product(sku)["title"] == fits
    rejects = {r["sku"]: r for r in store.ingest_rejects()}
    assert sorted(rejects) == ["C2", "J2", "P2"]
    for reject in rejects.values():
        assert reject["reason"] == "over_limit" and "'title'" in reject["detail"]
        assert len(reject["raw"]) == MAX_RAW_CHARS


def test_overlong_line_is_one_reject_and_the_next_lines_keep_their_numbers(
    tmp_path, store, images, monkeypatch
):
    monkeypatch.setattr(tables, "MAX_LINE_CHARS", 200)
    long_row = {"sku": "L", "image": "c3.png", "title": "z" * 500}
    ingest_jsonl_with(tmp_path, store, images, [long_row, {"sku": "M", "image": "c3.png"}])
    reject = only_reject(store)
    assert (reject["row_number"], reject["reason"]) == (3, "over_limit")
    assert store.product("M") is not None
    long_line = ["L", "t", "dress", "c3.png" + " " * 300, ""]
    rows = [*good_csv_rows(), long_line, ["M", "", "", "c3.png", ""]]
    table = write_csv(tmp_path / "catalog.csv", CSV_HEADER, rows)
    ingest_table(store, table, images)
    reject = store.ingest_rejects(str(table.resolve()))
    assert [(r["row_number"], r["reason"]) for r in reject] == [(4, "over_limit")]


@pytest.mark.parametrize("ending", [b"\r", b"\r\n", b"\n"])
def test_every_line_ending_splits_rows(tmp_path, store, images, ending):
    lines = [b"sku,title,image", b"A1,Red dress,a1.png", b'B2,"Blue\rtop",sub/b2.jpg']
    lines.append(b"C3,x,c3.png")
    table = tmp_path / "catalog.csv"
    table.write_bytes(ending.join(lines) + ending)
    report = ingest_table(store, table, images)
    assert (report.added, report.bad_rows.total()) == (3, 0)
    assert store.product("B2")["title"] == "Blue\rtop"
    jsonl = tmp_path / "catalog.jsonl"
    jsonl.write_bytes(ending.join(json.dumps(r).encode() for r in GOOD) + ending)
    assert ingest_table(store, jsonl, images).rows == 2


# -- photos -----------------------------------------------------------------------------------


def test_image_paths_must_resolve_inside_the_images_folder(tmp_path, store, images):
    outside = tmp_path / "secret.png"
    outside.write_bytes(png_bytes())
    (images / "link.png").symlink_to(outside)
    (images / "linkdir").symlink_to(tmp_path)
    (images / "inside.png").symlink_to(images / "c3.png")
    (images / "loop.png").symlink_to(images / "loop.png")
    extra = [
        {"sku": "ABS", "image": str(outside)},
        {"sku": "ETC", "image": "/etc/passwd"},
        {"sku": "LINK", "image": "link.png"},
        {"sku": "DIR", "image": "linkdir/secret.png"},
        {"sku": "IN", "image": "inside.png"},
        {"sku": "LOOP", "image": "loop.png"},
    ]
    ingest_jsonl_with(tmp_path, store, images, extra)
    for sku in ("ABS", "ETC", "LINK", "DIR"):
        assert rejected_reason(store, sku) == "image_outside_dir"
    assert rejected_reason(store, "LOOP") == "image_missing"
    assert store.product("IN")["status"] == "ingested"
    assert_good_rows_stored(store)
    ingest_jsonl_with(tmp_path, store, images, extra, allow_outside=True)
    for sku in ("ABS", "LINK", "DIR"):
        assert store.product(sku)["status"] == "ingested"
    assert store.product("ABS")["image_path"] == str(outside.resolve())


def test_file_size_is_checked_before_reading(tmp_path, store, images):
    with open(images / "huge.png", "wb") as f:
        f.truncate(DEFAULT_MAX_BYTES + 1)  # sparse: costs no disk
    (images / "small.png").write_bytes(png_bytes((64, 64)))
    extra = [{"sku": "HUGE", "image": "huge.png"}, {"sku": "SMALL", "image": "small.png"}]
    ingest_jsonl_with(tmp_path, store, images, extra, max_bytes=5000)
    assert rejected_reason(store, "HUGE") == "image_too_large"
    assert rejected_reason(store, "SMALL") == "image_too_large"
    assert "bytes" in store.product("HUGE")["reject_detail"]
    assert_good_rows_stored(store)


def test_default_file_size_cap_refuses_a_huge_file_without_reading_it(tmp_path, images):
    with open(images / "huge.png", "wb") as f:
        f.truncate(512 << 20)
    # VmHWM is this process's own peak: ru_maxrss would carry over the peak of the (large)
    # pytest process the child was forked from, since exec keeps it
    code = (
        "import re, sys\n"
        "from pathlib import Path\n"
        "from fauxshop.catalog.images import ImageProblem, inspect_image\n"
        "try:\n"
        "    inspect_image(Path(sys.argv[1]))\n"
        "except ImageProblem as e:\n"
        "    status = Path('/proc/self/status').read_text()\n"
        "    print(e.reason, re.search(r'VmHWM:\\s+(\\d+) kB', status).group(1))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(images / "huge.png")], capture_output=True, text=True
    )
    reason, peak_kib = out.stdout.split()
    assert reason == "image_too_large" and int(peak_kib) < 300_000, out.stderr


@pytest.mark.parametrize("fmt, cut", [("JPEG", 200), ("JPEG", 0.5), ("WEBP", 0.5), ("PNG", 0.5)])
def test_truncated_photo_is_image_truncated(tmp_path, store, images, fmt, cut):
    data = png_bytes((64, 64), fmt=fmt)
    (images / "cut.img").write_bytes(data[: cut if isinstance(cut, int) else int(len(data) * cut)])
    ingest_jsonl_with(tmp_path, store, images, [{"sku": "X", "image": "cut.img"}])
    assert rejected_reason(store, "X") == "image_truncated"


def test_cli_ingest_takes_outside_images_only_when_allowed(tmp_path, images):
    from fauxshop.catalog.store import Store
    from fauxshop.cli import main

    (tmp_path / "secret.png").write_bytes(png_bytes())
    table = tmp_path / "catalog.jsonl"
    table.write_text(json.dumps({"sku": "ABS", "image": str(tmp_path / "secret.png")}) + "\n")
    args = ["ingest", str(table), "--images", str(images), "--workdir", str(tmp_path / "w")]
    assert main(args) == 0
    with Store(tmp_path / "w" / "catalog.db") as store:
        assert rejected_reason(store, "ABS") == "image_outside_dir"
    assert main([*args, "--allow-images-outside"]) == 0
    with Store(tmp_path / "w" / "catalog.db") as store:
        assert store.product("ABS")["status"] == "ingested"


def test_quick_probe_finds_no_crash_no_loss_and_no_failed_concurrent_ingest():
    script = Path(__file__).parents[1] / "bench" / "probe_ingest.py"
    env = dict(os.environ, FAUXSHOP_QUIET="1")
    out = subprocess.run(
        [sys.executable, str(script), "--quick", "--json"], capture_output=True, text=True, env=env
    )
    assert out.returncode == 0, out.stderr
    counts = json.loads(out.stdout.strip().splitlines()[-1])
    assert counts["bad rows rejected with a reason"] == counts["bad rows"] > 0
    assert counts["concurrent trials"] >= 2
    assert counts["ingests killed"] >= 1
    zero = ("crashes", "good rows lost", "concurrent trials failed", "killed runs left running")
    assert {name: counts[name] for name in zero} == dict.fromkeys(zero, 0)
