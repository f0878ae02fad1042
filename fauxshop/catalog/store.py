"""The catalog store: one SQLite file per workspace.

Products from every source land here, with their status through the pipeline
(ingested → kept | pruned, or rejected at ingest with a reason). Rows that are
too broken to become a product (no sku, malformed, duplicate sku) go to
`ingest_rejects` with file, row and reason, so nothing a user gave is lost.

Several processes may use one store at once (two ingests, a prune beside the studio): every
write transaction takes the write lock when it begins (BEGIN IMMEDIATE), so none fails on a
stale snapshot, and a busy timeout makes the others wait for it. Migrations run inside such a
transaction and re-read the schema version there, so only the first process migrates.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path

from fauxshop.errors import FauxshopError

SPLITS = ("train", "val", "test")
STATUSES = ("ingested", "kept", "pruned", "rejected")

# Each entry moves the schema one version up; PRAGMA user_version records where a file stands.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE products (
        id             INTEGER PRIMARY KEY,
        sku            TEXT NOT NULL UNIQUE,
        title          TEXT NOT NULL DEFAULT '',
        description    TEXT NOT NULL DEFAULT '',
        category       TEXT NOT NULL DEFAULT '',
        attributes     TEXT NOT NULL DEFAULT '{}',
        image_path     TEXT,
        image_sha256   TEXT,
        width          INTEGER,
        height         INTEGER,
        source         TEXT NOT NULL,
        split          TEXT NOT NULL DEFAULT 'train' CHECK (split IN ('train', 'val', 'test')),
        status         TEXT NOT NULL DEFAULT 'ingested'
                       CHECK (status IN ('ingested', 'kept', 'pruned', 'rejected')),
        reject_reason  TEXT,
        reject_detail  TEXT,
        measurements   TEXT NOT NULL DEFAULT '{}',
        fingerprint    TEXT NOT NULL,
        created_at     TEXT NOT NULL,
        updated_at     TEXT NOT NULL
    );
    CREATE INDEX products_status ON products(status, category);
    CREATE TABLE ingest_rejects (
        id          INTEGER PRIMARY KEY,
        source      TEXT NOT NULL,
        row_number  INTEGER NOT NULL,
        sku         TEXT,
        reason      TEXT NOT NULL,
        detail      TEXT NOT NULL DEFAULT '',
        raw         TEXT NOT NULL DEFAULT '',
        created_at  TEXT NOT NULL,
        UNIQUE (source, row_number)
    );
    CREATE TABLE runs (
        id           INTEGER PRIMARY KEY,
        kind         TEXT NOT NULL,
        path         TEXT,
        config       TEXT NOT NULL DEFAULT '{}',
        summary      TEXT NOT NULL DEFAULT '{}',
        status       TEXT NOT NULL DEFAULT 'running'
                     CHECK (status IN ('running', 'finished', 'failed')),
        started_at   TEXT NOT NULL,
        finished_at  TEXT
    );
    CREATE TABLE generated_products (
        id           INTEGER PRIMARY KEY,
        sku          TEXT NOT NULL UNIQUE,
        run_id       INTEGER REFERENCES runs(id) ON DELETE SET NULL,
        title        TEXT NOT NULL DEFAULT '',
        description  TEXT NOT NULL DEFAULT '',
        category     TEXT NOT NULL DEFAULT '',
        attributes   TEXT NOT NULL DEFAULT '{}',
        image_path   TEXT,
        status       TEXT NOT NULL DEFAULT 'accepted',
        checks       TEXT NOT NULL DEFAULT '{}',
        provenance   TEXT NOT NULL DEFAULT '{}',
        nearest_product_id INTEGER REFERENCES products(id) ON DELETE SET NULL,
        created_at   TEXT NOT NULL
    );
    """,
    # Runs record the host and process running them, and may end 'interrupted'. SQLite can't
    # change a CHECK in place: the table is rebuilt (foreign keys are off while migrating).
    """
    CREATE TABLE runs_new (
        id           INTEGER PRIMARY KEY,
        kind         TEXT NOT NULL,
        path         TEXT,
        config       TEXT NOT NULL DEFAULT '{}',
        summary      TEXT NOT NULL DEFAULT '{}',
        status       TEXT NOT NULL DEFAULT 'running'
                     CHECK (status IN ('running', 'finished', 'failed', 'interrupted')),
        started_at   TEXT NOT NULL,
        finished_at  TEXT,
        host         TEXT,
        pid          INTEGER
    );
    INSERT INTO runs_new (id, kind, path, config, summary, status, started_at, finished_at)
        SELECT id, kind, path, config, summary, status, started_at, finished_at FROM runs;
    DROP TABLE runs;
    ALTER TABLE runs_new RENAME TO runs;
    CREATE INDEX runs_running ON runs(status, host);
    """,
    # The studio's shared state, so any worker, and a restarted server, can answer: products
    # composed ahead for the home page (each handed out once), and projected latents by id.
    """
    CREATE TABLE product_pool (
        id          INTEGER PRIMARY KEY,
        models      TEXT NOT NULL,
        product     TEXT NOT NULL,
        created_at  TEXT NOT NULL
    );
    CREATE INDEX product_pool_models ON product_pool(models, id);
    CREATE TABLE studio_latents (
        id          TEXT PRIMARY KEY,
        tensors     BLOB NOT NULL,
        created_at  REAL NOT NULL
    );
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)
BUSY_TIMEOUT_S = 60.0  # how long a write waits for another process's transaction


def enable_wal(db, timeout_s: float = BUSY_TIMEOUT_S) -> None:
    """Switch the file to WAL. Two processes opening a fresh store at once can each hold a
    shared lock and want the other's: SQLite answers "database is locked" at once, without
    its busy timeout, so the switch is retried here until `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            db.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class ProductRecord:
    """One catalog product as ingest hands it to the store."""

    sku: str
    source: str
    title: str = ""
    description: str = ""
    category: str = ""
    attributes: dict = field(default_factory=dict)
    image_path: str | None = None
    image_sha256: str | None = None
    width: int | None = None
    height: int | None = None
    split: str = "train"
    status: str = "ingested"
    reject_reason: str | None = None
    reject_detail: str | None = None

    def fingerprint(self) -> str:
        """Hash of everything ingest decides, so re-ingesting the same row changes nothing."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}  # asdict deep-copies: slow
        payload = json.dumps(values, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(payload.encode()).hexdigest()


class StoreError(FauxshopError):
    """The store file cannot be used as it is (e.g. written by a newer fauxshop)."""


class Store:
    """The workspace's SQLite catalog (WAL, foreign keys, versioned schema)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        self.db.row_factory = sqlite3.Row
        enable_wal(self.db)
        self.db.execute("PRAGMA synchronous = NORMAL")
        self._migrate()
        self.db.execute("PRAGMA foreign_keys = ON")
        self._mark_interrupted_runs()

    # -- schema -----------------------------------------------------------------
    @property
    def schema_version(self) -> int:
        return self.db.execute("PRAGMA user_version").fetchone()[0]

    def _migrate(self) -> None:
        """Bring the schema up to SCHEMA_VERSION, in one transaction holding the write lock.

        The version is read again once the lock is held: another process may have migrated
        while this one waited. Foreign keys are off (they can't change inside a transaction),
        so rebuilding a table doesn't cascade to the rows that point at it.
        """
        if self._checked_version() == SCHEMA_VERSION:
            return
        with self.transaction():
            version = self._checked_version()
            for target, script in enumerate(MIGRATIONS[version:], start=version + 1):
                # executescript would commit the transaction first: run statement by statement.
                for statement in _statements(script):
                    self.db.execute(statement)
                self.db.execute(f"PRAGMA user_version = {target}")

    def _checked_version(self) -> int:
        version = self.schema_version
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path}: schema version {version} is newer than this fauxshop "
                f"({SCHEMA_VERSION}); upgrade fauxshop"
            )
        return version

    def _mark_interrupted_runs(self) -> None:
        """Mark 'interrupted' the runs on this host whose process is gone.

        A run records the host name and pid of the process that started it. A process that
        ends normally, or by an exception or Ctrl-C, records how the run ended itself; one
        killed outright (SIGKILL, the OOM killer, a power cut) can't, and its run would stay
        'running' forever. So whoever opens the store next looks: a run still 'running' on
        this host whose pid no longer exists can never finish. Runs of other hosts (a store on
        a shared disk) are left as they are, as are runs from before pids were recorded:
        their processes can't be seen from here. A pid reused by a new process keeps a dead
        run 'running' until that one ends too; the rule may be late, but never marks a live
        run interrupted.
        """
        host = socket.gethostname()
        running = self.db.execute(
            "SELECT id, pid FROM runs WHERE status = 'running' AND host = ?", (host,)
        ).fetchall()
        for run in running:
            if _process_exists(run["pid"]):
                continue
            error = f"process {run['pid']} on {host} ended without finishing the run"
            self.db.execute(
                "UPDATE runs SET status = 'interrupted', summary = ?, finished_at = ?"
                " WHERE id = ? AND status = 'running'",
                (json.dumps({"error": error}), _now(), run["id"]),
            )

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def transaction(self):
        """`with store.transaction():` groups writes into one commit (and one fsync)."""
        return _Transaction(self.db)

    # -- products ---------------------------------------------------------------
    def upsert_products(self, records: Iterable[ProductRecord]) -> Counter:
        """Insert new skus, update changed ones in place; returns added/updated/unchanged."""
        counts: Counter = Counter()
        now = _now()
        with self.transaction():
            for rec in records:
                fp = rec.fingerprint()
                row = self.db.execute(
                    "SELECT id, fingerprint FROM products WHERE sku = ?", (rec.sku,)
                ).fetchone()
                values = (
                    rec.title,
                    rec.description,
                    rec.category,
                    json.dumps(rec.attributes, sort_keys=True, ensure_ascii=False),
                    rec.image_path,
                    rec.image_sha256,
                    rec.width,
                    rec.height,
                    rec.source,
                    rec.split,
                    rec.status,
                    rec.reject_reason,
                    rec.reject_detail,
                    fp,
                )
                if row is None:
                    self.db.execute(
                        "INSERT INTO products (title, description, category, attributes,"
                        " image_path, image_sha256, width, height, source, split, status,"
                        " reject_reason, reject_detail, fingerprint, sku, created_at, updated_at)"
                        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                        (*values, rec.sku, now, now),
                    )
                    counts["added"] += 1
                elif row["fingerprint"] != fp:
                    # A changed product goes back through prune: its old verdict no longer holds.
                    self.db.execute(
                        "UPDATE products SET title=?, description=?, category=?, attributes=?,"
                        " image_path=?, image_sha256=?, width=?, height=?, source=?, split=?,"
                        " status=?, reject_reason=?, reject_detail=?, fingerprint=?,"
                        " measurements='{}',"
                        " updated_at=? WHERE id=?",
                        (*values, now, row["id"]),
                    )
                    counts["updated"] += 1
                else:
                    counts["unchanged"] += 1
        return counts

    def save_generated(self, rows: Iterable[dict]) -> int:
        """Insert or replace composed products by sku (title, description, category,
        attributes, image_path, status, checks, provenance, nearest_sku); returns the count."""
        now, count = _now(), 0
        with self.transaction():
            for row in rows:
                nearest = self.product(row["nearest_sku"]) if row.get("nearest_sku") else None
                self.db.execute(
                    "INSERT OR REPLACE INTO generated_products (sku, title, description,"
                    " category, attributes, image_path, status, checks, provenance,"
                    " nearest_product_id, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    (
                        row["sku"], row["title"], row["description"], row["category"],
                        json.dumps(row["attributes"], sort_keys=True, ensure_ascii=False),
                        row.get("image_path"), row["status"],
                        json.dumps(row["checks"], sort_keys=True),
                        json.dumps(row["provenance"], sort_keys=True),
                        nearest["id"] if nearest is not None else None, now,
                    ),
                )  # fmt: skip
                count += 1
        return count

    def generated(self, status: str | None = None) -> list[sqlite3.Row]:
        sql, args = "SELECT * FROM generated_products", ()
        if status is not None:
            sql, args = sql + " WHERE status = ?", (status,)
        return self.db.execute(sql + " ORDER BY id", args).fetchall()

    def highest_generated_seed(self, models: dict[str, str]) -> int | None:
        """The highest seed a composed product made with exactly these models' hashes was
        tried with, accepted or not (None: none yet): where a new run's seeds continue.
        `design`'s records (their provenance names a "request") share the models but count
        their seeds apart, so they are left out."""
        rows = self.db.execute("SELECT provenance FROM generated_products").fetchall()
        provenances = (json.loads(row["provenance"]) for row in rows)
        seeds = (p["seed"] for p in provenances if p.get("models") == models and "request" not in p)
        return max(seeds, default=None)

    # -- the studio's pooled products and projected latents ------------------------
    def pool_add(self, models: str, product: dict) -> None:
        """Keep a composed product for the home page of the studio serving `models`."""
        self.db.execute(
            "INSERT INTO product_pool (models, product, created_at) VALUES (?,?,?)",
            (models, json.dumps(product, sort_keys=True), _now()),
        )

    def pool_take(self, models: str) -> dict | None:
        """The oldest pooled product for `models`, removed in the same statement, so two
        workers never hand out the same one (None: the pool is empty)."""
        row = self.db.execute(
            "DELETE FROM product_pool WHERE id = (SELECT id FROM product_pool WHERE models = ?"
            " ORDER BY id LIMIT 1) RETURNING product",
            (models,),
        ).fetchone()
        return None if row is None else json.loads(row["product"])

    def pool_count(self, models: str | None = None) -> int:
        """Pooled products for `models` (None: for any)."""
        if models is None:
            return self.db.execute("SELECT COUNT(*) FROM product_pool").fetchone()[0]
        sql = "SELECT COUNT(*) FROM product_pool WHERE models = ?"
        return self.db.execute(sql, (models,)).fetchone()[0]

    def keep_latent(self, latent_id: str, tensors: bytes, max_kept: int, max_age_s: float) -> None:
        """Store a projection's tensors under its id, dropping those older than `max_age_s`
        and the oldest beyond `max_kept`: uploads would otherwise grow the file forever."""
        now = datetime.now(UTC).timestamp()
        with self.transaction():
            self.db.execute(
                "INSERT INTO studio_latents (id, tensors, created_at) VALUES (?,?,?)",
                (latent_id, tensors, now),
            )
            self.db.execute("DELETE FROM studio_latents WHERE created_at < ?", (now - max_age_s,))
            self.db.execute(
                "DELETE FROM studio_latents WHERE rowid NOT IN"
                " (SELECT rowid FROM studio_latents ORDER BY rowid DESC LIMIT ?)",
                (max_kept,),
            )

    def latent(self, latent_id: str, max_age_s: float) -> bytes | None:
        """A kept projection's tensors, None if unknown or expired."""
        oldest = datetime.now(UTC).timestamp() - max_age_s
        row = self.db.execute(
            "SELECT tensors FROM studio_latents WHERE id = ? AND created_at >= ?",
            (latent_id, oldest),
        ).fetchone()
        return None if row is None else row["tensors"]

    def products(
        self,
        status: str | Iterable[str] | None = None,
        category: str | None = None,
        split: str | None = None,
        source: str | None = None,
    ) -> Iterator[sqlite3.Row]:
        """Products in id order, filtered by status (one or several), category, split, source."""
        where, args = [], []
        if status is not None:
            statuses = [status] if isinstance(status, str) else list(status)
            where.append(f"status IN ({','.join('?' * len(statuses))})")
            args += statuses
        for column, value in (("category", category), ("split", split), ("source", source)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        sql = "SELECT * FROM products"
        if where:
            sql += " WHERE " + " AND ".join(where)
        yield from self.db.execute(sql + " ORDER BY id", args)

    def product(self, sku: str) -> sqlite3.Row | None:
        return self.db.execute("SELECT * FROM products WHERE sku = ?", (sku,)).fetchone()

    def count(self, status: str | None = None) -> int:
        if status is None:
            return self.db.execute("SELECT COUNT(*) FROM products").fetchone()[0]
        return self.db.execute(
            "SELECT COUNT(*) FROM products WHERE status = ?", (status,)
        ).fetchone()[0]

    def status_counts(self) -> dict[str, int]:
        rows = self.db.execute("SELECT status, COUNT(*) FROM products GROUP BY status")
        return {status: n for status, n in rows}

    def set_verdict(self, product_id: int, status: str, reason: str | None, measurements: dict):
        """Record prune's decision; the measurements stay for inspection either way."""
        if status not in ("kept", "pruned"):
            raise StoreError(f"prune cannot set status {status!r}")
        self.db.execute(
            "UPDATE products SET status=?, reject_reason=?, measurements=?, updated_at=?"
            " WHERE id=?",
            (status, reason, json.dumps(measurements, sort_keys=True), _now(), product_id),
        )

    # -- rows that never became products -----------------------------------------
    def replace_ingest_rejects(self, source: str, rejects: Iterable[dict]) -> int:
        """Replace the recorded bad rows of one source (re-ingesting refreshes them)."""
        now = _now()
        with self.transaction():
            self.db.execute("DELETE FROM ingest_rejects WHERE source = ?", (source,))
            n = 0
            for r in rejects:
                self.db.execute(
                    "INSERT INTO ingest_rejects (source, row_number, sku, reason, detail, raw,"
                    " created_at) VALUES (?,?,?,?,?,?,?)",
                    (
                        source,
                        r["row"],
                        r.get("sku"),
                        r["reason"],
                        r.get("detail", ""),
                        r.get("raw", ""),
                        now,
                    ),
                )
                n += 1
        return n

    def ingest_rejects(self, source: str | None = None) -> list[sqlite3.Row]:
        if source is None:
            return self.db.execute("SELECT * FROM ingest_rejects ORDER BY id").fetchall()
        return self.db.execute(
            "SELECT * FROM ingest_rejects WHERE source = ? ORDER BY row_number", (source,)
        ).fetchall()

    # -- runs ---------------------------------------------------------------------
    def start_run(self, kind: str, config: dict, path: str | None = None) -> int:
        cur = self.db.execute(
            "INSERT INTO runs (kind, path, config, started_at, host, pid) VALUES (?,?,?,?,?,?)",
            (
                kind,
                path,
                json.dumps(config, sort_keys=True, default=str),
                _now(),
                socket.gethostname(),
                os.getpid(),
            ),
        )
        return cur.lastrowid

    @contextlib.contextmanager
    def recorded_run(self, kind: str, config: dict, summary: Callable[[], dict]):
        """Record a run around a block: finished with `summary()`, failed with the error, or
        interrupted (Ctrl-C, exit)."""
        run_id = self.start_run(kind, config)
        try:
            yield run_id
        except BaseException as e:
            status = "failed" if isinstance(e, Exception) else "interrupted"
            self.finish_run(run_id, {**summary(), "error": str(e) or type(e).__name__}, status)
            raise
        self.finish_run(run_id, summary())

    def finish_run(self, run_id: int, summary: dict, status: str = "finished") -> None:
        self.db.execute(
            "UPDATE runs SET summary=?, status=?, finished_at=? WHERE id=?",
            (json.dumps(summary, sort_keys=True, default=str), status, _now(), run_id),
        )


def _statements(script: str) -> Iterator[str]:
    """The SQL statements of `script`, one by one (statements end at a line's end)."""
    statement = ""
    for line in script.splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):
            yield statement
            statement = ""


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


class _Transaction:
    """Takes the write lock at BEGIN (IMMEDIATE): a transaction that read first and wrote later
    would fail at once, busy timeout or not, if another process wrote in between."""

    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def __enter__(self):
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type, *exc):
        self.db.execute("ROLLBACK" if exc_type else "COMMIT")
