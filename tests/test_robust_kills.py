"""What a SIGKILL may leave in a run folder's logs, and the kill harness in quick mode."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from fauxshop.training_run import append_csv, start_run_folder, trim_log

ROOT = Path(__file__).resolve().parents[1]


def test_a_resume_drops_rows_past_its_snapshot_a_row_cut_short_and_temp_files(tmp_path):
    for tick in (1, 2, 3):
        append_csv(tmp_path / "log.csv", {"tick": tick, "loss": 0.5})
    with open(tmp_path / "log.csv", "a") as f:
        f.write("4,0.")  # killed while writing tick 4's row
    with open(tmp_path / "metrics.jsonl", "w") as f:
        f.write('{"tick": 2, "fid": 9.5}\n{"tick": 3, "fid": 9.1}\n{"tick": 4, "fi')
    stale = [tmp_path / ".log.csv.k2j4.tmp", tmp_path / ".fakes-000000.png.q8z1.tmp"]
    for path in stale:
        path.write_text("half")
    start_run_folder(tmp_path, {"kimg": 1}, 1, ("log.csv", "metrics.jsonl"), "tick", 2)
    assert not any(path.exists() for path in stale)
    assert (tmp_path / "log.csv").read_text().splitlines() == ["tick,loss", "1,0.5", "2,0.5"]
    metrics = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["tick"] for line in metrics] == [2]


def test_a_log_left_without_rows_is_removed_so_the_next_row_writes_its_header(tmp_path):
    append_csv(tmp_path / "log.csv", {"tick": 1, "old_column": 0.5})
    trim_log(tmp_path / "log.csv", "tick", 0)
    assert not (tmp_path / "log.csv").exists()
    append_csv(tmp_path / "log.csv", {"tick": 1, "loss": 0.5})
    assert (tmp_path / "log.csv").read_text().splitlines() == ["tick,loss", "1,0.5"]


def test_each_value_stays_in_its_own_column_when_a_row_lacks_or_adds_one(tmp_path):
    log = tmp_path / "log.csv"
    append_csv(log, {"tick": 1, "loss": 0.5, "r1": 0.1, "p": 0.2})
    append_csv(log, {"tick": 2, "loss": 0.4, "p": 0.3})  # no R1 step in this tick
    append_csv(log, {"tick": 3, "loss": 0.3, "r1": 0.2, "p": 0.4, "pl": 1.5})
    assert log.read_text().splitlines() == [
        "tick,loss,r1,p,pl",
        "1,0.5,0.1,0.2,",
        "2,0.4,,0.3,",
        "3,0.3,0.2,0.4,1.5",
    ]


def test_the_kill_harness_finds_nothing_lost_in_quick_mode():
    env = {**os.environ, "FAUXSHOP_QUIET": "1"}
    done = subprocess.run(
        [sys.executable, "bench/probe_kills.py", "--quick"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [line for line in done.stdout.splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    total = dict(zip(header, (c.strip() for c in lines[-1].strip("|").split("|")), strict=True))
    assert total.pop("verb") == "total" and int(total.pop("kills")) >= 4
    assert total == dict.fromkeys(total, "0"), done.stdout
