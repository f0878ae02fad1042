"""A bounded loopback fuzzer for the studio's HTTP API: every hostile request must get a 4xx
with a one-line JSON reason (never a 5xx or a dropped connection), /api/product must give a
seed's product whatever runs beside it, and the server's latency and memory are measured.

The studio runs on the shipped demo models with a 12-photo stand-in catalog
(tests/studio_fixture.py) in its own process on 127.0.0.1, served by
`fauxshop.web.serve.serve`. This process sends raw HTTP/1.1, so it can send what a client
library would not: lying content types and lengths, truncated bodies, NaN in JSON. Each case
names the statuses it may get; a case answered otherwise is counted. Then 8 concurrent
/api/product requests for one seed against the serial answer, and a load of mixed valid
requests: latency per endpoint, and the server's RSS and peak RSS. Exits 1 when a count that
must be zero is not.

    .venv/bin/python bench/probe_http.py            # >= 300 hostile requests, 8 clients x 50
    .venv/bin/python bench/probe_http.py --quick    # ~30 hostile requests, 2 clients x 5
"""

from __future__ import annotations

import argparse
import io
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.client import HTTPResponse
from pathlib import Path
from urllib.parse import quote, urlencode

from bench_web import free_port

ROOT = Path(__file__).resolve().parents[1]
BAD = tuple(range(400, 500))  # any 4xx: a refusal, with its reason
OK = (200,)
MIB = 2**20


@dataclass
class Case:
    """One raw request and the statuses it may get; `short` ones promise more body than they
    send and then close their side: the server may answer with a 4xx or just close."""

    name: str
    raw: bytes
    expect: tuple[int, ...]
    short: bool = False


