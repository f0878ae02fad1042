"""Small generators trained and measured by bench scripts, through the real CLI in fresh
processes: one thread each, so two trainings share the 2 cores evenly, and a run that already
holds a snapshot is not trained again (a bench can be rerun after a crash or a kill)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def train_once(data: str, out: Path, flags: list[str], minutes: float, seed: int) -> None:
    """`train-image` for `minutes` CPU-minutes of its own; its output goes to OUT.log."""
    from fauxshop.image.checkpoint import latest_snapshot

    if latest_snapshot(out):
        return
    env = dict(os.environ, OMP_NUM_THREADS="1", FAUXSHOP_QUIET="1")
    cmd = ["nice", "-n", "5", sys.executable, "-m", "fauxshop", "train-image", "--data", data]
    cmd += ["--out", str(out), "--kimg", "100000", "--budget-minutes", str(minutes)]
    cmd += ["--seed", str(seed), "--tick-kimg", "1", "--snap-kimg", "100000"]
    cmd += ["--keep-snapshots", "1", *flags]
    with open(out.with_name(out.name + ".log"), "w") as log:
        subprocess.run(cmd, check=True, env=env, stdout=log, stderr=subprocess.STDOUT)


def run_metrics(run: Path | str, workdir: str, flags: list[str], precision: str = "bf16") -> dict:
    """`fauxshop metrics RUN --precision PRECISION FLAGS`, parsed (bf16 Inception, the default:
    fine for comparing runs, ~1 % below an fp32 number); a failure exits with its stderr."""
    cmd = [sys.executable, "-m", "fauxshop", "metrics", str(run), "--precision", precision]
    cmd += ["--workdir", workdir, *flags]
    env = dict(os.environ, FAUXSHOP_QUIET="1")
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if done.returncode:
        sys.exit(f"{run}: fauxshop metrics failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout)
