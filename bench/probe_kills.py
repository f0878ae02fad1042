"""Kill harness: SIGKILL `train-image`, `ingest` and `pack` at random moments and at their
commit points, restart each to completion, then count what a kill must never cost.

Every run is a forked child running the CLI's `main` with the verb's arguments (torch is
imported once, here, so a kill does not wait on start-up). A kill is either a delay drawn
from the unbroken run's duration, or targeted: the child SIGKILLs itself just before its
n-th rename (`os.replace`: every atomic write's commit) or just after its n-th `log.csv` row.
After each kill the same verb runs again (`--resume` once the run has a snapshot) to the end.

Counts, per verb:

- kills: SIGKILLs that landed while the child ran
- snapshots lost: a kill left the newest readable snapshot older than the newest committed
- outputs unreadable: a snapshot sidecar, archive or store that a kill left unreadable
- temp files left: `.*.tmp` files still there after the restart finished
- duplicated / missing log rows: `log.csv` ticks written twice, or never, after the restart
- snapshot names reused: a snapshot name that held two different image counts in one run
- zip/corpus mismatches: after a kill, an archive and corpus that disagree without
  `corpus_path` saying so; after the restart, any that disagree at all
- not bit-identical: the finished run's last snapshot differs from an unbroken run's
- restarts failed: a restart that did not finish

    python bench/probe_kills.py            # >= 20 kills
    python bench/probe_kills.py --quick    # a few kills, for the test
"""

from __future__ import annotations

import argparse
import fnmatch
import itertools
import json
import os
import random
import signal
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from shutil import rmtree

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import fauxshop.image.train as image_train  # noqa: E402  (torch, once, before any fork)
from fauxshop.catalog.archive import products, read_metadata, write_archive  # noqa: E402
from fauxshop.catalog.pack import corpus_path  # noqa: E402
from fauxshop.catalog.store import Store  # noqa: E402
from fauxshop.cli import main as cli_main  # noqa: E402
from fauxshop.errors import FauxshopError  # noqa: E402
from fauxshop.image.checkpoint import read_snapshot  # noqa: E402
from fauxshop.markdown import markdown_table  # noqa: E402
from fauxshop.pixels import png_bytes  # noqa: E402

COLUMNS = (
    "kills",
    "snapshots lost",
    "outputs unreadable",
    "temp files left",
    "duplicated log rows",
    "missing log rows",
    "snapshot names reused",
    "zip/corpus mismatches",
    "not bit-identical",
    "restarts failed",
)
VERBOSE = False  # --verbose: one line per run on stderr
# A tiny generator on 8x8 images: a tick every 2 steps, a snapshot every 4 (< 1 kimg apart,
# so their names must tell them apart), only the newest kept (a pruned name is free again).
TRAIN_FLAGS = "--batch 4 --z-dim 16 --w-dim 16 --mapping-layers 1 --channel-base 256 "
TRAIN_FLAGS += "--channel-max 16 --tick-kimg 0.008 --snap-kimg 0.016 --keep-snapshots 1"


# ----------------------------------------------------------------------------------------------
# Forked runs


def _arm(kill: tuple[str, int] | None, trace: Path | None) -> None:
    """In the child: SIGKILL at the targeted event; note each snapshot sidecar committed."""
    renames, rows = itertools.count(1), itertools.count(1)
    real_replace, real_append = os.replace, image_train.append_csv

    def replace(src, dst, *args, **kwargs):
        if kill and kill[0] == "rename" and next(renames) == kill[1]:
            os.kill(os.getpid(), signal.SIGKILL)
        if trace and fnmatch.fnmatch(Path(dst).name, "snapshot-*.json"):
            nimg = json.loads(Path(src).read_text())["cur_nimg"]
            with open(trace, "a") as f:
                f.write(f"{Path(dst).name} {nimg}\n")
        return real_replace(src, dst, *args, **kwargs)

    def append_csv(path, row):
        real_append(path, row)
        if kill and kill[0] == "row" and next(rows) == kill[1]:
            os.kill(os.getpid(), signal.SIGKILL)

    os.replace = replace
    image_train.append_csv = append_csv


