"""Requests/s and latency of the studio's generate, edit and pooled product endpoints at the
demo config.

`fauxshop serve` runs in its own process on loopback (the shipped demo models, a 600-product
demo catalog as the real one); a load generator here sends a bounded number of requests
(and stops at a time limit) from `--clients` concurrent connections, each asking for a new
seed, and measures each request from send to last byte. No peer is named for this server,
so there is no ratio column. `/api/product` without a seed takes a product the server composed
ahead into the store's pool; its row waits until the pool holds a round's worth (at most a full
pool), wakes its connections with one untimed request each, then sends that many while the
server composes more, round after round. Run it on an idle machine:

    .venv/bin/python bench/bench_web.py            # 200 requests per endpoint, 1 and 4 clients
    .venv/bin/python bench/bench_web.py --quick    # 20 requests: smoke check
    .venv/bin/python bench/bench_web.py --rows product --requests 20   # the pooled row alone
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from bench_products import demo_archive


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(url: str, server: subprocess.Popen, limit_s: float = 900) -> None:
    """Wait for the server to answer: a first start finds the sliders, minutes on a busy machine."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"the server exited:\n{server.stderr.read().decode()}")
        try:
            if httpx.get(url + "/api/directions", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.5)
    sys.exit("the server did not come up")


def timed(
    url: str, endpoint: str, requests: int, clients: int, limit_s: float, warm: bool = False
) -> tuple[list[float], float]:
    """Send `requests` requests (seed i each) from `clients` threads: latencies in ms, and the
    seconds they took together. `warm`: first one untimed `/api/directions` per client, since
    on this VM the first requests after ~10 s idle take 50-90 ms on any server (measured
    against Python's own http.server), which is the machine waking, not the endpoint."""
    stop = time.monotonic() + limit_s

    def one(i: int) -> float | None:
        if time.monotonic() > stop:
            return None
        start = time.perf_counter()
        if endpoint == "generate":
            response = client.get(f"{url}/api/generate", params={"seed": i})
        elif endpoint == "product (pooled)":
            response = client.get(f"{url}/api/product")
        else:
            body = {"seed": i, "strengths": {"colour:red": 2.0, "length:midi,maxi": -1.0}}
            response = client.post(f"{url}/api/edit", json=body)
        response.raise_for_status()
        return 1000 * (time.perf_counter() - start)

    with httpx.Client(timeout=60) as client, ThreadPoolExecutor(clients) as pool:
        if warm:
            list(pool.map(lambda _: client.get(f"{url}/api/directions"), range(clients)))
        start = time.perf_counter()
        latencies = [t for t in pool.map(one, range(requests)) if t is not None]
    return latencies, time.perf_counter() - start


def summary(latencies: list[float], seconds: float) -> dict:
    latencies, n = sorted(latencies), len(latencies)
    return {
        "requests": n, "requests_per_s": n / seconds,
        "p50_ms": latencies[n // 2], "p95_ms": latencies[min(n - 1, int(0.95 * n))],
    }  # fmt: skip


def load(url: str, endpoint: str, requests: int, clients: int, limit_s: float) -> dict:
    return summary(*timed(url, endpoint, requests, clients, limit_s))


def wait_for_pool(store_path: Path, products: int, limit_s: float = 1200) -> None:
    from fauxshop.catalog.store import Store

    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        with Store(store_path) as store:
            if store.pool_count() >= products:
                return
        time.sleep(1)
    sys.exit(f"the pool did not reach {products} products in {limit_s:.0f} s")


def load_pooled(url: str, store_path: Path, requests: int, clients: int) -> dict:
    """`requests` pooled products, at most a full pool's worth at a time while the server
    refills it; latencies of all rounds together, requests/s over the rounds' sending time."""
    from fauxshop.web.app import POOL_SIZE

    latencies, seconds = [], 0.0
    while len(latencies) < requests:
        n = min(requests - len(latencies), POOL_SIZE)
        wait_for_pool(store_path, n)
        more, took = timed(url, "product (pooled)", n, clients, 60, warm=True)
        latencies, seconds = latencies + more, seconds + took
    return summary(latencies, seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200, help="per endpoint and client count")
    parser.add_argument("--clients", default="1,4", help="concurrent connections to try")
    parser.add_argument("--limit-s", type=float, default=60, help="stop a run after this long")
    parser.add_argument("--quick", action="store_true", help="20 requests: smoke check")
    parser.add_argument("--rows", default="generate,edit,product", help="endpoints to measure")
    args = parser.parse_args()
    if args.quick:
        args.requests = 20
    os.environ.setdefault("FAUXSHOP_QUIET", "1")
    from fauxshop.markdown import markdown_table

    with tempfile.TemporaryDirectory(prefix="fauxshop-bench-") as tmp:
        archive = demo_archive(Path(tmp), 600)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        cmd = [sys.executable, "-m", "fauxshop", "serve", "--workdir", tmp,
               "--real", str(archive), "--port", str(port)]  # fmt: skip
        server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            wait_until_up(url, server)
            load(url, "edit", 4, 1, 30)  # warm-up: first calls pay lazy initialisation
            rows = [
                {"endpoint": endpoint, "clients": clients,
                 **load(url, endpoint, args.requests, clients, args.limit_s)}
                for endpoint in ("generate", "edit") if endpoint in args.rows.split(",")
                for clients in (int(c) for c in args.clients.split(","))
            ]  # fmt: skip
            if "product" in args.rows.split(","):
                pooled = load_pooled(url, Path(tmp) / "catalog.db", args.requests, 4)
                rows.append({"endpoint": "product (pooled)", "clients": 4, **pooled})
            load_average = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(f"fauxshop serve on loopback, demo models, {os.cpu_count()} cores, load average "
          f"{load_average} at the end\n")  # fmt: skip
    print(markdown_table(rows))


if __name__ == "__main__":
    main()
