import json
import signal
import sqlite3
import subprocess
import sys
import threading

import pytest

from fauxshop.catalog.store import MIGRATIONS, SCHEMA_VERSION, ProductRecord, Store, StoreError


def test_new_store_is_migrated_in_wal_mode_with_foreign_keys(tmp_path):
    store = Store(tmp_path / "catalog.db")
    assert store.schema_version == SCHEMA_VERSION
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    tables = {r[0] for r in store.db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"products", "ingest_rejects", "runs", "generated_products"} <= tables


def test_reopening_keeps_data_and_does_not_migrate_again(tmp_path):
    with Store(tmp_path / "c.db") as store:
        store.upsert_products([ProductRecord(sku="A", source="t")])
    with Store(tmp_path / "c.db") as store:
        assert store.count() == 1
        assert store.schema_version == SCHEMA_VERSION


def test_store_from_a_newer_fauxshop_is_refused(tmp_path):
    path = tmp_path / "c.db"
    Store(path).close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(StoreError, match="newer"):
        Store(path)


def test_upsert_is_idempotent_and_updates_changed_rows_in_place(tmp_path):
    store = Store(tmp_path / "c.db")
    records = [ProductRecord(sku=f"S{i}", source="t", title=f"t{i}") for i in range(3)]
    assert store.upsert_products(records) == {"added": 3}
    assert store.upsert_products(records) == {"unchanged": 3}
    first_id = store.product("S1")["id"]
    records[1].title = "new title"
    assert store.upsert_products(records) == {"unchanged": 2, "updated": 1}
    row = store.product("S1")
    assert row["id"] == first_id and row["title"] == "new title"


def test_changed_product_goes_back_through_prune(tmp_path):
    store = Store(tmp_path / "c.db")
    store.upsert_products([ProductRecord(sku="A", source="t")])
    store.set_verdict(store.product("A")["id"], "pruned", "size", {"min_side": 10})
    assert store.product("A")["status"] == "pruned"
    store.upsert_products([ProductRecord(sku="A", source="t", title="changed")])
    row = store.product("A")
    assert row["status"] == "ingested" and row["reject_reason"] is None


def test_failed_transaction_leaves_nothing(tmp_path):
    store = Store(tmp_path / "c.db")
    bad = [ProductRecord(sku="A", source="t"), ProductRecord(sku="B", source="t", split="bogus")]
    with pytest.raises(sqlite3.IntegrityError):
        store.upsert_products(bad)
    assert store.count() == 0


def test_products_filter_and_ingest_rejects_are_replaced_per_source(tmp_path):
    store = Store(tmp_path / "c.db")
    store.upsert_products(
        [
            ProductRecord(sku="A", source="t", category="dress", split="train"),
            ProductRecord(sku="B", source="t", category="skirt", split="test"),
            ProductRecord(sku="C", source="t", status="rejected", reject_reason="image_missing"),
        ]
    )
    assert [r["sku"] for r in store.products(status="ingested", split="test")] == ["B"]
    assert [r["sku"] for r in store.products(status=["ingested", "rejected"])] == ["A", "B", "C"]
    assert store.status_counts() == {"ingested": 2, "rejected": 1}
    store.replace_ingest_rejects("t", [{"row": 4, "reason": "malformed_row", "raw": "{"}])
    store.replace_ingest_rejects("t", [{"row": 5, "reason": "duplicate_sku", "sku": "A"}])
    rows = store.ingest_rejects("t")
    assert [(r["row_number"], r["reason"]) for r in rows] == [(5, "duplicate_sku")]


def test_runs_are_recorded(tmp_path):
    store = Store(tmp_path / "c.db")
    run = store.start_run("ingest", {"table": "x.csv"})
    store.finish_run(run, {"added": 3})
    row = store.db.execute("SELECT * FROM runs WHERE id = ?", (run,)).fetchone()
    assert row["status"] == "finished" and '"added": 3' in row["summary"]


def test_rejected_product_keeps_reason_and_detail(tmp_path):
    store = Store(tmp_path / "c.db")
    record = ProductRecord(
        sku="A",
        source="t",
        status="rejected",
        reject_reason="image_too_large",
        reject_detail="9000x9000 is above the cap",
    )
    store.upsert_products([record])
    row = store.product("A")
    assert row["reject_reason"] == "image_too_large"
    assert row["reject_detail"] == "9000x9000 is above the cap"


def test_a_migration_another_process_finished_first_is_not_run_again(tmp_path, monkeypatch):
    """Two processes opening a fresh store: the one that loses the race waits, then finds the
    schema in place (it used to fail with 'table products already exists')."""
    path = tmp_path / "c.db"
    real = Store.schema_version.fget
    raced = []

    def version_then_race(store):
        version = real(store)
        if not raced:  # the other process migrates right after this one looked
            raced.append(True)
            Store(path).close()
        return version

    monkeypatch.setattr(Store, "schema_version", property(version_then_race))
    with Store(path) as store:
        store.upsert_products([ProductRecord(sku="A", source="t")])
        assert real(store) == SCHEMA_VERSION and store.count() == 1


