"""The studio's HTTP API: every endpoint, and every bad input a 4xx that says why."""

from __future__ import annotations

import io

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from studio_fixture import demo_studio

from fauxshop.catalog.demo_catalog import demo_product
from fauxshop.catalog.store import Store
from fauxshop.latent.generate import generate
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
    assert set(product["checks"]) >= {"image_novel", "text_novel", "no_contradiction"}
    assert decode(client.get(product["image"])).shape == (64, 32, 3)
    assert decode(client.get(product["nearest_image"])).shape == (64, 32, 3)


def test_edit_moves_the_photo_and_zero_strength_leaves_it(client):
    names = [d["name"] for d in client.get("/api/directions").json()]
    assert names == ["sefa0", "sefa1"]
    plain = decode(client.get("/api/generate", params={"seed": 4}))
    same = decode(client.post("/api/edit", json={"seed": 4, "strengths": {"sefa0": 0}}))
    moved = decode(client.post("/api/edit", json={"seed": 4, "strengths": {"sefa0": 3}}))
    assert np.array_equal(same, plain) and not np.array_equal(moved, plain)


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
        (("a.txt", b"hello", "text/plain"), 415, "upload a PNG, JPEG or WebP"),
        (("a.png", b"not a png", "image/png"), 422, "not a usable photo"),
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


def test_served_studio_loads_the_demo_models_and_caches_its_sliders(tmp_path):
    from fauxshop.catalog.demo_catalog import write_demo_catalog
    from fauxshop.cli import main
    from fauxshop.errors import FauxshopError
    from fauxshop.web.serve import load_studio

    with pytest.raises(FauxshopError, match="no real catalog"):
        load_studio(tmp_path)
    work = ["--workdir", str(tmp_path)]
    write_demo_catalog(tmp_path / "catalog", n=30, seed=0)
    assert main(["ingest", str(tmp_path / "catalog" / "products.jsonl"), *work]) == 0
    assert main(["prune", *work]) == 0 and main(["pack", "--size", "64x32", *work]) == 0
    studio = load_studio(tmp_path)
    assert [d.name for d in studio.directions] == ["length:midi,maxi", "colour:red"]
    assert (tmp_path / "runs" / "studio-directions.json").is_file()
    again = load_studio(tmp_path)  # from the cache: same vectors, no sampling
    assert all(
        np.array_equal(a.vector, b.vector)
        for a, b in zip(studio.directions, again.directions, strict=True)
    )
