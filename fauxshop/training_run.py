"""The run folder a trainer keeps: its config.json, its logs, and what a resume may change.

A run folder holds the invocation's `config.json` and append-only logs, CSV (`log.csv`, with a
header) or JSON lines (`log.jsonl`, `metrics.jsonl`, ...), each row carrying a counter (a tick
or a step). A resumed run may change only some settings (`changed_settings` names the others
that differ), and it first drops the log rows the stopped run wrote after the snapshot it
resumes from (`start_run_folder`), so the rows it writes again are not written twice.

Light on purpose (no torch): the config modules the CLI reads for `--help` import `AMP_MODES`.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Collection, Iterable
from pathlib import Path
from typing import Any

from fauxshop.atomic import atomic_open

AMP_MODES = ("off", "bf16", "fp16")  # mixed precision a trainer's --amp may ask for


def changed_settings(
    saved: dict[str, Any], current: dict[str, Any], resumable: Collection[str]
) -> list[str]:
    """Settings that differ from the stopped run's, other than those a resume may change."""
    return [k for k, v in current.items() if k not in resumable and saved.get(k) != v]


def start_run_folder(
    run_dir: Path,
    config: dict[str, Any],
    indent: int,
    logs: Iterable[str] = (),
    counter: str = "",
    resumed_at: int | None = None,
) -> None:
    """Write this invocation's config.json; with `resumed_at`, drop every row of the `logs`
    whose `counter` is past it (rows the stopped run wrote after its last snapshot)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    with atomic_open(run_dir / "config.json", "w", encoding="utf-8") as f:
        json.dump(config, f, indent=indent)
    if resumed_at is not None:
        for name in logs:
            trim_log(run_dir / name, counter, resumed_at)


def append_csv(path: Path, row: dict[str, Any]) -> None:
    """One row, under a header written with the file's first row."""
    new = not path.exists()
    with open(path, "a", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(row))
        if new:
            writer.writeheader()
        writer.writerow(row)


def append_jsonl(path: Path, row: dict[str, Any]) -> None:
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(row) + "\n")


def trim_log(path: Path, counter: str, last: int) -> None:
    """Keep the rows of a CSV or JSON-lines log whose `counter` is at most `last`."""
    if not path.is_file():
        return
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".csv":
        lines = text.splitlines(keepends=True)
        rows = csv.DictReader(lines)
        kept = lines[:1] + [
            line for line, row in zip(lines[1:], rows, strict=True) if int(row[counter]) <= last
        ]
    else:
        lines = [line for line in text.splitlines() if line.strip()]
        kept = [line + "\n" for line in lines if json.loads(line)[counter] <= last]
    with atomic_open(path, "w", encoding="utf-8") as f:
        f.writelines(kept)
