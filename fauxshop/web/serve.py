"""Load the studio's models (the shipped demo ones unless told otherwise) and serve the app,
saying what each step is doing: a start takes from seconds to minutes, and a silent one looks
hung.

The sliders are the models layer's InterFaceGAN directions, cached per generator in
WORKDIR/runs/studio-directions.safetensors (`make demo` leaves them there), so only a first
start on a new generator spends the sampling.

With `serve_workers`, N uvicorn worker processes serve one workspace: each loads the models,
and everything that outlives a request (projections, saved products, the home page's pool) is
in the workspace's store, so any worker answers for any id.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import uvicorn
from uvicorn.supervisors import Multiprocess

from fauxshop.products.models import (
    SLIDERS,
    cached_sliders,
    choose_real_archive,
    product_models,
    studio_directions,
)
from fauxshop.web.app import Studio, create_app
from fauxshop.workspace import Workspace

STUDIO_DIRECTIONS = "studio-directions.safetensors"  # in WORKDIR/runs
WORKER_ARGS = "FAUXSHOP_STUDIO"  # what each worker loads, as JSON in its environment


def load_studio(
    workdir: Path,
    generator: Path | None = None,
    tagger: Path | None = None,
    writer: Path | None = None,
    real: Path | None = None,
    say: Callable[[str], None] = print,
) -> Studio:
    ws = Workspace.open(workdir)
    real, why = choose_real_archive(ws, real, generator)
    say(f"real catalog: {real} ({why})")
    start = time.perf_counter()
    say("loading the generator, tagger and writer, and the real catalog's photo features and "
        "descriptions ...")  # fmt: skip
    models = product_models(real, generator, tagger, writer)
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
    return Studio(models, directions, ws.root)


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
    """Serve the studio until interrupted, keeping the home page's pool filled."""
    config = uvicorn.Config(
        create_app(studio, refill=True), host=host, port=port, log_level="warning"
    )
    message = f"listening on http://{host}:{port}/ (studio: /studio, API: /docs)"
    _Announcing(config, message, say).run()


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
    """Serve the studio from `workers` processes sharing one socket and one workspace, until
    interrupted. The studio is loaded here first, once: a bad model or catalog is said in one
    line before any worker starts, and a first start finds the sliders once, not per worker."""
    load_studio(workdir, generator, tagger, writer, real, say)
    paths = {"workdir": workdir, "generator": generator, "tagger": tagger, "writer": writer,
             "real": real}  # fmt: skip
    os.environ[WORKER_ARGS] = json.dumps({k: v and str(v) for k, v in paths.items()})
    config = uvicorn.Config(
        "fauxshop.web.serve:worker_app", factory=True, host=host, port=port, workers=workers,
        log_level="warning",
    )  # fmt: skip
    sock = config.bind_socket()
    say(f"listening on http://{host}:{port}/ with {workers} workers, each loading the models "
        "before it answers (studio: /studio, API: /docs)")  # fmt: skip
    Multiprocess(config, sockets=[sock]).run()


def worker_app():
    """One worker's app, loaded from the paths `serve_workers` left in the environment."""
    paths = {k: v and Path(v) for k, v in json.loads(os.environ[WORKER_ARGS]).items()}
    return create_app(load_studio(**paths, say=lambda _: None), refill=True)
