"""The studio under hostile requests: each bad one a 4xx whose JSON detail is one line saying
why (never a 500), bodies capped, uploads judged by their bytes, a seed's product the same
whatever runs beside it, and the loopback fuzzer's quick run clean."""

from __future__ import annotations

import dataclasses
import io
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch
from fastapi.testclient import TestClient
from PIL import Image
from studio_fixture import demo_studio

from fauxshop.web.app import MAX_JSON_BYTES, Studio, create_app

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def studio(tmp_path_factory) -> Studio:
    return demo_studio(tmp_path_factory.mktemp("work"))


@pytest.fixture(scope="module")
def client(studio) -> TestClient:
    return TestClient(create_app(studio), raise_server_exceptions=False)


def refused(response, status: int = 422) -> str:
    """The one-line reason of a refusal with `status`."""
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, str) and detail and "\n" not in detail
    return detail


def image_bytes(fmt: str) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (32, 64), (200, 40, 40)).save(buf, format=fmt)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"cls": "²"}, "class index '²': write it in the digits 0-9"),  # isdigit, int() fails
        ({"cls": "9" * 5000}, "query.cls: String should have at most 64 characters"),
        ({"seed": "²"}, "query.seed: Value error, must be a whole number written in the digits"),
        ({"seed": "9" * 5000}, "query.seed: Value error, must be a whole number"),
        ({"seed": " 1 "}, "query.seed: Value error, must be a whole number"),
        ({"seed": "1.0"}, "query.seed: Value error, must be a whole number"),
        ({"psi": "nan"}, "query.psi: Input should be a finite number"),
        ({"psi": "1e400"}, "query.psi: Input should be a finite number"),
    ],
)
def test_query_numbers_must_be_plain_finite_and_bounded(client, params, reason):
    for endpoint in ("/api/generate", "/api/product"):
        assert reason in refused(client.get(endpoint, params=params))


@pytest.mark.parametrize(
    ("endpoint", "body", "reason"),
    [
        ("edit", '{"psi": NaN}', "body.psi: Input should be a finite number"),
        ("similar", '{"psi": Infinity}', "body.psi: Input should be a finite number"),
        ("save", '{"psi": 1e400}', "body.psi: Input should be a finite number"),
        ("save", '{"seed": 1e400}', "body.seed: Value error, must be a whole number"),
        ("edit", '{"seed": true}', "body.seed: Value error, must be a whole number"),
        ("similar", '{"k": NaN}', "body.k: Value error, must be a whole number"),
        ("edit", '{"strengths": {"sefa0": NaN}}',
         "body.strengths.sefa0: Input should be a finite number"),
        ("similar", '{"cls": "%s"}' % ("9" * 5000),
         "body.cls: String should have at most 64 characters"),
        ("save", '{"seed": 1, "strengths": {}}', "body.strengths: Extra inputs are not permitted"),
    ],
)  # fmt: skip
def test_json_numbers_must_be_finite_and_whole_where_counted(client, endpoint, body, reason):
    """Python's JSON reader takes NaN and Infinity (and 1e400 as inf): the request models
    refuse them, and the refusal no longer echoes a value JSON cannot encode."""
    response = client.post(
        f"/api/{endpoint}", content=body, headers={"Content-Type": "application/json"}
    )
    assert reason in refused(response)


def test_a_body_that_is_not_json_gets_a_reason(client):
    """A multipart photo sent where JSON is expected broke the 422 itself (its bytes are not
    UTF-8); so did any binary body."""
    for endpoint in ("/api/similar", "/api/edit", "/api/save"):
        photo = {"photo": ("a.png", image_bytes("PNG"), "image/png")}
        assert "body: Input should be a valid dictionary" in refused(
            client.post(endpoint, files=photo)
        )
        binary = client.post(endpoint, content=b"\xff\xfe" * 64, headers={"Content-Type": "x/y"})
        assert "body: Input should be a valid dictionary" in refused(binary)


def test_request_bodies_are_capped_with_a_413(client):
    big = json.dumps({"cls": "a" * 10 * 2**20}).encode()
    headers = {"Content-Type": "application/json"}
    reason = f"request body larger than {MAX_JSON_BYTES // 1024} KiB"
    assert refused(client.post("/api/edit", content=big, headers=headers), 413) == reason
    chunks = (big[i : i + 65536] for i in range(0, len(big), 65536))  # no Content-Length
    response = client.post("/api/similar", content=chunks, headers=headers)
    assert refused(response, 411) == "send the request body with a Content-Length"
    ok = json.dumps({"seed": 1, "cls": "top"}).encode()
    assert client.post("/api/edit", content=ok, headers=headers).status_code == 200


@pytest.mark.parametrize(
    ("fmt", "declared"), [("GIF", "image/png"), ("BMP", "image/png"), ("TIFF", "image/jpeg")]
)
def test_an_upload_is_judged_by_its_bytes_not_its_declared_type(client, fmt, declared):
    photo = {"photo": ("a.png", image_bytes(fmt), declared)}
    reason = refused(client.post("/api/project", files=photo), 415)
    assert reason == f"upload a PNG, JPEG or WebP photo, not {fmt}"


def test_a_photo_under_a_generic_type_is_projected(client):
    photo = {"photo": ("a", image_bytes("PNG"), "application/octet-stream")}
    response = client.post("/api/project", files=photo)
    assert response.status_code == 200 and client.get(response.json()["image"]).status_code == 200


def test_only_the_latest_projections_are_kept(studio):
    """Each upload's latent was kept for as long as the server ran."""
    kept = dataclasses.replace(studio, max_latents=2)
    client = TestClient(create_app(kept))
    ws, noise = torch.zeros(studio.models.G.num_ws, studio.models.G.w_dim), {}
    first, second, third = (kept.keep_latent(ws, noise) for _ in range(3))
    assert [kept.latent(i) is not None for i in (first, second, third)] == [False, True, True]
    assert client.post("/api/edit", json={"latent": first}).status_code == 404
    assert client.post("/api/edit", json={"latent": third}).status_code == 200


def test_a_products_photo_link_quotes_its_class(studio):
    """A class name is the catalog's word and may hold '&' or spaces."""
    models = dataclasses.replace(
        studio.models, label_names=["dress", "jump & suit", "skirt", "top"]
    )
    client = TestClient(create_app(dataclasses.replace(studio, models=models)))
    product = client.get("/api/product", params={"seed": 3, "cls": "jump & suit"}).json()
    assert product["image"].endswith("&cls=jump%20%26%20suit")
    photo = client.get(product["image"]).content
    assert photo == client.get("/api/generate", params={"seed": 3, "cls": "1"}).content


def test_concurrent_products_are_each_seeds_own(client):
    """The writer seeded torch's global RNG: concurrent requests interleaved their draws."""
    serial = {seed: client.get("/api/product", params={"seed": seed}).json() for seed in (3, 4)}
    seeds = [3, 4] * 3
    with ThreadPoolExecutor(len(seeds)) as pool:
        answers = list(pool.map(lambda s: client.get("/api/product", params={"seed": s}), seeds))
    assert [a.json() for a in answers] == [serial[s] for s in seeds]


def test_the_loopback_fuzzer_finds_nothing(tmp_path):
    """bench/probe_http.py --quick: the studio served over HTTP, hostile requests, concurrent
    products and a little load; every count that must be zero is."""
    probe = [sys.executable, str(ROOT / "bench" / "probe_http.py"), "--quick"]
    done = subprocess.run(probe, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    table = done.stdout[done.stdout.index("| must be zero |") :].splitlines()[2:]
    assert len(table) == 8 and all(row.endswith("| 0 |") for row in table), table
