"""The studio's state in the workspace's store: the home page's pool of products composed ahead
(each handed out once, whichever worker asks), projections that outlive their server, and
saves from concurrent workers that all land."""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import torch
from fastapi.testclient import TestClient
from studio_fixture import demo_studio

from fauxshop.catalog.store import Store
from fauxshop.latent.projection import NOISE_SUFFIX, render_projection
from fauxshop.pixels import png_bytes
from fauxshop.web.app import Studio, create_app
from fauxshop.web.pool import refill_pool


@pytest.fixture(scope="module")
def studio(tmp_path_factory) -> Studio:
    return demo_studio(tmp_path_factory.mktemp("work"))


def fresh(studio: Studio, tmp_path, **changes) -> Studio:
    """The same models over an empty workspace."""
    return dataclasses.replace(studio, workdir=tmp_path, **changes)


def test_a_visit_takes_the_next_pooled_product_once(studio, tmp_path):
    pooled = fresh(studio, tmp_path)
    with pooled.store() as store:
        for i in range(3):
            store.pool_add(pooled.models_key, {"sku": f"POOL-{i}"})
        store.pool_add("other models", {"sku": "OTHER"})
    client = TestClient(create_app(pooled))
    skus = [client.get("/api/product").json()["sku"] for _ in range(3)]
    assert skus == ["POOL-0", "POOL-1", "POOL-2"]
    composed = client.get("/api/product").json()  # the pool is empty: one is composed
    assert composed["sku"] != "OTHER" and composed["title"]
    with pooled.store() as store:
        assert store.pool_count(pooled.models_key) == 0 and store.pool_count("other models") == 1


# A process taking pooled products until none are left, printing each one's number. A fresh
# interpreter, not a fork: forking the test process, with threads of earlier tests alive,
# can leave a child stuck on a lock one of those threads held.
TAKE_ALL = """
import sys
from fauxshop.catalog.store import Store
with Store(sys.argv[1]) as store:
    while (product := store.pool_take("m")) is not None:
        print(product["n"], flush=True)
"""


def test_concurrent_workers_never_hand_out_the_same_product(tmp_path):
    path = tmp_path / "catalog.db"
    with Store(path) as store:
        for n in range(200):
            store.pool_add("m", {"n": n})
    argv = [sys.executable, "-c", TAKE_ALL, str(path)]
    workers = [subprocess.Popen(argv, stdout=subprocess.PIPE, text=True) for _ in range(4)]
    taken = [int(n) for w in workers for n in w.communicate(timeout=120)[0].split()]
    assert [w.returncode for w in workers] == [0] * 4
    assert sorted(taken) == list(range(200))


def test_the_served_app_keeps_the_pool_full_with_checked_products(studio, tmp_path):
    pooled = fresh(studio, tmp_path, pool_size=2, pool_poll_s=0.05)
    with TestClient(create_app(pooled, refill=True)) as client:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with pooled.store() as store:
                if store.pool_count(pooled.models_key) == 2:
                    break
            time.sleep(0.1)
        product = client.get("/api/product").json()
        assert product["status"] == "accepted" and product["image"].startswith("/api/generate")
        assert client.get(product["image"]).status_code == 200
        time.sleep(1)  # room to refill past the cap, were it not kept
        with pooled.store() as store:
            assert store.pool_count(pooled.models_key) <= 2


def test_only_one_worker_refills_a_workspace(studio, tmp_path):
    pooled = fresh(studio, tmp_path, pool_size=3, pool_poll_s=0.01)
    stop, made = threading.Event(), []

    def make():
        made.append(1)
        return [{}]

    first = threading.Thread(target=refill_pool, args=(pooled, make, stop))
    first.start()
    try:
        while len(made) < 3:
            time.sleep(0.01)
        calls = []
        refill_pool(pooled, lambda: calls.append(1) or [{}], threading.Event())  # returns at once
        assert calls == []
    finally:
        stop.set()
        first.join()
    with pooled.store() as store:
        assert store.pool_count(pooled.models_key) == 3


def test_a_projection_outlives_its_server_and_expires(studio, tmp_path):
    """Latents lived in one process's memory: a restart, or another worker, lost them."""
    G = studio.models.G
    ws = G.mapping.w_avg[None].repeat(G.num_ws, 1)
    generator = torch.Generator().manual_seed(0)
    buffers = G.synthesis.named_buffers()
    noise = {
        n: torch.randn(b.shape, generator=generator) for n, b in buffers if n.endswith(NOISE_SUFFIX)
    }
    latent = fresh(studio, tmp_path).keep_latent(ws, noise)
    restarted = Studio(studio.models, studio.directions, tmp_path)  # another worker, or later
    photo = TestClient(create_app(restarted)).get(f"/api/latent/{latent}.png")
    assert photo.status_code == 200
    assert photo.content == png_bytes(render_projection(G, ws, noise))
    expired = fresh(studio, tmp_path, latent_max_age_s=1e-6)
    time.sleep(0.01)
    assert TestClient(create_app(expired)).get(f"/api/latent/{latent}.png").status_code == 404


