"""Images by URL against a real HTTP server on 127.0.0.1: every failure is a reason, never a
crash; 5xx is retried, 4xx is not; one host gets at most `per_host` requests at once; a rerun
downloads nothing twice; private addresses are refused unless allowed, on every redirect and
at the address actually connected to."""

from __future__ import annotations

import csv
import dataclasses
import io
import os
import socket
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fauxshop.catalog import download
from fauxshop.catalog.config import DownloadConfig
from fauxshop.catalog.download import Downloader, is_public_address, is_url
from fauxshop.catalog.images import ImageProblem
from fauxshop.catalog.ingest import ingest_table
from fauxshop.catalog.store import Store

FAST = DownloadConfig(
    workers=8, per_host=2, timeout_s=0.3, deadline_s=2.0, retries=1, backoff_s=0.01,
    max_bytes=200_000, max_redirects=3, allow_private_hosts=True,  # the server is on loopback
)  # fmt: skip
STRICT = dataclasses.replace(FAST, allow_private_hosts=False)  # ingest's default


def png_bytes(seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (24, 16, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


class Server:
    """Serves the paths below; counts requests per path and the most in flight at once."""

    def __init__(self):
        self.requests: Counter[str] = Counter()
        self.hosts: list[str] = []  # each request's Host header
        self.in_flight = self.most_in_flight = 0
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                with server.lock:
                    server.requests[self.path] += 1
                    server.hosts.append(self.headers.get("Host", ""))
                    server.in_flight += 1
                    server.most_in_flight = max(server.most_in_flight, server.in_flight)
                try:
                    server.answer(self)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (size cap, timeout): as meant
                finally:
                    with server.lock:
                        server.in_flight -= 1

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def url(self, path: str) -> str:
        return self.base + path

    def answer(self, h: BaseHTTPRequestHandler) -> None:
        path = h.path
        if path.startswith("/good/") or path.startswith("/held/"):
            if path.startswith("/held/"):
                time.sleep(0.15)  # long enough for requests to overlap
            send(h, 200, "image/png", png_bytes(int(path.rsplit("/", 1)[1].split(".")[0])))
        elif path == "/missing.png":
            send(h, 404, "text/html", b"<h1>Not Found</h1>")
        elif path == "/slow.png":
            time.sleep(1.0)
            send(h, 200, "image/png", png_bytes(0))
        elif path == "/loop.png":
            redirect(h, "/loop.png")
        elif path == "/to-file.png":
            redirect(h, "file:///etc/passwd")
        elif path == "/to-private.png":  # to another loopback address
            redirect(h, self.base.replace("127.0.0.1", "127.0.0.2") + "/good/1.png")
        elif path == "/moved.png":
            redirect(h, "/good/7.png")
        elif path == "/endless.png":
            h.send_response(200)
            h.send_header("Content-Type", "image/png")
            h.end_headers()
            chunk = b"\x89PNG" + bytes(65532)
            while True:
                h.wfile.write(chunk)
        elif path == "/fake.png":  # an error page that claims to be an image
            send(h, 200, "image/png", b"<html><body>Sorry, no such product</body></html>")
        elif path == "/page.png":
            send(h, 200, "text/html; charset=utf-8", b"<html>login</html>")
        elif path in ("/flaky.png", "/limited.png"):
            if self.requests[path] == 1:
                if path == "/limited.png":
                    h.send_response(429)
                    h.send_header("Retry-After", "0")
                    h.send_header("Content-Length", "0")
                    h.end_headers()
                    return
                send(h, 503, "text/plain", b"busy")
            else:
                send(h, 200, "image/png", png_bytes(5))
        else:
            send(h, 404, "text/plain", b"no")

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def send(h: BaseHTTPRequestHandler, status: int, kind: str, body: bytes) -> None:
    h.send_response(status)
    h.send_header("Content-Type", kind)
    h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    h.wfile.write(body)


def redirect(h: BaseHTTPRequestHandler, location: str) -> None:
    h.send_response(302)
    h.send_header("Location", location)
    h.send_header("Content-Length", "0")
    h.end_headers()


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


def reason(downloader: Downloader, url: str) -> str:
    try:
        downloader.fetch(url)
    except ImageProblem as problem:
        return problem.reason
    return "ok"


def test_every_failure_is_a_reason(tmp_path, server):
    cases = {
        "/good/1.png": "ok",
        "/moved.png": "ok",
        "/missing.png": "download_http_error",
        "/slow.png": "download_timeout",
        "/loop.png": "download_redirects",
        "/endless.png": "download_too_large",
        "/fake.png": "download_not_image",
        "/page.png": "download_not_image",
        "/to-file.png": "download_bad_scheme",
    }
    with Downloader(tmp_path / "cache", FAST, progress=False) as downloader:
        got = {path: reason(downloader, server.url(path)) for path in cases}
        assert reason(downloader, "ftp://127.0.0.1/x.png") == "download_bad_scheme"
        assert reason(downloader, "file:///etc/hostname") == "download_bad_scheme"
        assert reason(downloader, server.url("/good/3.png?v=1 2")) == "ok"  # quoted on the way
        assert reason(downloader, "http://127.0.0.1:99999/x.png") == "download_failed"
    assert got == cases
    assert server.requests["/loop.png"] == FAST.max_redirects + 1
    # Only whole images reach the cache: no partial body, no temp file, no error page.
    cached = sorted(p for p in (tmp_path / "cache").rglob("*") if p.is_file())
    assert len(cached) == 3
    assert all(Image.open(p).format == "PNG" for p in cached)


def test_5xx_and_429_are_retried_and_4xx_is_not(tmp_path, server):
    with Downloader(tmp_path / "cache", FAST, progress=False) as downloader:
        assert downloader.fetch(server.url("/flaky.png")).is_file()
        assert downloader.fetch(server.url("/limited.png")).is_file()
        assert reason(downloader, server.url("/missing.png")) == "download_http_error"
    assert server.requests["/flaky.png"] == server.requests["/limited.png"] == 2
    assert server.requests["/missing.png"] == 1


def test_rerun_downloads_nothing_twice(tmp_path, server):
    urls = [server.url(f"/good/{i}.png") for i in range(6)] * 2  # each twice, at once
    with Downloader(tmp_path / "cache", FAST, progress=False) as downloader:
        paths = [f.result() for f in [downloader.submit(u) for u in urls]]
    first = sum(server.requests.values())
    assert first == 6
    with Downloader(tmp_path / "cache", FAST, progress=False) as again:
        assert [again.fetch(u) for u in urls] == paths
        assert again.counts["cached"] == 12 and again.counts["fetched"] == 0
    assert sum(server.requests.values()) == first


def test_one_host_gets_at_most_per_host_requests_at_once(tmp_path, server):
    with Downloader(tmp_path / "cache", FAST, progress=False) as downloader:
        futures = [downloader.submit(server.url(f"/held/{i}.png")) for i in range(10)]
        assert all(f.result().is_file() for f in futures)
    assert server.most_in_flight == FAST.per_host


def test_stale_temp_files_of_a_killed_run_are_removed(tmp_path):
    cache = tmp_path / "cache"
    (cache / "ab").mkdir(parents=True)
    stale, live = cache / "ab" / ".abc.123.tmp", cache / "ab" / ".abd.456.tmp"
    stale.write_bytes(b"half a photo")
    live.write_bytes(b"being written")
    old = time.time() - 7200
    os.utime(stale, (old, old))
    with Downloader(cache, FAST, progress=False):
        pass
    assert not stale.exists() and live.exists()


def test_is_url():
    assert is_url("https://cdn.example.com/a.jpg") and is_url("//cdn.example.com/a.jpg")
    assert is_url("data:image/png;base64,AAAA") and is_url("file:///etc/passwd")
    assert not is_url("photos/a.jpg") and not is_url("C:/photos/a.jpg")


def write_merchant_tsv(path: Path, items: list[tuple[str, str]]) -> Path:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f, delimiter="\t")
        writer.writerow(["id", "title", "description", "image_link", "color"])
        for sku, link in items:
            writer.writerow([sku, f"Dress {sku}", "<p>A dress.</p>", link, "Red"])
    return path


def test_ingest_of_a_feed_by_url_rejects_each_failure_with_its_reason(tmp_path, server):
    paths = {
        "g1": "/good/1.png", "g2": "/good/2.png", "g3": "/moved.png",
        "m": "/missing.png", "s": "/slow.png", "l": "/loop.png", "e": "/endless.png",
        "f": "/fake.png", "p": "/page.png", "r": "/to-file.png",
    }  # fmt: skip
    items = [(sku, server.url(path)) for sku, path in paths.items()]
    items.append(("ftp", "ftp://127.0.0.1/x.png"))
    feed = write_merchant_tsv(tmp_path / "feed.tsv", items)
    with Store(tmp_path / "catalog.db") as store:
        report = ingest_table(store, feed, tmp_path, download=FAST)
        assert report.products == 11 and report.added == 11
        assert dict(report.rejected) == {
            "download_http_error": 1,
            "download_timeout": 1,
            "download_redirects": 1,
            "download_too_large": 1,
            "download_not_image": 2,
            "download_bad_scheme": 2,
        }
        good = store.product("g3")
        assert good["status"] == "ingested" and good["category"] == ""
        assert Path(good["image_path"]).is_relative_to(tmp_path / "downloads")
        assert good["description"] == "A dress."
        assert '"colour": "red"' in good["attributes"]
        assert "HTTP 404" in store.product("m")["reject_detail"]
        requests = sum(n for path, n in server.requests.items() if "good" in path)
        again = ingest_table(store, feed, tmp_path, download=FAST)
        assert again.unchanged == 11 and again.rejected == report.rejected
    assert sum(n for path, n in server.requests.items() if "good" in path) == requests == 3


def test_cli_ingest_of_a_feed_downloads_into_the_workspace(tmp_path, server, capsys):
    from fauxshop.cli import main

    feed = write_merchant_tsv(
        tmp_path / "feed.txt", [("a", server.url("/good/4.png")), ("b", server.url("/slow.png"))]
    )
    work = tmp_path / "work"
    args = ["ingest", str(feed), "--format", "merchant", "--workdir", str(work)]
    assert main([*args, "--timeout-s", "0.2", "--retries", "0", "--allow-private-hosts"]) == 0
    assert "download_timeout" in capsys.readouterr().out
    assert server.requests["/slow.png"] == 1  # --retries 0: one attempt
    with Store(work / "catalog.db") as store:
        assert Path(store.product("a")["image_path"]).parent.parent == work / "downloads"
        assert store.product("b")["reject_reason"] == "download_timeout"


def test_private_addresses_are_refused_before_any_request(tmp_path, server):
    with Downloader(tmp_path / "cache", STRICT, progress=False) as downloader:
        for url in (
            server.url("/good/1.png"),
            server.url("/moved.png").replace("127.0.0.1", "localhost"),
        ):
            assert reason(downloader, url) == "download_private_address"
    assert not server.requests  # refused before connecting
    feed = write_merchant_tsv(tmp_path / "feed.tsv", [("a", server.url("/good/1.png"))])
    with Store(tmp_path / "catalog.db") as store:
        report = ingest_table(store, feed, tmp_path)  # the default: refused
        assert dict(report.rejected) == {"download_private_address": 1}
        assert "127.0.0.1" in store.product("a")["reject_detail"]
    assert not server.requests


@pytest.mark.parametrize(
    "address, public",
    [("127.0.0.1", False), ("10.1.2.3", False), ("172.16.0.1", False), ("192.168.1.1", False),
     ("169.254.169.254", False), ("0.0.0.0", False), ("::1", False), ("::", False),
     ("fe80::1%eth0", False), ("::ffff:127.0.0.1", False), ("fd00::1", False),
     ("100.64.0.1", False), ("8.8.8.8", True), ("::ffff:8.8.8.8", True),
     ("2606:4700::1111", True)],
)  # fmt: skip
def test_is_public_address(address, public):
    assert is_public_address(address) is public


def test_every_redirect_is_checked(tmp_path, server, monkeypatch):
    """A redirect from an allowed address to a private one is refused before it is followed
    (here the server's own 127.0.0.1 stands for a public host)."""
    monkeypatch.setattr(download, "is_public_address", lambda address: address == "127.0.0.1")
    with Downloader(tmp_path / "cache", STRICT, progress=False) as downloader:
        assert reason(downloader, server.url("/to-private.png")) == "download_private_address"
        assert reason(downloader, server.url("/moved.png")) == "ok"  # same host: followed
    assert server.requests == {"/to-private.png": 1, "/moved.png": 1, "/good/7.png": 1}


def test_the_connection_goes_to_the_address_checked(tmp_path, server, monkeypatch):
    """DNS rebinding: a name that answers a checked address first and another one later is
    connected to at the first, once resolved; the name is still the Host header."""
    real = socket.getaddrinfo
    answers = iter(["127.0.0.1"])  # a second lookup would get an unroutable address

    def resolve(host, port, *args, **kwargs):
        if host == "shop.invalid":
            return real(next(answers, "10.255.255.1"), port, *args, **kwargs)
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    url = server.url("/good/2.png").replace("127.0.0.1", "shop.invalid")
    with Downloader(tmp_path / "cache", FAST, progress=False) as downloader:
        assert reason(downloader, url) == "ok"
    port = server.base.rsplit(":", 1)[1]
    assert server.hosts == [f"shop.invalid:{port}"]
