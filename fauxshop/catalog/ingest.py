"""Ingest: a catalog table plus its image folder → products in the store.

Every row ends up somewhere a user can find it. A row with a sku becomes a product; if its
image can't be used the product is stored with status 'rejected' and the image's reason, so
fixing the photo and re-ingesting brings it back. A row that can't be a product at all (no sku
or image, unreadable, over a limit, bad split, a sku seen earlier in the same table) goes to the
store's `ingest_rejects` with its row number and text. Re-ingesting the same table changes
nothing; a changed row is updated in place.

An image path must resolve, symlinks followed, to a file inside the images folder: a table is
data, and data must not make ingest read (and pack ship) /etc/passwd or a private photo. The
user can lift this with `allow_outside` when the photos really live elsewhere.

The table may be a retailer's feed (`feeds.py`: Shopify, Google Merchant), and an image may be
an http(s) URL: `download.py` fetches it into the workspace's cache, and a failed download is a
product stored as 'rejected' with the download's reason, like any unusable photo.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from functools import partial
from itertools import islice
from pathlib import Path
from typing import TypeVar

from fauxshop.catalog.config import DownloadConfig
from fauxshop.catalog.download import Downloader, is_url
from fauxshop.catalog.feeds import read_feed
from fauxshop.catalog.images import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_PIXELS,
    ImageProblem,
    inspect_image,
)
from fauxshop.catalog.store import ProductRecord, Store
from fauxshop.catalog.tables import (
    BadRow,
    CatalogRow,
    ColumnMapping,
    Row,
    to_catalog_row,
)
from fauxshop.progress import progress
from fauxshop.workspace import Workspace

BATCH_SIZE = 500  # products per upsert_products call, i.e. per transaction
T = TypeVar("T")
R = TypeVar("R")


@dataclass
class IngestReport:
    """What one ingest did; `format()` is the text printed at the end of a run."""

    source: str
    rows: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: Counter[str] = field(default_factory=Counter)  # products stored as 'rejected'
    bad_rows: Counter[str] = field(default_factory=Counter)  # rows in ingest_rejects

    @property
    def products(self) -> int:
        return self.added + self.updated + self.unchanged

    def count_upsert(self, counts: Counter) -> None:
        self.added += counts["added"]
        self.updated += counts["updated"]
        self.unchanged += counts["unchanged"]

    def summary(self) -> dict:
        return {**asdict(self), "rejected": dict(self.rejected), "bad_rows": dict(self.bad_rows)}

    def format(self) -> str:
        lines = [
            f"ingest {self.source}: {self.rows} rows",
            f"  products  {self.products:>7}  (added {self.added}, updated {self.updated},"
            f" unchanged {self.unchanged})",
            f"  rejected  {self.rejected.total():>7}  products stored with status 'rejected'",
            *_by_reason(self.rejected),
            f"  bad rows  {self.bad_rows.total():>7}  not products, listed in ingest_rejects",
            *_by_reason(self.bad_rows),
        ]
        return "\n".join(lines)


def _by_reason(counts: Counter[str]) -> list[str]:
    return [f"    {reason:<20}{n:>7}" for reason, n in sorted(counts.items())]


def map_batches(
    pool: Executor, fn: Callable[[T], R], items: Iterable[T], size: int
) -> Iterator[list[R]]:
    """`fn` over `items` in lists of `size`, the next list computing while the caller stores
    this one (one list ahead, so an interrupt waits for little)."""
    it, ahead = iter(items), None
    while batch := list(islice(it, size)):
        current, ahead = ahead, pool.map(fn, batch)
        if current is not None:
            yield list(current)
    if ahead is not None:
        yield list(ahead)


def ingest_table(
    store: Store,
    table: Path,
    images_dir: Path,
    mapping: ColumnMapping | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_bytes: int = DEFAULT_MAX_BYTES,
    allow_outside: bool = False,
    feed_format: str = "auto",
    download: DownloadConfig | None = None,
    downloads_dir: Path | None = None,
) -> IngestReport:
    """Read `table` (a plain table or a feed: `config.FEED_FORMATS`), check every image, under
    `images_dir` or fetched by URL into `downloads_dir` (default: downloads/ beside the store),
    and upsert the products (`allow_outside`: also images whose paths lead outside
    `images_dir`). A user's `mapping` wins over auto-detecting a feed."""
    # A missing file, unknown type or a format that can't be told fails before the run.
    fmt, table_rows, row_mapping = read_feed(table, feed_format, mapping)
    mapping = mapping or ColumnMapping()
    download = download or DownloadConfig()
    downloads_dir = downloads_dir or Workspace(store.path.parent).downloads_dir
    source = str(table.resolve())
    images_root = images_dir.resolve()
    report = IngestReport(source)
    config = {
        "table": source,
        "images_dir": str(images_root),
        "mapping": mapping.columns(),
        "max_pixels": max_pixels,
        "max_bytes": max_bytes,
        "allow_outside": allow_outside,
        "format": fmt,
        "download": asdict(download),
        "downloads_dir": str(downloads_dir.resolve()),
    }
    bad_rows: list[BadRow] = []
    with store.recorded_run("ingest", config, report.summary):
        rows = progress(table_rows, desc=f"ingest {table.name}", unit="row")
        rows = _catalog_rows(rows, row_mapping, report, bad_rows)
        check = partial(
            _product,
            source=source,
            images_root=images_root,
            max_pixels=max_pixels,
            max_bytes=max_bytes,
            allow_outside=allow_outside,
        )
        # Decoding photos dominates; Pillow and hashlib release the GIL, so threads help.
        # Downloads run in the downloader's own pool, started as rows are read (two batches
        # ahead), and the checks wait for them; on Ctrl-C it is closed first, dropping its queue.
        with (
            ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool,
            Downloader(downloads_dir, download) as downloader,
        ):
            items = (
                (row, downloader.submit(row.image) if is_url(row.image) else None) for row in rows
            )
            for records in map_batches(pool, check, items, BATCH_SIZE):
                report.rejected.update(r.reject_reason for r in records if r.status == "rejected")
                report.count_upsert(store.upsert_products(records))
        store.replace_ingest_rejects(source, [bad.as_reject() for bad in bad_rows])
    return report


