"""Load the studio's models (the shipped demo ones unless told otherwise) and serve the app,
saying what each step is doing: a start takes from seconds to minutes, and a silent one looks
hung.

The sliders are the models layer's InterFaceGAN directions, cached per generator in
WORKDIR/runs/studio-directions.safetensors (`make demo` leaves them there), so only a first
start on a new generator spends the sampling.

With `serve_workers`, N uvicorn worker processes serve one workspace: each loads the models,
says when it listens, and everything that outlives a request (projections, saved products, the
home page's pool) is in the workspace's store, so any worker answers for any id.

A studio loaded from files (`load_studio`) has its pool refilled by a process of its own
(`fauxshop.web.refill`, a fresh interpreter loading the same files, at a lower CPU priority):
a refill thread inside the serving process held visits back (the GIL and the cores), taking
/api/product's p95 past 50 ms with 4 clients on 2 cores.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import uvicorn
from uvicorn.supervisors import Multiprocess

from fauxshop.products.models import (
    SLIDERS,
    cached_sliders,
    choose_real_archive,
    open_generator,
    product_models,
    studio_directions,
)
from fauxshop.web.app import Studio, create_app
from fauxshop.workspace import Workspace

STUDIO_DIRECTIONS = "studio-directions.safetensors"  # in WORKDIR/runs
WORKER_ARGS = "FAUXSHOP_STUDIO"  # what each worker loads, as JSON in its environment
WORKER_URL = "FAUXSHOP_STUDIO_URL"  # where the workers listen, for their "listening" lines


@dataclass
class LoadedStudio(Studio):
    """A studio loaded from files, which it names (JSON: paths as strings, None for the
    shipped ones), so another process can load the same."""

    sources: dict[str, str | None] = field(default_factory=dict)


def load_studio(
    workdir: Path,
    generator: Path | None = None,
    tagger: Path | None = None,
    writer: Path | None = None,
    real: Path | None = None,
    say: Callable[[str], None] = print,
) -> LoadedStudio:
    paths = {"workdir": workdir, "generator": generator, "tagger": tagger, "writer": writer,
             "real": real}  # fmt: skip
    sources = {k: v and str(v) for k, v in paths.items()}
    ws = Workspace.open(workdir)
    snapshot = open_generator(generator)
    real, why = choose_real_archive(ws, real, snapshot)
    say(f"real catalog: {real} ({why})")
    start = time.perf_counter()
    say("loading the generator, tagger and writer, and the real catalog's photo features and "
        "descriptions ...")  # fmt: skip
    models = product_models(real, snapshot, tagger, writer)
    say(f"models loaded ({time.perf_counter() - start:.1f} s)")
    cache = ws.runs_dir / STUDIO_DIRECTIONS
    directions = cached_sliders(models.G, cache)
    if directions is None:
        start = time.perf_counter()
        say(f"finding the {len(SLIDERS)} sliders' directions for this generator, a first start "
            f"on it (kept in {cache} for the next ones) ...")  # fmt: skip
        directions = studio_directions(models.G, models.tagger, cache)
        say(f"sliders found ({time.perf_counter() - start:.1f} s)")
    else:
        say(f"sliders: {', '.join(d.name for d in directions)} (from {cache})")
    return LoadedStudio(models, directions, ws.root, sources=sources)


class _Announcing(uvicorn.Server):
    """A server that says when it listens (not before: the socket may still fail to bind)."""

    def __init__(self, config: uvicorn.Config, message: str, say: Callable[[str], None]) -> None:
        super().__init__(config)
        self.message, self.say = message, say

    async def startup(self, sockets=None) -> None:
        await super().startup(sockets)
        if self.started:
            self.say(self.message)


def serve(studio: Studio, host: str, port: int, say: Callable[[str], None] = print) -> None:
    """Serve the studio until interrupted, keeping the home page's pool filled: from a process
    of its own for a studio loaded from files, else from a thread of this one."""
    sources = getattr(studio, "sources", None)
    config = uvicorn.Config(
        create_app(studio, refill=not sources), host=host, port=port, log_level="warning"
    )
    message = f"listening on http://{host}:{port}/ (studio: /studio, API: /docs)"
    with _refilling(sources):
        _Announcing(config, message, say).run()


@contextmanager
def _refilling(sources: dict | None):
    """While the block runs, a refill process for the studio loaded from `sources` (none for
    None); it ends when its stdin closes, once the product it is composing is stored."""
    if not sources:
        yield
        return
    env = {**os.environ, WORKER_ARGS: json.dumps(sources)}
    refill = subprocess.Popen(
        [sys.executable, "-m", "fauxshop.web.refill"], stdin=subprocess.PIPE, env=env
    )
    try:
        yield
    finally:
        refill.stdin.close()
        try:
            refill.wait(timeout=REFILL_STOP_S)
        except subprocess.TimeoutExpired:
            refill.kill()
            refill.wait()


REFILL_STOP_S = 120  # how long a stopping server waits for the refill's batch to be stored


def serve_workers(
    workdir: Path,
    host: str,
    port: int,
    workers: int,
    generator: Path | None = None,
    tagger: Path | None = None,
    writer: Path | None = None,
    real: Path | None = None,
    say: Callable[[str], None] = print,
) -> None:
    """Serve the studio from `workers` processes sharing one socket and one workspace, and
    refill its pool from one more, until interrupted. The studio is loaded here first, once: a
    bad model or catalog is said in one line before any worker starts, and a first start finds
    the sliders once, not per worker."""
    studio = load_studio(workdir, generator, tagger, writer, real, say)
    os.environ[WORKER_ARGS] = json.dumps(studio.sources)
    os.environ[WORKER_URL] = f"http://{host}:{port}/"
    config = uvicorn.Config(
        "fauxshop.web.serve:worker_app", factory=True, host=host, port=port, workers=workers,
        log_level="warning",
    )  # fmt: skip
    sock = config.bind_socket()
    say(f"listening on http://{host}:{port}/ with {workers} workers, each loading the models "
        "before it answers (studio: /studio, API: /docs)")  # fmt: skip
    with _refilling(studio.sources):
        Multiprocess(config, sockets=[sock]).run()


def worker_app():
    """One worker's app, loaded from the paths `serve_workers` left in the environment; it says
    when it listens (its startup done, the models loaded)."""
    sources = json.loads(os.environ[WORKER_ARGS])
    start = time.perf_counter()
    studio = load_studio(**{k: v and Path(v) for k, v in sources.items()}, say=lambda _: None)
    seconds = time.perf_counter() - start
    message = (f"worker {os.getpid()} listening on {os.environ[WORKER_URL]} "
               f"(models loaded in {seconds:.1f} s)")  # fmt: skip
    return _SaysStarted(create_app(studio), message)


class _SaysStarted:
    """An ASGI app that prints `message` once the app it wraps has started up."""

    def __init__(self, app, message: str) -> None:
        self.app, self.message = app, message

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "lifespan":
            return await self.app(scope, receive, send)

        async def sending(event) -> None:
            await send(event)
            if event["type"] == "lifespan.startup.complete":
                print(self.message, flush=True)

        await self.app(scope, receive, sending)
