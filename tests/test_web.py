"""The studio's HTTP API: every endpoint, and every bad input a 4xx that says why."""

from __future__ import annotations

import dataclasses
import io
import socket
import threading
import time
import urllib.request

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from studio_fixture import demo_studio

from fauxshop.catalog.demo_catalog import demo_product
from fauxshop.catalog.store import Store
from fauxshop.latent.generate import generate
from fauxshop.products.models import SLIDER_RANGES, UNMEASURED_RANGE
from fauxshop.web.app import MAX_UPLOAD_BYTES, Studio, create_app


@pytest.fixture(scope="module")
def studio(tmp_path_factory) -> Studio:
    return demo_studio(tmp_path_factory.mktemp("work"))


@pytest.fixture(scope="module")
def client(studio) -> TestClient:
    return TestClient(create_app(studio))


def decode(response) -> np.ndarray:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    return np.asarray(Image.open(io.BytesIO(response.content)))


def photo_bytes(fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    demo_product(0, 0, 0.0).image.convert("RGB").save(buf, format=fmt)
    return buf.getvalue()


def test_generate_is_the_seeds_photo(client, studio):
    image = decode(client.get("/api/generate", params={"seed": 7, "psi": 0.7}))
    expected = generate(studio.models.G, [7], psi=0.7, class_index=0)[0]
    assert np.array_equal(image, expected)
    other = decode(client.get("/api/generate", params={"seed": 7, "psi": 0.7, "cls": "top"}))
    assert not np.array_equal(other, expected)


def test_product_is_composed_with_its_nearest_real_one(client):
    product = client.get("/api/product", params={"seed": 3}).json()
    assert product["title"] and product["description"] and product["category"]
    assert product["nearest_sku"].startswith("REAL-")
    assert set(product["checks"]) >= {"image_novel", "text_novel", "grounded_text"}
    assert decode(client.get(product["image"])).shape == (64, 32, 3)
    assert decode(client.get(product["nearest_image"])).shape == (64, 32, 3)


def test_edit_moves_the_photo_and_zero_strength_leaves_it(client):
    names = [d["name"] for d in client.get("/api/directions").json()]
    assert names == ["sefa0", "sefa1"]
    plain = decode(client.get("/api/generate", params={"seed": 4}))
    same = decode(client.post("/api/edit", json={"seed": 4, "strengths": {"sefa0": 0}}))
    moved = decode(client.post("/api/edit", json={"seed": 4, "strengths": {"sefa0": 1.5}}))
    assert np.array_equal(same, plain) and not np.array_equal(moved, plain)


def test_each_slider_offers_and_keeps_to_its_clean_range(studio):
    """The demo sliders' measured ranges reach the page and bound the edit endpoint; a direction
    nobody measured gets the cautious range."""
    length = dataclasses.replace(studio.directions[0], name="length:midi,maxi")
    two = dataclasses.replace(studio, directions=[length, studio.directions[1]])
    ranged = TestClient(create_app(two))
    offered = {d["name"]: (d["min"], d["max"]) for d in ranged.get("/api/directions").json()}
    assert offered == {"length:midi,maxi": SLIDER_RANGES["length:midi,maxi"],
                       "sefa1": UNMEASURED_RANGE}  # fmt: skip
    low, high = SLIDER_RANGES["length:midi,maxi"]
    for value in (low, high):
        edit = {"seed": 1, "strengths": {length.name: value}}
        assert ranged.post("/api/edit", json=edit).status_code == 200
    for name, value in ((length.name, low - 0.25), (length.name, high + 0.25), ("sefa1", -2)):
        response = ranged.post("/api/edit", json={"seed": 1, "strengths": {name: value}})
        assert response.status_code == 422 and f"strength of {name} must be in" in response.text


def test_api_docs_are_served_from_local_files(client):
    """/docs must work offline: its page names only this server's Swagger UI files."""
    page = client.get("/docs").text
    assert "https://" not in page and "http://" not in page
    for asset, kind in (("swagger-ui-bundle.js", "javascript"), ("swagger-ui.css", "text/css")):
        assert f'"/docs-assets/{asset}"' in page
        response = client.get(f"/docs-assets/{asset}")
        assert response.status_code == 200 and kind in response.headers["content-type"]
        assert len(response.content) > 100_000  # the real bundle, not a placeholder
    assert client.get("/docs-assets/..%2Findex.html").status_code == 404
    assert client.get("/redoc").status_code == 404  # ReDoc's page would load from a CDN


def test_mix_takes_coarse_styles_from_the_row_seed(client):
    mixed = decode(client.get("/api/mix", params={"row": 1, "col": 2, "styles": "coarse"}))
    assert mixed.shape == (64, 32, 3)
    assert not np.array_equal(mixed, decode(client.get("/api/generate", params={"seed": 2})))
    assert client.get("/api/mix", params={"styles": "all"}).status_code == 422


def test_projection_then_edit_similar_and_reconstruction(client):
    response = client.post("/api/project", files={"photo": ("d.jpg", photo_bytes("JPEG"),
                                                            "image/jpeg")})  # fmt: skip
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["psnr"] > 12
    reconstruction = decode(client.get(result["image"]))
    edit = {"latent": result["latent"], "strengths": {}}
    assert np.array_equal(decode(client.post("/api/edit", json=edit)), reconstruction)
    found = client.post("/api/similar", json={"latent": result["latent"], "k": 3}).json()
    assert len(found) == 3 and [f["distance"] for f in found] == sorted(
        f["distance"] for f in found
    )


def test_save_stores_the_composed_product(client, studio):
    saved = client.post("/api/save", json={"seed": 11}).json()
    with Store(studio.workdir / "catalog.db") as store:
        rows = {r["sku"]: r for r in store.generated()}
    assert rows[saved["sku"]]["title"] == saved["title"]
    assert (studio.workdir / "exports" / "studio" / f"{saved['sku']}.png").is_file()


def test_pages_and_schema_are_served(client):
    assert "Next product" in client.get("/").text
    assert "studio.js" in client.get("/studio").text
    assert client.get("/static/studio.js").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/generate", "/api/edit", "/api/project", "/api/similar", "/api/save"} <= set(paths)


@pytest.mark.parametrize(
    ("upload", "status", "reason"),
    [
        (("a.txt", b"hello", "text/plain"), 422, "not a usable photo: image_corrupt"),
        (("a.png", b"not a png", "image/png"), 422, "not a usable photo: image_corrupt"),
        (("a.png", photo_bytes("GIF"), "image/png"), 415, "upload a PNG, JPEG or WebP photo"),
        (("a.png", b"0" * (MAX_UPLOAD_BYTES + 1), "image/png"), 413, "larger than 5 MiB"),
    ],
)
def test_bad_uploads_are_refused_with_the_reason(client, upload, status, reason):
    response = client.post("/api/project", files={"photo": upload})
    assert response.status_code == status and reason in response.json()["detail"]


def test_too_many_pixels_are_refused(client):
    buf = io.BytesIO()
    Image.new("L", (5000, 4000)).save(buf, format="PNG")
    response = client.post(
        "/api/project", files={"photo": ("big.png", buf.getvalue(), "image/png")}
    )
    assert response.status_code == 422 and "image_too_large" in response.json()["detail"]


@pytest.mark.parametrize(
    ("method", "url", "body", "status"),
    [
        ("get", "/api/generate?seed=-1", None, 422),
        ("get", "/api/generate?cls=coat", None, 422),
        ("post", "/api/edit", {"seed": 1, "strengths": {"nope": 1}}, 422),
        ("post", "/api/edit", {"seed": 1, "strengths": {"sefa0": 99}}, 422),
        ("post", "/api/edit", {"seed": 1, "strengths": {"sefa0": -4}}, 422),
        ("post", "/api/edit", {"latent": "0" * 32}, 404),
        ("post", "/api/edit", {"latent": "../../etc/passwd"}, 422),
        ("post", "/api/similar", {"seed": 1, "k": 0}, 422),
        ("get", "/api/latent/..%2F..%2Fcatalog.png", None, 404),
        ("get", "/api/real/nope.png", None, 404),
        ("get", "/static/..%2Fapp.py", None, 404),
        ("post", "/api/save", {"latent": "0" * 32}, 422),
    ],
)
def test_bad_requests_get_a_4xx_and_reach_no_file(client, method, url, body, status):
    response = getattr(client, method)(url, **({"json": body} if body is not None else {}))
    assert response.status_code == status, response.text
    assert response.json()["detail"]


def test_served_studio_finds_the_sliders_the_demo_prepared_and_says_so(tmp_path):
    """`make demo` finds the sliders with the generator and tagger it loads itself; serve, on
    the same workspace, must take them from that cache and say what it did at each step."""
    from fauxshop.catalog.demo_catalog import write_demo_catalog
    from fauxshop.cli import main
    from fauxshop.errors import FauxshopError
    from fauxshop.image.checkpoint import load_generator
    from fauxshop.products.models import (
        DEMO_GENERATOR,
        DEMO_TAGGER,
        cached_sliders,
        studio_directions,
    )
    from fauxshop.tagger.model import load_tagger
    from fauxshop.web.serve import STUDIO_DIRECTIONS, load_studio

    with pytest.raises(FauxshopError, match="no real catalog"):
        load_studio(tmp_path)
    work = ["--workdir", str(tmp_path)]
    write_demo_catalog(tmp_path / "catalog", n=30, seed=0)
    assert main(["ingest", str(tmp_path / "catalog" / "products.jsonl"), *work]) == 0
    assert main(["prune", *work]) == 0 and main(["pack", "--size", "64x32", *work]) == 0
    cache = tmp_path / "runs" / STUDIO_DIRECTIONS
    G = load_generator(DEMO_GENERATOR)
    assert cached_sliders(G, cache) is None
    # run_demo's last stage, on fewer samples: what is tested here is serve reading the cache
    prepared = studio_directions(G, load_tagger(DEMO_TAGGER), cache, n=200)
    said = []
    studio = load_studio(tmp_path, say=said.append)
    assert [d.name for d in studio.directions] == ["length:midi,maxi", "colour:red"]
    assert all(
        np.array_equal(a.vector, b.vector) for a, b in zip(prepared, studio.directions, strict=True)
    )
    assert said[0].startswith("real catalog: ") and said[1].startswith("loading the generator")
    assert said[2].startswith("models loaded (") and said[3].endswith(f"(from {cache})")
    assert not any("finding" in line for line in said)
    cache.write_bytes(b"torn")  # a damaged cache is found again, not served
    assert cached_sliders(G, cache) is None


def test_serve_says_listening_once_it_answers(studio):
    """The "listening" line comes when the socket is bound: a request right after it works."""
    from fauxshop.web.serve import serve

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    said = []
    idle = dataclasses.replace(studio, pool_size=0)  # no compose left running at the tests' exit
    server = threading.Thread(target=serve, args=(idle, "127.0.0.1", port, said.append))
    server.daemon = True  # serve runs until the process ends
    server.start()
    deadline = time.monotonic() + 30
    while not said:
        assert time.monotonic() < deadline, "serve never said it was listening"
        time.sleep(0.05)
    assert said == [f"listening on http://127.0.0.1:{port}/ (studio: /studio, API: /docs)"]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/directions", timeout=10) as r:
        assert r.status == 200
