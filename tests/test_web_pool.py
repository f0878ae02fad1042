"""The studio's state in the workspace's store: the home page's pool of products composed ahead
(each handed out once, whichever worker asks), projections that outlive their server, and
saves from concurrent workers that all land."""

from __future__ import annotations

import dataclasses
import multiprocessing
import threading
import time
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from studio_fixture import demo_studio

from fauxshop.catalog.store import Store
from fauxshop.latent.projection import NOISE_SUFFIX, render_projection
from fauxshop.pixels import png_bytes
from fauxshop.web.app import Studio, create_app, save_product
from fauxshop.web.pool import refill_pool

FORK = multiprocessing.get_context("fork")  # the children only touch SQLite and PNG files


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


def take_all(path, models: str, out) -> None:
    with Store(path) as store:
        while (product := store.pool_take(models)) is not None:
            out.put(product["n"])
    out.put(None)


def test_concurrent_workers_never_hand_out_the_same_product(tmp_path):
    path = tmp_path / "catalog.db"
    with Store(path) as store:
        for n in range(200):
            store.pool_add("m", {"n": n})
    out = FORK.Queue()
    workers = [FORK.Process(target=take_all, args=(path, "m", out)) for _ in range(4)]
    for w in workers:
        w.start()
    taken, done = [], 0
    while done < len(workers):
        n = out.get(timeout=60)
        done += n is None
        taken += [] if n is None else [n]
    for w in workers:
        w.join(timeout=60)
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
    first = threading.Thread(target=refill_pool, args=(pooled, lambda: made.append(1) or {}, stop))
    first.start()
    try:
        while len(made) < 3:
            time.sleep(0.01)
        calls = []
        refill_pool(pooled, lambda: calls.append(1) or {}, threading.Event())  # returns at once
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


def save_many(workdir, worker: int) -> None:
    for i in range(50):
        record = {
            "sku": f"GEN-{worker}-{i}", "title": "a dress", "description": "", "category": "dress",
            "attributes": {}, "status": "accepted", "checks": {}, "provenance": {"seed": i},
        }  # fmt: skip
        save_product(workdir, SimpleNamespace(record=record, image=np.zeros((4, 2, 3), np.uint8)))


def test_concurrent_saves_from_four_workers_lose_nothing(tmp_path):
    workers = [FORK.Process(target=save_many, args=(tmp_path, w)) for w in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
    assert [w.exitcode for w in workers] == [0] * 4
    with Store(tmp_path / "catalog.db") as store:
        assert len(store.generated()) == 200
    assert len(list((tmp_path / "exports" / "studio").glob("*.png"))) == 200
