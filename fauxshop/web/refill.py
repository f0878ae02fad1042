"""The home page's pool refilled by a process of its own (`python -m fauxshop.web.refill`).

`serve` and `serve_workers` start it with the studio's sources in the environment; it loads
the same models, at a lower CPU priority and on one torch thread, and keeps the workspace's
pool filled (`pool.refill_pool`, as the app's refill does) until its stdin closes, which is
how its server stops it (or the server's end, however it ends). Visits then take products
without sharing a GIL or a core's time with the composer.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

NICENESS = 10  # the serving processes answer first; the refill takes the time left


async def _refill_until_stdin_closes(app) -> None:
    async with app.router.lifespan_context(app):
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


def main() -> None:
    import torch

    from fauxshop.web.app import create_app
    from fauxshop.web.serve import WORKER_ARGS, load_studio

    os.nice(NICENESS)
    torch.set_num_threads(1)
    sources = json.loads(os.environ[WORKER_ARGS])
    studio = load_studio(**{k: v and Path(v) for k, v in sources.items()}, say=lambda _: None)
    asyncio.run(_refill_until_stdin_closes(create_app(studio, refill=True)))


if __name__ == "__main__":
    main()
