"""The run folder a trainer keeps: its config.json, its logs, and what a resume may change.

A run folder holds the invocation's `config.json` and append-only logs, CSV (`log.csv`, with a
header) or JSON lines (`log.jsonl`, `metrics.jsonl`, ...), each row carrying a counter (a tick
or a step). A resumed run may change only some settings (`changed_settings` names the others
that differ), and it first drops the log rows the stopped run wrote after the snapshot it
resumes from, and a killed run's temp files (`start_run_folder`), so the rows it writes again
are not written twice.

Light on purpose (no torch): the config modules the CLI reads for `--help` import `AMP_CHOICES`.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fauxshop.atomic import atomic_open
from fauxshop.errors import FauxshopError

AMP_MODES = ("off", "bf16", "fp16")  # mixed precision a trainer runs in
AMP_CHOICES = ("auto", *AMP_MODES)  # what --amp accepts: auto picks one of AMP_MODES per device


def check_amp(amp: str) -> None:
    """One error for every trainer's --amp, naming the choices."""
    if amp not in AMP_CHOICES:
        raise FauxshopError(f"--amp {amp!r}: choose from {', '.join(AMP_CHOICES)}")


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
    whose `counter` is past it (rows the stopped run wrote after its last snapshot; a fresh
    start passes 0, so a run killed before its first snapshot does not log its ticks twice).
    The temp files a killed run left (atomic writes of its config, logs, grids, snapshots)
    go first: no one else writes in a run folder while its trainer starts."""
    run_dir.mkdir(parents=True, exist_ok=True)
    for stale in run_dir.glob(".*.tmp"):
        if stale.is_file():
            stale.unlink()
    with atomic_open(run_dir / "config.json", "w", encoding="utf-8") as f:
        json.dump(config, f, indent=indent)
    if resumed_at is not None:
        for name in logs:
            trim_log(run_dir / name, counter, resumed_at)


def append_csv(path: Path, row: dict[str, Any]) -> None:
    """One row under the file's header, each value in its own column. A tick may lack a
    statistic (no R1 step in a short tick): its cell is left empty. A key the header lacks
    widens it, rewriting the file once (atomically), so no value lands under another name."""
    header = _csv_header(path)
    if header is not None and set(row) <= set(header):
        with open(path, "a", newline="", encoding="utf-8") as f:
            csv.DictWriter(f, fieldnames=header, restval="").writerow(row)
        return
    rows, header = [], header or []
    if header:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    fields = header + [key for key in row if key not in header]
    with atomic_open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=fields, restval="")
        writer.writeheader()
        writer.writerows([*rows, row])


def _csv_header(path: Path) -> list[str] | None:
    if not path.is_file():
        return None
    with open(path, newline="", encoding="utf-8") as f:
        return next(csv.reader(f), None)


def append_jsonl(path: Path, row: dict[str, Any]) -> None:
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(row) + "\n")


def trim_log(path: Path, counter: str, last: int) -> None:
    """Keep the rows of a CSV or JSON-lines log whose `counter` is at most `last`.

    A last line without its newline was cut short by a kill and is dropped; a log left with
    no rows is removed, so the next row writes its own header."""
    if not path.is_file():
        return
    text = path.read_text(encoding="utf-8")
    lines = [
        line for line in text.splitlines(keepends=True) if line.endswith("\n") and line.strip()
    ]
    if path.suffix == ".csv":
        header, rows = lines[:1], csv.DictReader(lines)
        kept = [
            line for line, row in zip(lines[1:], rows, strict=True) if int(row[counter]) <= last
        ]
    else:
        header, kept = [], [line for line in lines if json.loads(line)[counter] <= last]
    if not kept:
        path.unlink()
        return
    with atomic_open(path, "w", encoding="utf-8") as f:
        f.writelines(header + kept)


# Each trainer's kind: the config.json key only its config has, its log, the log's counter
# and the config key that counter runs up to.
RUN_KINDS = (
    ("image", "kimg", "log.csv", "kimg"),
    ("text", "max_steps", "log.jsonl", "step"),
    ("tagger", "epochs", "log.csv", "epoch"),
)
TAIL_BYTES = 65536  # a log row is far shorter; the newest row is read from the file's end


@dataclass
class RunProgress:
    """How far a run folder's trainer got, read from its config.json and newest log row."""

    kind: str  # image, text or tagger
    path: Path
    done: float  # the counter of the newest log row (0 before the first)
    total: float  # where the counter stops
    unit: str  # kimg, step, epoch
    updated: float | None  # the log's mtime (None: no log yet)
    last: dict[str, Any] = field(default_factory=dict)  # the newest log row


def last_row(path: Path) -> dict[str, Any] | None:
    """The newest whole row of a CSV or JSON-lines log (None: no rows), read from its end, so
    a long run's log costs no more than a short one's. A line without its newline is still
    being written and is passed over."""
    try:
        with open(path, "rb") as f:
            header = f.readline() if path.suffix == ".csv" else b""
            size = f.seek(0, 2)
            f.seek(max(len(header), size - TAIL_BYTES))
            tail = f.read()
    except OSError:
        return None
    lines = tail.decode("utf-8", errors="replace").split("\n")[:-1]  # whole lines only
    names = next(csv.reader([header.decode("utf-8", errors="replace")]), [])
    for line in reversed(lines):
        if not line.strip():
            continue
        if not header:
            try:
                row = json.loads(line)
            except ValueError:
                return None
            return row if isinstance(row, dict) else None
        values = next(csv.reader([line]))
        return dict(zip(names, values, strict=True)) if len(values) == len(names) else None
    return None


def run_progress(run_dir: Path) -> RunProgress | None:
    """A trainer's progress in `run_dir` (None: not a run folder fauxshop's trainers write)."""
    try:
        config = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    for kind, key, log, counter in RUN_KINDS:
        if isinstance(config, dict) and key in config:
            row = last_row(run_dir / log) or {}
            try:
                done, total = float(row.get(counter, 0)), float(config[key])
            except (TypeError, ValueError):
                return None
            updated = (run_dir / log).stat().st_mtime if (run_dir / log).is_file() else None
            return RunProgress(kind, run_dir, done, total, counter, updated, row)
    return None