def run(argv: list[str], log: Path, kill=None, trace: Path | None = None) -> tuple[str, float]:
    """`fauxshop ARGV` in a forked child; kill: None, a delay in seconds, or (event, n).
    Returns ('killed' | 'ok' | 'failed', seconds)."""
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        rc = 1
        try:
            _arm(kill if isinstance(kill, tuple) else None, trace)
            rc = cli_main(argv)
        except BaseException as e:  # the child reports and exits; it never returns here
            print(f"{type(e).__name__}: {e}", file=sys.stderr)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(rc or 0)
    got, status = 0, 0
    if isinstance(kill, float):
        while not got and time.monotonic() - start < kill:
            time.sleep(0.02)
            got, status = os.waitpid(pid, os.WNOHANG)
        if not got:
            os.kill(pid, signal.SIGKILL)
    if not got:
        _, status = os.waitpid(pid, 0)
    seconds = time.monotonic() - start
    if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL:
        result = "killed"
    else:
        result = "ok" if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0 else "failed"
    if VERBOSE:
        print(f"{argv[0]} {kill or ''}: {result} after {seconds:.1f} s", file=sys.stderr)
    return result, seconds


def run_killed(
    argv: list[str], log: Path, kill, seconds: float, rnd: random.Random, reset=None, trace=None
) -> bool:
    """Run with a kill. A random one (`kill` "random") falls within `seconds`, the last
    unbroken run's time; one that misses (the machine got faster) is tried again after
    `reset()` (None: no second try), within the missed run's own time."""
    for _ in range(4):
        delay = rnd.uniform(0.1, 0.9) * seconds if kill == "random" else kill
        status, seconds = run(argv, log, delay, trace)
        if status == "killed":
            return True
        if kill != "random" or reset is None:
            return False
        reset()
    return False


def _temp_files(folder: Path) -> int:
    return sum(1 for p in folder.rglob(".*.tmp"))


# ----------------------------------------------------------------------------------------------
# Inputs


def make_image_archive(path: Path, n: int = 32) -> Path:
    rng = np.random.default_rng(0)
    with write_archive(path) as zf:
        for i in range(n):
            img = np.full((8, 8, 3), 255, np.uint8)
            margin = int(rng.integers(1, 3))
            img[margin:-margin, margin:-margin] = rng.integers(0, 200, 3)
            zf.add(f"00000/img{i:08d}.png", png_bytes(img))
    return path


def make_catalog(folder: Path, n: int) -> Path:
    """A products.jsonl and its photos: boxes in a white frame, two categories, two splits."""
    (folder / "images").mkdir(parents=True)
    rng = np.random.default_rng(1)
    with open(folder / "products.jsonl", "w") as f:
        for i in range(n):
            img = np.full((96, 64, 3), 255, np.uint8)
            img[12:84, 10:54] = rng.integers(0, 200, 3)
            Image.fromarray(img).save(folder / "images" / f"P{i:04d}.png")
            record = {
                "sku": f"P{i:04d}",
                "title": f"Plain dress {i}",
                "description": f"A plain dress, number {i}.",
                "category": ("dress", "top")[i % 2],
                "image": f"images/P{i:04d}.png",
                "split": ("train", "test")[i % 3 == 0],
            }
            f.write(json.dumps(record) + "\n")
    return folder / "products.jsonl"


# ----------------------------------------------------------------------------------------------
# The three verbs


def _snapshots(run_dir: Path) -> tuple[int, int]:
    """(newest readable snapshot's image count or -1, sidecars that do not read)."""
    newest, unreadable = -1, 0
    for sidecar in run_dir.glob("snapshot-*.json"):
        try:
            newest = max(newest, read_snapshot(sidecar).meta["cur_nimg"])
        except (FauxshopError, KeyError):
            unreadable += 1
    return newest, unreadable


