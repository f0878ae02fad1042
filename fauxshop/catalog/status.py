"""A plain-text summary of a workspace: what its store holds, the products composed from it,
and how far the training runs in its runs/ folder got (read from their sidecars, so it answers
at once: no model is loaded)."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

from fauxshop.catalog.store import Store
from fauxshop.training_run import RunProgress, run_progress

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


def format_status(store: Store, runs_dir: Path | None = None) -> str:
    """The store's products, rejects and recorded runs, the composed products per products
    run, and (given `runs_dir`) every training run in it."""
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
    lines += _generated_lines(store)
    if runs_dir is not None:
        lines += _training_lines(runs_dir)
    return "\n".join(lines)


def _generated_lines(store: Store, newest: int = 5) -> list[str]:
    """Composed products per products run (rows one run saved share its run id and time),
    newest first, with the gallery its accepted photos went to."""
    rows = store.db.execute(
        "SELECT run_id, created_at, status, COUNT(*) AS n, MAX(image_path) AS image"
        " FROM generated_products GROUP BY run_id, created_at, status"
    ).fetchall()
    if not rows:
        return []
    runs: dict[tuple, Counter] = {}
    galleries: dict[tuple, str] = {}
    for row in rows:
        key = (row["created_at"], row["run_id"] or 0)
        runs.setdefault(key, Counter())[row["status"]] += row["n"]
        if row["image"]:
            galleries[key] = str(Path(row["image"]).parent.parent)
    total = Counter()
    for counts in runs.values():
        total.update(counts)
    lines = [f"generated products: {total.total()} ({_counts(total)}), per products run:"]
    for key in sorted(runs, reverse=True)[:newest]:
        gallery = galleries.get(key, "no photos saved")
        lines.append(f"  {key[0]}  {_counts(runs[key]):<26} {gallery}")
    if len(runs) > newest:
        lines.append(f"  ... and {len(runs) - newest} older runs")
    return lines


def _counts(counts: Counter) -> str:
    return ", ".join(f"{status} {n}" for status, n in sorted(counts.items()))


def _training_lines(runs_dir: Path) -> list[str]:
    """One line per training run under `runs_dir`: kind, progress, path, last log write."""
    found = sorted(
        (p for p in (run_progress(d) for d in runs_dir.glob("*") if d.is_dir()) if p),
        key=lambda p: p.path.name,
    )
    if not found:
        return [f"training runs: none in {runs_dir}"]
    return [f"training runs in {runs_dir}:"] + [_run_line(p) for p in found]


def _run_line(run: RunProgress) -> str:
    share = f"{run.done / run.total:.0%}" if run.total > 0 else "?"
    progress = f"{run.done:g}/{run.total:g} {run.unit} ({share})"
    extra = f"val_ppl {run.last['val_ppl']}" if "val_ppl" in run.last else ""
    when = "no log yet" if run.updated is None else f"log {_ago(time.time() - run.updated)}"
    return f"  {run.kind:<7} {progress:<28} {extra:<16} {when:<16} {run.path}"


def _ago(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit} ago"
    return "just now"