def test_concurrent_writers_wait_for_each_other(tmp_path):
    """A write transaction takes the write lock at BEGIN, so a writer whose snapshot went stale
    never gets 'database is locked'; the busy timeout makes the other one wait."""
    Store(tmp_path / "c.db").close()
    errors = []

    def write(prefix: str) -> None:
        try:
            with Store(tmp_path / "c.db") as store:
                for i in range(60):
                    batch = [ProductRecord(sku=f"{prefix}{i}-{j}", source=prefix) for j in range(3)]
                    store.upsert_products(batch)
                    store.replace_ingest_rejects(prefix, [{"row": i, "reason": "malformed_row"}])
        except sqlite3.Error as e:
            errors.append(e)

    threads = [threading.Thread(target=write, args=(p,)) for p in "AB"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with Store(tmp_path / "c.db") as store:
        assert store.count() == 2 * 60 * 3


def test_runs_of_a_killed_process_are_marked_interrupted(tmp_path):
    path = tmp_path / "c.db"
    code = (
        "import os, signal, sys\n"
        "from fauxshop.catalog.store import Store\n"
        "store = Store(sys.argv[1])\n"
        "store.start_run('ingest', {})\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    killed = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    with Store(path) as store:
        mine = store.start_run("prune", {})
        runs = {r["id"]: r for r in store.db.execute("SELECT * FROM runs")}
        assert runs[mine]["status"] == "running"  # this process is alive: its run stays
        killed_run = runs[min(runs)]
        assert killed_run["status"] == "interrupted" and killed_run["finished_at"]
        assert "ended without finishing" in json.loads(killed_run["summary"])["error"]
    with Store(path) as store:  # a live run of another store object is left alone
        row = store.db.execute("SELECT status FROM runs WHERE id = ?", (mine,)).fetchone()
        assert row["status"] == "running"


def test_a_run_stopped_by_ctrl_c_is_interrupted_and_an_error_is_failed(tmp_path):
    store = Store(tmp_path / "c.db")
    for error in (KeyboardInterrupt(), ValueError("boom")):
        with pytest.raises(type(error)), store.recorded_run("ingest", {}, dict):
            raise error
    statuses = [r["status"] for r in store.db.execute("SELECT status FROM runs ORDER BY id")]
    assert statuses == ["interrupted", "failed"]


def test_a_version_1_store_is_migrated_keeping_runs_and_their_products(tmp_path):
    path = tmp_path / "c.db"
    db = sqlite3.connect(path, isolation_level=None)
    db.executescript(MIGRATIONS[0] + "\nPRAGMA user_version = 1;")
    db.execute("INSERT INTO runs (kind, started_at) VALUES ('products', 'then')")
    db.execute("INSERT INTO generated_products (sku, run_id, created_at) VALUES ('G', 1, 'then')")
    db.close()
    with Store(path) as store:
        assert store.schema_version == SCHEMA_VERSION
        assert store.db.execute("SELECT run_id FROM generated_products").fetchone()[0] == 1
        assert store.db.execute("SELECT kind, status FROM runs").fetchone()[:] == (
            "products",
            "running",  # no host or pid recorded: nothing says whether it still runs
        )
        assert store.db.execute("PRAGMA foreign_keys").fetchone()[0] == 1


class LockedAtFirst:
    """A connection whose WAL switch meets another opener's lock `times` times first."""

    def __init__(self, times: int, message: str = "database is locked"):
        self.times, self.message, self.calls = times, message, 0

    def execute(self, sql: str):
        self.calls += 1
        if self.calls <= self.times:
            raise sqlite3.OperationalError(self.message)


def test_the_wal_switch_waits_out_another_openers_lock():
    from fauxshop.catalog.store import enable_wal

    db = LockedAtFirst(times=3)
    enable_wal(db)  # "database is locked" at once, the busy timeout not applied: retried
    assert db.calls == 4
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        enable_wal(LockedAtFirst(times=10**6), timeout_s=0.2)  # not forever
    other = LockedAtFirst(times=1, message="disk I/O error")
    with pytest.raises(sqlite3.OperationalError, match="disk I/O"):
        enable_wal(other)  # only a lock is waited for
    assert other.calls == 1


def test_a_products_run_continues_after_its_own_seeds_not_designs(tmp_path):
    models = {"generator": "g1", "tagger": "t1"}

    def row(sku: str, provenance: dict) -> dict:
        return {"sku": sku, "title": "Dress", "description": "A dress.", "category": "dress",
                "attributes": {}, "status": "accepted", "checks": {},
                "provenance": {"models": models, **provenance}}  # fmt: skip

    with Store(tmp_path / "c.db") as store:
        assert store.highest_generated_seed(models) is None
        store.save_generated([row("fake-a", {"seed": 7}), row("fake-b", {"seed": 3})])
        store.save_generated([row("design-a", {"seed": 500, "request": "red dress",
                                               "method": "reject"})])  # fmt: skip
        store.save_generated([row("fake-c", {"seed": 900, "models": {"generator": "g2"}})])
        assert store.highest_generated_seed(models) == 7
