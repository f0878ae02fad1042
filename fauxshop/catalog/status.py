"""A plain-text summary of what a workspace's store holds."""

from __future__ import annotations

import json

from fauxshop.catalog.store import Store

# (heading, query giving (name, count) rows), shown only when the query finds rows.
COUNT_SECTIONS = (
    (
        "kept per category:",
        "SELECT category, COUNT(*) FROM products WHERE status = 'kept'"
        " GROUP BY category ORDER BY COUNT(*) DESC",
    ),
    (
        "rejected or pruned, per reason:",
        "SELECT reject_reason, COUNT(*) FROM products WHERE reject_reason IS NOT NULL"
        " GROUP BY reject_reason ORDER BY COUNT(*) DESC",
    ),
    (
        "table rows that could not become products:",
        "SELECT reason, COUNT(*) FROM ingest_rejects GROUP BY reason ORDER BY COUNT(*) DESC",
    ),
)


def format_status(store: Store) -> str:
    db = store.db
    lines = [f"store: {store.path} (schema v{store.schema_version})"]
    counts = store.status_counts()
    lines.append(f"products: {sum(counts.values())}")
    lines += [f"  {status:<9} {n:>8}" for status, n in sorted(counts.items())]

    for title, sql in COUNT_SECTIONS:
        rows = db.execute(sql).fetchall()
        if rows:
            lines.append(title)
            lines += [f"  {name or '(none)':<20} {n:>8}" for name, n in rows]

    runs = db.execute("SELECT * FROM runs ORDER BY id DESC LIMIT 5").fetchall()
    if runs:
        lines.append("latest runs:")
        for run in runs:
            summary = json.loads(run["summary"])
            short = ", ".join(f"{k}={v}" for k, v in summary.items() if isinstance(v, int | str))
            lines.append(f"  #{run['id']} {run['kind']:<8} {run['status']:<8} {short}"[:160])
    return "\n".join(lines)
