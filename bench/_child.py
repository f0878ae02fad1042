"""Each bench measurement runs in a fresh interpreter, so one's allocator state, thread pools
and peak RSS never leak into the next; the child prints its result as the last JSON line."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def run_child(script: str, args: list[str]) -> dict:
    """`python SCRIPT ARGS` with progress bars off; its last stdout line, parsed."""
    env = dict(os.environ, FAUXSHOP_QUIET="1")
    out = subprocess.run([sys.executable, script, *args], env=env, capture_output=True, text=True)
    if out.returncode:
        sys.exit(f"{' '.join(args)} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])
