"""The home page's pool: products composed ahead, in the store, so a visit takes one at once.

A product takes ~0.6 s to compose (most of it the writer) and may fail its checks; the page
should not wait for that. While the studio serves, one thread keeps the store's pool at
`Studio.pool_size` checked products (served from files, in a process of its own:
`fauxshop.web.refill`); a visit takes the oldest (`Store.pool_take`, once each).
With several workers over one workspace only one refills: the one holding the workspace's
pool lock (an flock, released by the system when its process ends, however it ends).
"""

from __future__ import annotations

import fcntl
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fauxshop.web.app import Studio

POOL_LOCK = "product-pool.lock"  # in WORKDIR/runs


def refill_pool(
    studio: Studio, make_products: Callable[[], list[dict]], stop: threading.Event
) -> None:
    """Compose products (a batch at a time: those that passed their checks) into the pool
    while it is short, never past its size, until `stop` is set; returns at once if another
    process refills this workspace."""
    lock_path = studio.workdir / "runs" / POOL_LOCK
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return
        while not stop.is_set():
            with studio.store() as store:
                short = studio.pool_size - store.pool_count(studio.models_key)
            if short <= 0:
                stop.wait(studio.pool_poll_s)
                continue
            products = make_products()[:short]
            with studio.store() as store:
                for product in products:
                    store.pool_add(studio.models_key, product)
