"""Probe ingest with hostile input, concurrent ingests and killed ingests.

Builds its own inputs in a temp folder: good rows with each hostile row kind mixed among them
(a 5,000-digit integer, attributes nested 900 and 100,000 deep, a lone surrogate, a field over
the limit, an absolute image path, a symlink out of the images folder, a 512 MiB non-image
file, a truncated JPEG) as JSONL, CSV and CSV with CR-only line endings. Each ingest runs in
a child process, as `fauxshop ingest` would. Then two ingests at once, into a fresh store and
into an existing one; then ingests killed mid-run, and whether their runs still say 'running'.

    .venv/bin/python bench/probe_ingest.py           # 1,200 good rows a table, 8 + 8 trials
    .venv/bin/python bench/probe_ingest.py --quick   # a few seconds
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from fauxshop.catalog.store import Store
from fauxshop.catalog.tables import MAX_FIELD_CHARS
from fauxshop.markdown import markdown_table
from fauxshop.workspace import Workspace

# What `fauxshop ingest TABLE --images DIR --workdir WORK` runs (the verb itself also imports
# the Fashion-MNIST reader, and with it torch: seconds per child that probe nothing).
INGEST = """
import sys
from pathlib import Path
from fauxshop.catalog.ingest import ingest_table
from fauxshop.catalog.store import Store
from fauxshop.workspace import Workspace
table, images, work = map(Path, sys.argv[1:])
with Store(Workspace.open(work).db_path) as store:
    print(ingest_table(store, table, images).format())
"""
GOOD_IMAGES = 4


@dataclass(frozen=True)
class Hostile:
    kind: str
    reason: str  # the reason it must be rejected with
    product: bool  # rejected as a product (image problems) rather than as a row
    title: str = "hostile"
    image: str = "good0.png"
    attributes: str = ""  # JSON text


HOSTILE = (
    Hostile("5,000-digit integer", "over_limit", False, attributes='{"n": ' + "7" * 5000 + "}"),
    Hostile(
        "nested 900 deep", "over_limit", False, attributes='{"a": ' + "[" * 900 + "]" * 900 + "}"
    ),
    Hostile(
        "nested 100,000 deep",
        "over_limit",
        False,
        attributes='{"a": ' + "[" * 100_000 + "]" * 100_000 + "}",
    ),
    Hostile("lone surrogate in title", "not_utf8", False, title="bad \ud800 title"),
    Hostile("field over the limit", "over_limit", False, title="x" * (MAX_FIELD_CHARS + 1)),
    Hostile("absolute image path", "image_outside_dir", True, image="/etc/passwd"),
    Hostile("symlink out of images", "image_outside_dir", True, image="link.png"),
    Hostile("512 MiB non-image file", "image_too_large", True, image="huge.bin"),
    Hostile("truncated JPEG", "image_truncated", True, image="cut.jpg"),
)


def png(size: int, seed: int, fmt: str = "PNG") -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, fmt)
    return buffer.getvalue()


def make_images(root: Path) -> Path:
    images = root / "images"
    images.mkdir()
    for i in range(GOOD_IMAGES):
        (images / f"good{i}.png").write_bytes(png(16, i))
    (root / "outside.png").write_bytes(png(16, 9))
    (images / "link.png").symlink_to(root / "outside.png")
    with open(images / "huge.bin", "wb") as f:
        f.truncate(512 << 20)  # sparse: no disk, but 512 MiB if read
    jpeg = png(64, 5, "JPEG")
    (images / "cut.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    (images / "big.png").write_bytes(png(384, 7))
    return images


@dataclass
class Row:
    sku: str
    title: str
    image: str
    attributes: str
    hostile: Hostile | None = None


def catalog(prefix: str, good: int, seed: int, hostile: bool = True) -> list[Row]:
    rows = [
        Row(f"{prefix}{i}", f"Good {i}", f"good{i % GOOD_IMAGES}.png", '{"colour": "red"}')
        for i in range(good)
    ]
    if hostile:
        rng = random.Random(seed)
        for j, h in enumerate(HOSTILE):
            row = Row(f"{prefix}-bad{j}", h.title, h.image, h.attributes, h)
            rows.insert(rng.randrange(len(rows) + 1), row)
    return rows


def jsonl_line(row: Row) -> str:
    """Built as text: json.dumps can't even write a 5,000-digit integer."""
    fields = {"sku": row.sku, "title": row.title, "image": row.image}
    text = json.dumps(fields)  # the lone surrogate becomes the escape \\ud800
    return text[:-1] + (f', "attributes": {row.attributes}}}' if row.attributes else "}")


def write_table(path: Path, rows: list[Row], fmt: str) -> dict[int, Row]:
    """Write `rows`; returns them by the line number a reject will name."""
    if fmt == "jsonl":
        path.write_text("".join(jsonl_line(r) + "\n" for r in rows), encoding="utf-8")
        return {i + 1: r for i, r in enumerate(rows)}
    ending = "\r" if fmt == "csv-cr" else "\r\n"
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=ending)
    writer.writerow(["sku", "title", "image", "attributes"])
    writer.writerows([r.sku, r.title, r.image, r.attributes] for r in rows)
    path.write_bytes(out.getvalue().encode("utf-8", "surrogatepass"))  # \ud800: invalid UTF-8
    return {i + 2: r for i, r in enumerate(rows)}


