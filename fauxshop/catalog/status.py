"""A plain-text summary of what a workspace's store holds."""

from __future__ import annotations

import json

from fauxshop.catalog.store import Store


def format_status(store: Store) -> str:
    db = store.db
    lines = [f"store: {store.path} (schema v{store.schema_version})"]
    counts = store.status_counts()
    lines.append(f"products: {sum(counts.values())}")
    lines += [f"  {status:<9} {n:>8}" for status, n in sorted(counts.items())]

    kept = db.execute(
        "SELECT category, COUNT(*) FROM products WHERE status = 'kept'"
        " GROUP BY category ORDER BY COUNT(*) DESC"
    ).fetchall()
    if kept:
        lines.append("kept per category:")
        lines += [f"  {category or '(none)':<12} {n:>8}" for category, n in kept]

    reasons = db.execute(
        "SELECT reject_reason, COUNT(*) FROM products WHERE reject_reason IS NOT NULL"
        " GROUP BY reject_reason ORDER BY COUNT(*) DESC"
    ).fetchall()
    if reasons:
        lines.append("rejected or pruned, per reason:")
        lines += [f"  {reason:<20} {n:>6}" for reason, n in reasons]

    bad_rows = db.execute(
        "SELECT reason, COUNT(*) FROM ingest_rejects GROUP BY reason ORDER BY COUNT(*) DESC"
    ).fetchall()
    if bad_rows:
        lines.append("table rows that could not become products:")
        lines += [f"  {reason:<20} {n:>6}" for reason, n in bad_rows]

    runs = db.execute("SELECT * FROM runs ORDER BY id DESC LIMIT 5").fetchall()
    if runs:
        lines.append("latest runs:")
        for run in runs:
            summary = json.loads(run["summary"])
            short = ", ".join(f"{k}={v}" for k, v in summary.items() if isinstance(v, int | str))
            lines.append(f"  #{run['id']} {run['kind']:<8} {run['status']:<8} {short}"[:160])
    return "\n".join(lines)
