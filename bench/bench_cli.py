"""Start-up of the command line: wall time of `fauxshop --help` and `fauxshop VERB --help`.

The peer is the same command at another commit (default: fd3ae13, the last commit before the
CLI was split and its configs moved into light modules), checked out into a temporary git
worktree and timed in the same run, alternating with this tree, so machine load hits both
alike. Rows: median wall seconds over --repeat runs, fauxshop modules loaded, and whether
torch was loaded.

    .venv/bin/python bench/bench_cli.py                  # 7 runs of each
    .venv/bin/python bench/bench_cli.py --ref HEAD~5 --repeat 3
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROBE = (
    "import contextlib, io, sys\n"
    "from fauxshop.cli import main\n"
    "with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n"
    "    main(sys.argv[1:])\n"
    "print(sum(m.startswith('fauxshop') for m in sys.modules), 'torch' in sys.modules)\n"
)


def _run(tree: Path, argv: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *argv], cwd=tree, capture_output=True, text=True,
        env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"}, check=True,
    )  # fmt: skip
    return time.perf_counter() - start, done.stdout.split()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ref", default="fd3ae13", help="the peer commit (default: fd3ae13)")
    parser.add_argument("--repeat", type=int, default=7, help="runs of each command and tree")
    args = parser.parse_args()
    commands = [["--help"], ["train-image", "--help"], ["products", "--help"]]
    with tempfile.TemporaryDirectory() as tmp:
        peer = Path(tmp) / "peer"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "-q", "--detach", str(peer),
                        args.ref], check=True)  # fmt: skip
        try:
            head = "| command | tree | median s | fauxshop modules | torch | ratio |"
            print(head)
            print("|---|---|---:|---:|---|---:|")
            for argv in commands:
                times = {"this": [], args.ref: []}
                facts = {}
                for _ in range(args.repeat):
                    for name, tree in (("this", ROOT), (args.ref, peer)):
                        seconds, facts[name] = _run(tree, argv)
                        times[name].append(seconds)
                medians = {k: statistics.median(v) for k, v in times.items()}
                for name in (args.ref, "this"):
                    modules, torch = facts[name]
                    ratio = medians[args.ref] / medians[name]  # how much faster than the peer
                    print(f"| fauxshop {' '.join(argv)} | {name} | {medians[name]:.2f} | "
                          f"{modules} | {torch} | {ratio:.1f}x |")  # fmt: skip
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(peer)],
                           check=True)  # fmt: skip


if __name__ == "__main__":
    main()