# A worker saving 50 products through the studio's save_product, in a fresh interpreter (see
# TAKE_ALL for why not a fork).
SAVE_50 = """
import sys
from pathlib import Path
from types import SimpleNamespace
import numpy as np
from fauxshop.web.app import save_product
workdir, worker = sys.argv[1], sys.argv[2]
for i in range(50):
    record = {
        "sku": f"GEN-{worker}-{i}", "title": "a dress", "description": "", "category": "dress",
        "attributes": {}, "status": "accepted", "checks": {}, "provenance": {"seed": i},
    }
    image = np.zeros((4, 2, 3), np.uint8)
    save_product(Path(workdir), SimpleNamespace(record=record, image=image))
"""


def test_concurrent_saves_from_four_workers_lose_nothing(tmp_path):
    argv = [sys.executable, "-c", SAVE_50, str(tmp_path)]
    workers = [subprocess.Popen([*argv, str(w)]) for w in range(4)]
    assert [w.wait(timeout=300) for w in workers] == [0] * 4
    with Store(tmp_path / "catalog.db") as store:
        assert len(store.generated()) == 200
    assert len(list((tmp_path / "exports" / "studio").glob("*.png"))) == 200


def _processes_running(module: str) -> list[int]:
    """The ids of the processes whose command line names `module`."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if module.encode() in (proc / "cmdline").read_bytes().split(b"\0"):
                found.append(int(proc.name))
        except OSError:  # it ended meanwhile
            continue
    return found


def test_two_served_workers_share_one_workspace(tmp_path):
    """`serve_workers`: two uvicorn processes on one socket, each saying when it listens; every
    concurrent save lands in the store and the pool's products go out once each, whichever
    worker answers; a third process, not a worker, refills the pool."""
    from fauxshop.catalog.demo_catalog import write_demo_catalog
    from fauxshop.cli import main
    from fauxshop.image.checkpoint import generator_fingerprint, load_generator
    from fauxshop.latent.directions import save_directions, sefa
    from fauxshop.products.models import DEMO_GENERATOR
    from fauxshop.web.serve import STUDIO_DIRECTIONS

    work = ["--workdir", str(tmp_path)]
    write_demo_catalog(tmp_path / "catalog", n=30, seed=0)
    assert main(["ingest", str(tmp_path / "catalog" / "products.jsonl"), *work]) == 0
    assert main(["prune", *work]) == 0 and main(["pack", "--size", "64x32", *work]) == 0
    G = load_generator(DEMO_GENERATOR)  # SeFa sliders: instant, where serve would sample
    save_directions(tmp_path / "runs" / STUDIO_DIRECTIONS, sefa(G, k=2), generator_fingerprint(G))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code = (f"from fauxshop.web.serve import serve_workers; "
            f"serve_workers({str(tmp_path)!r}, '127.0.0.1', {port}, 2)")  # fmt: skip
    server = subprocess.Popen(
        [sys.executable, "-c", code], start_new_session=True, stdout=subprocess.PIPE, text=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            assert server.poll() is None and time.monotonic() < deadline, "no worker answered"
            try:
                if httpx.get(f"{url}/api/directions", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        with httpx.Client(timeout=120) as client, ThreadPoolExecutor(4) as pool:
            saves = list(pool.map(lambda i: client.post(f"{url}/api/save", json={"seed": i}),
                                  range(8)))  # fmt: skip
            products = list(pool.map(lambda _: client.get(f"{url}/api/product"), range(4)))
        with Store(tmp_path / "catalog.db") as store:
            while store.pool_count() == 0:
                assert time.monotonic() < deadline, "the pool was never refilled"
                time.sleep(1)
        refills = _processes_running("fauxshop.web.refill")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        said = server.communicate(timeout=60)[0].splitlines()
    workers = [line.split() for line in said if line.startswith("worker ")]
    assert len({words[1] for words in workers}) == 2
    assert all(words[2:5] == ["listening", "on", f"{url}/"] for words in workers)
    assert len(refills) == 1 and refills[0] not in {int(words[1]) for words in workers}
    assert [r.status_code for r in saves + products] == [200] * 12
    with Store(tmp_path / "catalog.db") as store:
        assert len(store.generated()) == 8
    assert len({p.json()["sku"] for p in products}) == 4


def test_a_batch_fills_the_pool_only_up_to_its_size(studio, tmp_path):
    pooled = fresh(studio, tmp_path, pool_size=3, pool_poll_s=0.01)
    stop, batches = threading.Event(), []

    def five_at_a_time():
        batches.append(1)
        if len(batches) > 1:
            stop.set()  # the pool is full after the first batch: a second one means overfill
        return [{"sku": f"B{len(batches)}-{i}"} for i in range(5)]

    worker = threading.Thread(target=refill_pool, args=(pooled, five_at_a_time, stop))
    worker.start()
    time.sleep(0.3)
    stop.set()
    worker.join()
    with pooled.store() as store:
        assert store.pool_count(pooled.models_key) == 3 and len(batches) == 1
