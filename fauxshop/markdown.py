"""One way to print a result table (metrics, benchmarks, disentanglement): markdown."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def _cell(value: Any) -> str:
    """Floats with 3 decimals, None (or a missing key) as "-", pipes escaped."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value).replace("|", "\\|")


def markdown_table(rows: Sequence[dict[str, Any]]) -> str:
    """Rows of dicts as a markdown table: columns in first-seen key order, the first one left
    aligned (names), the rest right aligned (numbers)."""
    if not rows:
        return ""
    columns = list(dict.fromkeys(key for row in rows for key in row))
    lines = [
        "| " + " | ".join(columns) + " |",
        "|---|" + "---:|" * (len(columns) - 1),
    ]
    lines += ["| " + " | ".join(_cell(row.get(c)) for c in columns) + " |" for row in rows]
    return "\n".join(lines)