def _ticks(run_dir: Path) -> list[int]:
    lines = (run_dir / "log.csv").read_text().splitlines()[1:]
    return [int(line.split(",", 1)[0]) for line in lines if line.strip()]


def probe_train(root: Path, trials: list[list], rnd: random.Random) -> Counter:
    archive = make_image_archive(root / "shapes.zip")
    kimg = 0.048  # 12 steps, 6 ticks, 3 snapshots
    fresh = ["train-image", "--data", str(archive), "--kimg", str(kimg), *TRAIN_FLAGS.split()]
    ref = root / "train-ref"
    status, seconds = run([*fresh, "--out", str(ref)], root / "train-ref.log")
    if status != "ok":
        raise SystemExit(f"the unbroken training run failed: see {root / 'train-ref.log'}")
    ref_sha = _final_sha(ref)
    counts = Counter()
    for i, kills in enumerate(trials):
        out, log, trace = root / f"train-{i}", root / f"train-{i}.log", root / f"train-{i}.trace"
        trace.touch()

        def argv(out=out):
            resume = _snapshots(out)[0] >= 0
            return ["train-image", "--resume", str(out)] if resume else [*fresh, "--out", str(out)]

        def reset(out=out, trace=trace):
            rmtree(out)
            trace.write_text("")

        for j, kill in enumerate(kills):
            again = reset if j == 0 else None  # only the first, fresh, run can start over
            counts["kills"] += run_killed(argv(), log, kill, seconds, rnd, again, trace)
            newest, unreadable = _snapshots(out)
            committed = [int(line.split()[1]) for line in trace.read_text().splitlines()]
            counts["snapshots lost"] += newest < max(committed, default=-1)
            counts["outputs unreadable"] += unreadable
        counts["restarts failed"] += run(argv(), log, None, trace)[0] != "ok"
        ticks = _ticks(out)
        counts["duplicated log rows"] += len(ticks) - len(set(ticks))
        counts["missing log rows"] += len(set(_ticks(ref)) - set(ticks))
        counts["temp files left"] += _temp_files(out)
        held: dict[str, set[str]] = {}
        for line in trace.read_text().splitlines():
            name, nimg = line.split()
            held.setdefault(name, set()).add(nimg)
        counts["snapshot names reused"] += sum(len(nimgs) > 1 for nimgs in held.values())
        counts["not bit-identical"] += _final_sha(out) != ref_sha
    return counts


def _final_sha(run_dir: Path) -> str | None:
    """The sha256 of the newest snapshot's tensors, as its sidecar records it."""
    sidecars = [read_snapshot(p).meta for p in run_dir.glob("snapshot-*.json")]
    newest = max(sidecars, key=lambda meta: meta["cur_nimg"], default=None)
    return newest and newest["safetensors_sha256"]


def _store_products(db: Path) -> int | None:
    """Products in the store, opened as every verb opens it (None: it does not open, or fails
    SQLite's integrity check)."""
    try:
        with Store(db) as store:
            if store.db.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
                return None
            return store.db.execute("SELECT COUNT(*) FROM products").fetchone()[0]
    except (sqlite3.Error, FauxshopError):
        return None


def probe_ingest(root: Path, table: Path, kills: list, rnd: random.Random) -> Counter:
    counts = Counter()
    ingest = ["ingest", str(table)]
    ref = root / "ingest-ref"
    status, seconds = run([*ingest, "--workdir", str(ref)], root / "ingest-ref.log")
    if status != "ok":
        raise SystemExit(f"the unbroken ingest failed: see {root / 'ingest-ref.log'}")
    expected = _store_products(ref / "catalog.db")
    for i, kill in enumerate(kills):
        work, log = root / f"ingest-{i}", root / f"ingest-{i}.log"
        argv = [*ingest, "--workdir", str(work)]
        counts["kills"] += run_killed(argv, log, kill, seconds, rnd, lambda w=work: rmtree(w))
        if (work / "catalog.db").exists():
            counts["outputs unreadable"] += _store_products(work / "catalog.db") is None
        counts["restarts failed"] += run(argv, log)[0] != "ok"
        counts["restarts failed"] += _store_products(work / "catalog.db") != expected
        counts["temp files left"] += _temp_files(work)
    return counts