def request(method: str, target: str, body: bytes = b"", headers: dict | None = None) -> bytes:
    head = {"Host": "127.0.0.1", "Connection": "close", **(headers or {})}
    if body and "Transfer-Encoding" not in head:
        head.setdefault("Content-Length", str(len(body)))
    lines = [f"{method} {target} HTTP/1.1", *(f"{k}: {v}" for k, v in head.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def get(path: str, **params: str) -> bytes:
    return request("GET", path + ("?" + urlencode(params, quote_via=quote) if params else ""))


def post(path: str, body: bytes | str, content_type: str | None = "application/json") -> bytes:
    body = body.encode() if isinstance(body, str) else body
    return request("POST", path, body, {"Content-Type": content_type} if content_type else {})


def multipart(files: list[tuple[str, str, str, bytes]], close: bool = True) -> tuple[bytes, str]:
    """(body, content type) of a form with (field, filename, content type, data) parts."""
    boundary = "fauxshop-probe-boundary"
    body = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{name}"\r\n'
        f"Content-Type: {kind}\r\n\r\n".encode()
        + data
        + b"\r\n"
        for field, name, kind, data in files
    )
    return body + (f"--{boundary}--\r\n".encode() if close else b""), (
        f"multipart/form-data; boundary={boundary}"
    )


def upload(path: str, files: list[tuple[str, str, str, bytes]], close: bool = True) -> bytes:
    body, kind = multipart(files, close)
    return post(path, body, kind)


def image_bytes(fmt: str, size: tuple[int, int] = (32, 64)) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", size, (200, 40, 40)).save(buf, format=fmt)
    return buf.getvalue()


INTS = ["-1", "²", "١٢", "9" * 5000, "1e3", "0x10", "", "1.5", "nan", "inf", "2147483648",
        "99999999999999999999", "null", "семь", "👗", "\x00", " 1 ", "--1"]  # fmt: skip
FLOATS = ["nan", "NaN", "inf", "-inf", "Infinity", "1e400", "-1e400", "-0.1", "2.0001", "abc",
          "²", "", "0x1p1", "9" * 5000, "1,5"]  # fmt: skip
CLASSES = ["²", "9" * 5000, "-1", "4", "99", "coat", " ", "\x00", "👗", "ドレス", "../etc/passwd",
           "top\x00", "0" * 100, "١", "⁰"]  # fmt: skip
JSON_BODIES = [
    "NaN", '{"seed": NaN}', '{"psi": NaN}', '{"psi": Infinity}', '{"psi": -Infinity}',
    '{"psi": 1e400}', '{"seed": 1e400}', '{"seed": -1}', '{"seed": 99999999999999999999999}',
    '{"seed": "²"}', '{"seed": 1.5}', '{"seed": "%s"}' % ("9" * 5000), '{"cls": "²"}',
    '{"cls": "%s"}' % ("9" * 5000), '{"cls": 5}', '{"cls": "coat"}', '{"cls": "⁰"}',
    '{"latent": "../../etc/passwd"}', '{"latent": "%s"}' % ("0" * 32), '{"latent": 7}',
    '{"k": 0}', '{"k": 1e400}', '{"k": NaN}', '{"k": 100000}', '{"strengths": {"sefa0": NaN}}',
    '{"strengths": {"sefa0": Infinity}}', '{"strengths": {"sefa0": -1e400}}',
    '{"strengths": {"nope": 1}}', '{"strengths": {"sefa0": "x"}}', '{"strengths": [1]}',
    "[]", '"x"', "null", "{", '{"seed": 1', "", "[" * 100_000,
    '{"seed": 1, "psi": 0.7, "cls": "top", "strengths": {"sefa0": NaN, "sefa1": 1}}',
]  # fmt: skip


def cases(quick: bool) -> list[Case]:
    """The hostile requests (and a few valid controls), built here; `quick` takes a spread."""
    out: list[Case] = []
    for endpoint, ints in (("generate", ["seed"]), ("product", ["seed"]), ("mix", ["row", "col"])):
        path = f"/api/{endpoint}"
        for param in ints:
            out += [
                Case(f"{endpoint} {param}={v[:12]!r}", get(path, **{param: v}), BAD) for v in INTS
            ]
        out += [Case(f"{endpoint} psi={v[:12]!r}", get(path, psi=v), BAD) for v in FLOATS]
        out += [Case(f"{endpoint} cls={v[:12]!r}", get(path, cls=v), BAD) for v in CLASSES]
    out += [Case(f"mix styles={v[:12]!r}", get("/api/mix", styles=v), BAD)
            for v in ("all", "", "COARSE", "ü" * 1000, "coarse,fine")]  # fmt: skip
    for name in ("0" * 32, "..%2F..%2Fcatalog", "%2e%2e", "%C3%BC", "a" * 3000, "%00"):
        out.append(Case(f"latent {name[:12]}", get(f"/api/latent/{name}.png"), (404,)))
        out.append(Case(f"real {name[:12]}", get(f"/api/real/{name}.png"), (404,)))
        out.append(Case(f"static {name[:12]}", get(f"/static/{name}"), (404,)))
        out.append(Case(f"docs-assets {name[:12]}", get(f"/docs-assets/{name}"), (404,)))
    for method, path in (("PUT", "/api/edit"), ("DELETE", "/api/save"), ("GET", "/api/edit"),
                         ("GET", "/api/project"), ("POST", "/api/generate")):  # fmt: skip
        out.append(Case(f"{method} {path}", request(method, path), (405,)))
    png = image_bytes("PNG")
    for path in ("/api/edit", "/api/similar", "/api/save"):
        out += [Case(f"{path} {b[:24]!r}", post(path, b), BAD) for b in JSON_BODIES]
        form, form_type = multipart([("photo", "a.png", "image/png", png)])
        out += [
            Case(f"{path} multipart", post(path, form, form_type), BAD),
            Case(f"{path} text/plain", post(path, '{"seed": 1}', "text/plain"), BAD),
            Case(f"{path} no type", post(path, '{"seed": 1}', None), BAD),
            Case(f"{path} form", post(path, "seed=1", "application/x-www-form-urlencoded"), BAD),
            Case(f"{path} latin-1", post(path, b'{"cls": "\xe9\xff"}'), BAD),
            Case(f"{path} binary", post(path, b"\xff\xfe\x00\x01" * 64, "text/plain"), BAD),
            Case(f"{path} 10 MB", post(path, '{"cls": "%s"}' % ("a" * 10 * MIB)), (413,)),
            Case(f"{path} 100 KB", post(path, '{"cls": "%s"}' % ("a" * 100_000)), (413,)),
            Case(f"{path} 10 MB chunked", chunked("POST", path, b'{"cls": "' + b"a" * 10 * MIB),
                 (411,)),
            Case(f"{path} length lies", request("POST", path, b"{}", {
                "Content-Type": "application/json", "Content-Length": str(10**12)}), (413,)),
            Case(f"{path} short", request("POST", path, b'{"seed": 1', {
                "Content-Type": "application/json", "Content-Length": "500"}), BAD, short=True),
        ]  # fmt: skip
    project = "/api/project"
    bomb = image_bytes("PNG", (5000, 4000))
    out += [
        Case("project gif as png", upload(project, [("photo", "a.png", "image/png",
                                                     image_bytes("GIF"))]), (415,)),
        Case("project bmp as png", upload(project, [("photo", "a.png", "image/png",
                                                     image_bytes("BMP"))]), (415,)),
        Case("project tiff as jpeg", upload(project, [("photo", "a.jpg", "image/jpeg",
                                                       image_bytes("TIFF"))]), (415,)),
        Case("project text", upload(project, [("photo", "a.txt", "text/plain", b"hello")]), BAD),
        Case("project half a png", upload(project, [("photo", "a.png", "image/png",
                                                     png[: len(png) // 2])]), BAD),
        Case("project empty", upload(project, [("photo", "a.png", "image/png", b"")]), BAD),
        Case("project 20 Mpx", upload(project, [("photo", "b.png", "image/png", bomb)]), BAD),
        Case("project 6 MB", upload(project, [("photo", "b.jpg", "image/jpeg",
                                               os.urandom(6 * MIB))]), (413,)),
        Case("project json", post(project, '{"seed": 1}'), BAD),
        Case("project wrong field", upload(project, [("file", "a.png", "image/png", png)]), BAD),
        Case("project two photos", upload(project, [("photo", "a.png", "image/png", b"x")] * 2),
             BAD),
        Case("project unclosed form", upload(project, [("photo", "a.png", "image/png", png)],
                                             close=False), BAD),
        Case("project no boundary", post(project, png, "multipart/form-data"), BAD),
        Case("project short", request("POST", project, png[:100], {
            "Content-Type": multipart([])[1], "Content-Length": str(len(png))}), BAD, short=True),
        Case("project length lies", request("POST", project, png, {
            "Content-Type": multipart([])[1], "Content-Length": str(10**12)}), (413,)),
    ]  # fmt: skip
    out += [
        Case("GET 10 MB body", request("GET", "/api/directions", b"x" * 10 * MIB), (413,)),
        Case("GET chunked body", chunked("GET", "/static/studio.js", b"x" * 10 * MIB), (411,)),
    ]
    controls = [  # valid, if odd: answered 200
        Case("generate", get("/api/generate", seed="3", psi="0.5", cls="top"), OK),
        Case("generate cls=' TOP '", get("/api/generate", cls=" TOP "), OK),
        Case("edit with a UTF-8 BOM", post("/api/edit", '\ufeff{"seed": 2}'), OK),
        Case("directions", get("/api/directions"), OK),
        Case("edit", post("/api/edit", '{"seed": 2, "strengths": {"sefa0": 1}}'), OK),
        Case("similar", post("/api/similar", '{"seed": 2, "k": 3}'), OK),
        Case("project octet-stream png", upload(project, [("photo", "a.png",
                                                           "application/octet-stream", png)]), OK),
    ]  # fmt: skip
    if quick:
        out = out[:: len(out) // 25]
    return out + controls


def chunked(method: str, path: str, body: bytes) -> bytes:
    """`body` sent in 64 KiB chunks with no Content-Length."""
    parts = [body[i : i + 65536] for i in range(0, len(body), 65536)]
    data = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"
    return request(method, path, data, {"Content-Type": "application/json",
                                        "Transfer-Encoding": "chunked"})  # fmt: skip


class _Recorded:
    """Bytes read off a socket, as the file http.client parses a response from."""

    def __init__(self, data: bytes):
        self.data = data

    def makefile(self, mode: str) -> io.BytesIO:
        return io.BytesIO(self.data)


def send(port: int, raw: bytes, short: bool = False, timeout: float = 120) -> tuple[str, dict]:
    """Send one request; ("dropped", {}) when the connection closed or broke without a status
    line, else (status, JSON body or {})."""
    data = b""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        try:
            s.sendall(raw)
            if short:
                s.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server may refuse (413) and close before the body is all sent
        try:
            while chunk := s.recv(65536):
                data += chunk
        except OSError:
            pass
    if not data:
        return "dropped", {}
    response = HTTPResponse(_Recorded(data))  # type: ignore[arg-type]
    try:
        response.begin()
        body = response.read()
    except Exception:  # a partial answer is as good as none
        return "dropped", {}
    try:
        parsed = json.loads(body) if "json" in response.getheader("content-type", "") else {}
    except ValueError:
        parsed = {}
    return str(response.status), parsed if isinstance(parsed, dict) else {}


def fuzz(port: int, quick: bool) -> dict:
    """Every case once; counts by status class, cases answered otherwise than expected, 4xx
    without a one-line JSON `detail`, and dropped connections."""
    counts: Counter = Counter()
    unexpected, no_reason = [], []
    all_cases = cases(quick)
    for case in all_cases:
        status, body = send(port, case.raw, case.short)
        if status == "dropped" and case.short:
            counts["short: closed"] += 1
            continue
        counts[status if status == "dropped" else status[0] + "xx"] += 1
        if status == "dropped" or int(status) not in case.expect:
            unexpected.append(f"{case.name}: {status}")
        detail = body.get("detail")
        if status.startswith("4") and not (isinstance(detail, str) and detail and
                                           "\n" not in detail):  # fmt: skip
            no_reason.append(f"{case.name}: {status} {str(body)[:80]}")
    for line in unexpected + no_reason:
        print(f"  {line}", file=sys.stderr)
    return {
        "requests": len(all_cases),
        **{k: counts[k] for k in ("2xx", "4xx", "5xx", "dropped", "short: closed")},
        "not as expected": len(unexpected), "4xx without a reason": len(no_reason),
    }  # fmt: skip


def product_under_concurrency(port: int, seed: int = 5, clients: int = 8) -> dict:
    """The serial answer for `seed`, then `clients` concurrent requests for it: how many match."""
    raw = get("/api/product", seed=str(seed))
    reference = send(port, raw)
    with ThreadPoolExecutor(clients) as pool:
        answers = list(pool.map(lambda _: send(port, raw), range(clients)))
    matching = sum(a == reference for a in answers)
    return {"concurrent": clients, "matching": matching, "serial status": reference[0]}


def memory_mb(pid: int) -> dict:
    """The server's resident and peak resident memory, from /proc."""
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines())
    return {k: int(fields[k].split()[0]) / 1024 for k in ("VmRSS", "VmHWM")}


def percentile_ms(seconds: list[float], q: float) -> float:
    ordered = sorted(seconds)
    return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def load(port: int, clients: int, per_client: int) -> list[dict]:
    """`clients` threads, each sending `per_client` valid requests of a mix (generate, edit,
    mix, similar, product), new seeds; latency from send to the last byte, per endpoint and
    over all."""
    mix = {
        "generate": lambda i: get("/api/generate", seed=str(i)),
        "edit": lambda i: post("/api/edit", json.dumps({"seed": i, "strengths": {"sefa0": 1.0}})),
        "mix": lambda i: get("/api/mix", row=str(i), col=str(i + 1)),
        "similar": lambda i: post("/api/similar", json.dumps({"seed": i, "k": 5})),
        "product": lambda i: get("/api/product", seed=str(i)),
    }
    names = list(mix)
    latencies: dict[str, list[float]] = {name: [] for name in names}
    failed: Counter = Counter()
    lock = threading.Lock()

    def client(c: int) -> None:
        for j in range(per_client):
            i = c * per_client + j
            name = names[i % len(names)]
            start = time.perf_counter()
            status, _ = send(port, mix[name](100 + i))
            with lock:
                latencies[name].append(time.perf_counter() - start)
                failed[name] += status != "200"

    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - start
    latencies["all"] = [t for name in names for t in latencies[name]]
    failed["all"] = sum(failed.values())
    return [
        {"endpoint": name, "requests": len(times), "not 200": failed[name],
         "p50_ms": percentile_ms(times, 0.5), "p95_ms": percentile_ms(times, 0.95),
         "requests_per_s": len(times) / seconds if name == "all" else None}
        for name, times in latencies.items() if times
    ]  # fmt: skip


def start_server(workdir: Path) -> tuple[subprocess.Popen, int, Path]:
    port = free_port()
    log = workdir / "server.log"
    cmd = [sys.executable, __file__, "--serve", str(port), str(workdir)]
    with log.open("wb") as err:
        server = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True)
    line = server.stdout.readline()  # the "listening" line, or "" if it died
    if "listening" not in line:
        server.wait(timeout=30)
        sys.exit(f"the studio did not start:\n{log.read_text()[-3000:]}")
    return server, port, log


def run_server(port: int, workdir: Path) -> None:
    """The studio on the demo models (tests/studio_fixture.py), until killed."""
    sys.path.insert(0, str(ROOT / "tests"))
    from studio_fixture import demo_studio

    from fauxshop.web.serve import serve

    serve(demo_studio(workdir), "127.0.0.1", port, say=lambda m: print(m, flush=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="~30 requests: smoke check")
    parser.add_argument("--serve", nargs=2, metavar=("PORT", "WORKDIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("FAUXSHOP_QUIET", "1")
    if args.serve:
        return run_server(int(args.serve[0]), Path(args.serve[1]))
    from fauxshop.markdown import markdown_table

    with tempfile.TemporaryDirectory(prefix="fauxshop-probe-http-") as tmp:
        server, port, log = start_server(Path(tmp))
        try:
            started = memory_mb(server.pid)
            fuzzed = fuzz(port, args.quick)
            product = product_under_concurrency(port)
            before = memory_mb(server.pid)
            loaded = load(port, *((2, 5) if args.quick else (8, 50)))
            after = memory_mb(server.pid)
            alive = send(port, get("/api/directions"))[0] == "200"
        finally:
            server.terminate()
            server.wait(timeout=30)
        errors = [line for line in log.read_text().splitlines() if "Traceback" in line]
    print(f"studio on the demo models, loopback, {os.cpu_count()} cores\n")
    print(markdown_table([{"phase": "fuzz", **fuzzed}]) + "\n")
    print(markdown_table([{"phase": "/api/product, one seed", **product}]) + "\n")
    print(markdown_table(loaded) + "\n")
    print(markdown_table([{
        "server": "RSS MB", "start": started["VmRSS"], "after fuzz and products":
        before["VmRSS"], "after load": after["VmRSS"], "peak": after["VmHWM"],
    }]) + "\n")  # fmt: skip
    must_be_zero = {
        "5xx": fuzzed["5xx"], "dropped": fuzzed["dropped"],
        "not as expected": fuzzed["not as expected"],
        "4xx without a reason": fuzzed["4xx without a reason"],
        "products unlike the serial one": product["concurrent"] - product["matching"],
        "load requests not 200": loaded[-1]["not 200"], "server tracebacks": len(errors),
        "server down after": int(not alive),
    }  # fmt: skip
    print(markdown_table([{"must be zero": k, "count": v} for k, v in must_be_zero.items()]))
    sys.exit(1 if any(must_be_zero.values()) else 0)


if __name__ == "__main__":
    main()