def _catalog_rows(
    rows: Iterable[Row | BadRow], mapping: ColumnMapping, report: IngestReport, bad: list[BadRow]
) -> Iterator[CatalogRow]:
    """Rows that can be products, first occurrence of each sku; the rest go to `bad`."""
    first_seen: dict[str, int] = {}
    for row in rows:
        report.rows += 1
        item = to_catalog_row(row, mapping) if isinstance(row, Row) else row
        if isinstance(item, CatalogRow) and item.sku in first_seen:
            detail = f"sku {item.sku!r} first appears in row {first_seen[item.sku]}"
            item = BadRow(item.number, "duplicate_sku", detail, item.raw, item.sku)
        if isinstance(item, BadRow):
            bad.append(item)
            report.bad_rows[item.reason] += 1
            continue
        first_seen[item.sku] = item.number
        yield item


def _product(
    item: tuple[CatalogRow, Future | None],
    source: str,
    images_root: Path,
    max_pixels: int,
    max_bytes: int,
    allow_outside: bool,
) -> ProductRecord:
    """The row as a product: checked image facts, or status 'rejected' and the image's reason
    (a URL's image is the downloader's file, in `item`'s future)."""
    row, download = item
    record = ProductRecord(
        sku=row.sku,
        source=source,
        title=row.title,
        description=row.description,
        category=row.category,
        attributes=row.attributes,
        split=row.split,
    )
    try:
        if download is not None:
            record.attributes = {**row.attributes, "image_url": row.image}
            path = download.result()
            record.image_path = str(path)
            info = inspect_image(path, max_pixels, max_bytes)
            record.image_sha256, record.width, record.height = info.sha256, info.width, info.height
            return record
        if "\0" in row.image:
            raise ImageProblem("image_missing", "the image path holds a NUL byte")
        try:
            path = (images_root / row.image).resolve()
        except (OSError, RuntimeError) as e:  # a symlink loop, a name too long
            raise ImageProblem("image_missing", f"{row.image!r}: {e}") from None
        record.image_path = str(path)
        if not (allow_outside or path.is_relative_to(images_root)):
            detail = f"{row.image!r} resolves to {path}, outside {images_root}"
            raise ImageProblem("image_outside_dir", detail)
        info = inspect_image(path, max_pixels, max_bytes)
    except ImageProblem as problem:
        record.status, record.reject_reason = "rejected", problem.reason
        record.reject_detail = problem.detail
        return record
    record.image_sha256, record.width, record.height = info.sha256, info.width, info.height
    return record