def _pair_disagrees(archive: Path) -> bool:
    """The archive's skus and its corpus's, in order, differ."""
    in_zip = [extra["sku"] for _, extra in sorted(products(read_metadata(archive)).items())]
    lines = archive.with_name(archive.stem + ".corpus.jsonl").read_text().splitlines()
    return in_zip != [json.loads(line)["sku"] for line in lines]


def _refused(archive: Path) -> bool:
    try:
        corpus_path(archive)
    except FauxshopError:
        return True
    return False


def probe_pack(root: Path, kills: list, rnd: random.Random) -> Counter:
    """Packs alternate between the test split and all products, so a kill between the two
    renames leaves a corpus of one beside an archive of the other."""
    counts = Counter()
    work, out = root / "ingest-ref", root / "archives" / "a.zip"
    store = Store(work / "catalog.db")
    for row in list(store.products()):
        store.set_verdict(row["id"], "kept", None, {})
    store.close()
    base = ["pack", "--workdir", str(work), "--size", "32x16", "--out", str(out)]
    splits = itertools.cycle([["--split", "test"], []])
    status, seconds = run([*base, *next(splits)], root / "pack-ref.log")
    if status != "ok":
        raise SystemExit(f"the unbroken pack failed: see {root / 'pack-ref.log'}")
    for kill in kills:
        argv, log = [*base, *next(splits)], root / "pack.log"
        counts["kills"] += run_killed(argv, log, kill, seconds, rnd, lambda: None)
        try:
            counts["zip/corpus mismatches"] += _pair_disagrees(out) and not _refused(out)
        except FauxshopError:
            counts["outputs unreadable"] += 1
        counts["restarts failed"] += run(argv, log)[0] != "ok"
        counts["zip/corpus mismatches"] += _pair_disagrees(out) or _refused(out)
        counts["temp files left"] += _temp_files(out.parent)
    return counts


# ----------------------------------------------------------------------------------------------


def plan(quick: bool) -> tuple[list[list], list, list]:
    """(train trials, each a list of kills; ingest kills; pack kills)."""
    if quick:
        return [[("row", 1), ("rename", 3)]], ["random"], [("rename", 2)]
    train = [[("row", 1)], [("row", 3)], [("row", 1), ("row", 2)], [("row", 5), ("row", 1)]]
    train += [[("rename", k)] for k in range(1, 9)]  # config, then each snapshot's files
    train += [["random"] for _ in range(5)] + [["random", "random"]]
    return train, ["random"] * 3, [("rename", 1), ("rename", 2)] + ["random"] * 3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a few kills, for the test")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random kill moments")
    parser.add_argument("--verbose", action="store_true", help="one line per run on stderr")
    args = parser.parse_args(argv)
    global VERBOSE
    VERBOSE = args.verbose
    os.environ["FAUXSHOP_QUIET"] = "1"
    rnd = random.Random(args.seed)
    train_trials, ingest_kills, pack_kills = plan(args.quick)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="probe-kills-") as tmp:
        root = Path(tmp)
        table = make_catalog(root / "catalog", n=12 if args.quick else 24)
        results = {
            "train-image": probe_train(root, train_trials, rnd),
            "ingest": probe_ingest(root, table, ingest_kills, rnd),
            "pack": probe_pack(root, pack_kills, rnd),
        }
    rows = [{"verb": verb, **{c: counts[c] for c in COLUMNS}} for verb, counts in results.items()]
    rows.append({"verb": "total", **{c: sum(r[c] for r in rows) for c in COLUMNS}})
    print(markdown_table(rows))
    print(f"\n{time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