def start_ingest(table: Path, images: Path, work: Path) -> subprocess.Popen:
    env = dict(os.environ, FAUXSHOP_QUIET="1")
    return subprocess.Popen(
        [sys.executable, "-c", INGEST, str(table), str(images), str(work)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )


def finish(proc: subprocess.Popen) -> tuple[bool, int]:
    """(crashed, peak RSS in MiB) of an ingest child."""
    stderr = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    crashed = proc.returncode != 0 or "Traceback" in stderr
    if crashed:
        print(f"ingest failed ({proc.returncode}): {stderr.strip()[-600:]}", file=sys.stderr)
    return crashed, usage.ru_maxrss // 1024


def db_path(work: Path) -> Path:
    return Workspace.open(work).db_path


def hostile_trials(root: Path, images: Path, good: int) -> dict:
    counts = {"crashes": 0, "good rows lost": 0, "bad rows": 0, "rejected with its reason": 0}
    peak = 0
    for n, fmt in enumerate(("jsonl", "csv", "csv-cr")):
        table = root / f"catalog-{fmt}.{'jsonl' if fmt == 'jsonl' else 'csv'}"
        by_line = write_table(table, catalog("G", good, seed=n), fmt)
        work = root / f"work-{fmt}"
        crashed, rss = finish(start_ingest(table, images, work))
        counts["crashes"] += crashed
        peak = max(peak, rss)
        with Store(db_path(work)) as store:
            rejects = {r["row_number"]: r["reason"] for r in store.ingest_rejects()}
            for line, row in by_line.items():
                product = store.product(row.sku)
                if row.hostile is None:
                    counts["good rows lost"] += product is None or product["status"] != "ingested"
                    continue
                counts["bad rows"] += 1
                if row.hostile.product:
                    found = product["reject_reason"] if product else None
                else:
                    found = rejects.get(line)
                if found == row.hostile.reason:
                    counts["rejected with its reason"] += 1
                else:
                    print(f"{fmt} line {line} {row.hostile.kind}: {found}", file=sys.stderr)
    return {**counts, "peak ingest RSS MiB": peak}


def stored_all(work: Path, rows: list[Row]) -> bool:
    with Store(db_path(work)) as store:
        runs = [r["status"] for r in store.db.execute("SELECT status FROM runs")]
        stored = all(store.product(r.sku) is not None for r in rows)
    return stored and set(runs) == {"finished"}


def concurrent_trials(root: Path, images: Path, good: int, trials: int) -> dict:
    existing = root / "work-existing"
    seed_table = root / "seed.jsonl"
    write_table(seed_table, catalog("S", 20, 0, hostile=False), "jsonl")
    finish(start_ingest(seed_table, images, existing))
    failed = total = 0
    for target in ("fresh", "existing"):
        for t in range(trials):
            work = root / f"work-fresh-{t}" if target == "fresh" else existing
            batches = []
            for side in "AB":
                rows = catalog(f"{target}{t}{side}", good, t, hostile=False)
                table = root / f"{target}-{t}-{side}.jsonl"
                write_table(table, rows, "jsonl")
                batches.append((table, rows))
            procs = [start_ingest(table, images, work) for table, _ in batches]
            crashed = [finish(p)[0] for p in procs]
            ok = not any(crashed) and all(stored_all(work, rows) for _, rows in batches)
            failed += not ok
            total += 1
    return {"concurrent trials": total, "concurrent trials failed": failed}


def kill_trials(root: Path, images: Path, trials: int) -> dict:
    """Kill an ingest once its run is recorded; the next open must not leave it 'running'."""
    rows = [Row(f"K{i}", "k", "big.png", "") for i in range(400)]
    table = root / "kill.jsonl"
    write_table(table, rows, "jsonl")
    killed = left_running = 0
    for t in range(trials):
        work = root / f"work-kill-{t}"
        proc = start_ingest(table, images, work)
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            if _running_runs(db_path(work)):
                proc.send_signal(signal.SIGKILL)
                killed += 1
                break
            time.sleep(0.02)
        proc.wait()
        with Store(db_path(work)) as store:
            left_running += store.db.execute(
                "SELECT COUNT(*) FROM runs WHERE status = 'running'"
            ).fetchone()[0]
    return {"ingests killed": killed, "killed runs left running": left_running}


def _running_runs(path: Path) -> int:
    if not path.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1) as db:
            return db.execute("SELECT COUNT(*) FROM runs WHERE status = 'running'").fetchone()[0]
    except sqlite3.Error:  # not created yet
        return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small tables, 1 + 1 trials")
    parser.add_argument("--json", action="store_true", help="also print the counts as JSON")
    args = parser.parse_args()
    good, concurrent_rows, trials, kills = (60, 40, 1, 1) if args.quick else (1200, 1500, 8, 3)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        images = make_images(root)
        start = time.perf_counter()
        counts = {
            **hostile_trials(root, images, good),
            **concurrent_trials(root, images, concurrent_rows, trials),
            **kill_trials(root, images, kills),
        }
        seconds = time.perf_counter() - start
    counts["bad rows rejected with a reason"] = counts.pop("rejected with its reason")
    mode = "quick" if args.quick else "full"
    print(
        f"probe_ingest ({mode}: {good} good rows a table, {len(HOSTILE)} hostile kinds"
        f" x 3 formats, {trials} + {trials} concurrent trials, {seconds:.0f} s)"
    )
    print(markdown_table([{"count": name, "value": value} for name, value in counts.items()]))
    if args.json:
        print(json.dumps(counts))


if __name__ == "__main__":
    main()
