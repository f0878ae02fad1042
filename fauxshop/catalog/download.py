"""Catalog images by URL: fetched once, concurrently and politely, into a cache on disk.

A feed names its photos by http(s) URL. `Downloader.submit(url)` returns a future of the
cached file's path, or of an `ImageProblem` saying in one word why there is none:

    download_bad_scheme  not http(s) (file:, ftp:, data:, ...), or a redirect to such a URL
    download_private_address  the host, or a redirect's, resolves to a loopback, private,
                         link-local (169.254.169.254, cloud metadata) or unspecified address
    download_http_error  the server answered 4xx or 5xx (the detail has the status)
    download_timeout     no answer, or no byte, within the timeout; or the whole download
                         took longer than its deadline (a body dripping in byte by byte)
    download_failed      the connection failed (refused, reset, name not found, cut short)
    download_redirects   more redirects than the limit (a loop)
    download_too_large   Content-Length, or the bytes streamed so far, over the size cap
    download_not_image   a Content-Type that is not an image, or bytes Pillow can't identify

Connection failures, timeouts, 5xx and 429 are retried with exponential backoff (429's
Retry-After is honoured up to a cap); other 4xx are final. A bounded pool does the work and
at most `per_host` requests go to one host at once. The body streams into a temp file beside
its cache entry and is renamed into place only once it is whole and identified as an image
(`atomic.py`), so the cache holds only complete images: a rerun downloads nothing twice, and a
killed run resumes where it stopped. Entries are named by the sha256 of the URL. Only the
standard library is used (`http.client`), so redirects, schemes and sizes are checked here.

A feed is data, and data must not make ingest reach the machine's own services or the cloud's
metadata endpoint: each request's host (the first and every redirect's) is resolved once, every
address it resolves to must be public (unless `allow_private_hosts`), and the connection goes
to those checked addresses, with the name as Host header and TLS server name, so a DNS answer
that changes between the check and the connect (rebinding) is never used.
"""

from __future__ import annotations

import hashlib
import http.client
import ipaddress
import random
import socket
import ssl
import threading
import time
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from pathlib import Path
from urllib.parse import quote, urljoin, urlsplit

from PIL import Image

from fauxshop.atomic import atomic_path
from fauxshop.catalog.config import DownloadConfig
from fauxshop.catalog.images import ImageProblem
from fauxshop.progress import bar

SCHEMES = ("http", "https")
REDIRECTS = (301, 302, 303, 307, 308)
CHUNK = 1 << 16
STALE_TEMP_S = 3600  # a temp file this old was left by a killed run, not a live one
MAX_RETRY_AFTER_S = 30.0
USER_AGENT = "fauxshop-ingest/0.1"
URL_SAFE = "/%:@!$&'()*+,;=?~-._"  # kept as they are when a URL's path and query are quoted


class _Retry(Exception):
    """A failure worth another attempt; carries the ImageProblem to give if none is left."""

    def __init__(self, problem: ImageProblem, wait_s: float = 0.0):
        super().__init__(str(problem))
        self.problem = problem
        self.wait_s = wait_s


def is_url(ref: str) -> bool:
    """Whether an image reference is a URL (any scheme) rather than a path in a folder."""
    scheme = urlsplit(ref).scheme.lower()
    return ref.startswith("//") or (
        len(scheme) > 1 and (ref[len(scheme) + 1 :].startswith("//") or scheme in ("data", "file"))
    )


class Downloader:
    """Fetches image URLs into `cache_dir`; use as a context manager (it owns a thread pool)."""

    def __init__(self, cache_dir: Path, config: DownloadConfig | None = None, progress=True):
        self.cache_dir = cache_dir
        self.config = config or DownloadConfig()
        self.counts: Counter[str] = Counter()  # fetched, cached, failed
        self._pool = ThreadPoolExecutor(self.config.workers, thread_name_prefix="download")
        self._lock = threading.RLock()  # a future done at once runs its callback inside it
        self._hosts: dict[str, threading.BoundedSemaphore] = {}
        self._pending: dict[str, Future] = {}
        self._progress = progress
        self._bar = None  # made at the first download: a table of local photos shows none
        self._remove_stale_temps()

    def __enter__(self) -> Downloader:
        return self

    def __exit__(self, *exc) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)  # on Ctrl-C, drop what is queued
        if self._bar is not None:
            self._bar.close()

    def path_for(self, url: str) -> Path:
        key = hashlib.sha256(url.encode("utf-8", "surrogatepass")).hexdigest()
        return self.cache_dir / key[:2] / key

    def submit(self, url: str) -> Future:
        """A future of the cached image's path; its exception is an ImageProblem. One URL
        asked for twice at once is fetched once."""
        with self._lock:
            pending = self._pending.get(url)
            if pending is None:
                pending = self._pool.submit(self._fetch, url)
                self._pending[url] = pending
                pending.add_done_callback(lambda _: self._done(url))
        return pending

    def fetch(self, url: str) -> Path:
        """The cached image's path, downloading it first if needed (raises ImageProblem)."""
        return self.submit(url).result()

    def _done(self, url: str) -> None:
        with self._lock:
            self._pending.pop(url, None)

    def _count(self, what: str) -> None:
        with self._lock:
            self.counts[what] += 1
            if self._bar is None:
                self._bar = bar(None, "download", unit="img", enabled=self._progress)
            self._bar.update(1)
            self._bar.set_postfix(self.counts, refresh=False)

    def _fetch(self, url: str) -> Path:
        target = self.path_for(url)
        if target.is_file():
            self._count("cached")
            return target
        try:
            self._with_retries(url, target)
        except ImageProblem:
            self._count("failed")
            raise
        except Exception as e:  # a URL http.client can't even send (a bad port, an odd host)
            self._count("failed")
            raise ImageProblem("download_failed", f"{url[:200]}: {type(e).__name__}: {e}") from None
        self._count("fetched")
        return target

    def _with_retries(self, url: str, target: Path) -> None:
        config = self.config
        for attempt in range(config.retries + 1):
            try:
                return self._attempt(url, target)
            except _Retry as retry:
                if attempt == config.retries:
                    raise retry.problem from None
                wait = config.backoff_s * 2**attempt * (0.5 + random.random())
                time.sleep(max(wait, min(retry.wait_s, MAX_RETRY_AFTER_S)))

    def _attempt(self, url: str, target: Path) -> None:
        """One GET, following redirects; the body lands at `target` only if it is an image."""
        config = self.config
        deadline = time.monotonic() + config.deadline_s
        current = "https:" + url if url.startswith("//") else url
        for _ in range(config.max_redirects + 1):
            parts = urlsplit(current)
            if parts.scheme.lower() not in SCHEMES or not parts.hostname:
                what = "a redirect to" if current != url else "the URL"
                raise ImageProblem(
                    "download_bad_scheme", f"{what} {current[:200]!r} is not http(s)"
                )
            with self._host_slot(parts.netloc.lower()):
                location = self._get(parts, current, target, deadline)
            if location is None:
                return
            current = urljoin(current, location)
        detail = f"{url}: more than {config.max_redirects} redirects"
        raise ImageProblem("download_redirects", detail)

    def _host_slot(self, host: str) -> threading.BoundedSemaphore:
        with self._lock:
            slot = self._hosts.get(host)
            if slot is None:
                slot = self._hosts[host] = threading.BoundedSemaphore(self.config.per_host)
        return slot

    def _get(self, parts, url: str, target: Path, deadline: float) -> str | None:
        """GET `url` into `target`; returns a redirect's Location instead, if answered one."""
        config = self.config
        https = parts.scheme.lower() == "https"
        kind = http.client.HTTPSConnection if https else http.client.HTTPConnection
        conn = kind(parts.hostname, parts.port, timeout=config.timeout_s)
        # Feeds hold URLs with spaces and non-ASCII; the request line must be ASCII.
        path = quote(parts.path or "/", safe=URL_SAFE)
        path += f"?{quote(parts.query, safe=URL_SAFE)}" if parts.query else ""
        try:
            addresses = self._addresses(url, parts.hostname, parts.port or (443 if https else 80))
            # http.client's hook for opening the socket: to the checked addresses, not the name.
            conn._create_connection = partial(_connect_to, addresses)
            conn.request("GET", path, headers={"User-Agent": USER_AGENT, "Accept": "image/*"})
            response = conn.getresponse()
            status = response.status
            if status in REDIRECTS and response.getheader("Location"):
                return response.getheader("Location")
            if status != 200:
                problem = ImageProblem(
                    "download_http_error", f"{url}: HTTP {status} {response.reason}"
                )
                if status == 429 or status >= 500:
                    raise _Retry(problem, _retry_after(response.getheader("Retry-After")))
                raise problem
            _check_headers(url, response, config.max_bytes)
            self._stream(url, response, target, deadline)
            return None
        except TimeoutError as e:
            raise _Retry(ImageProblem("download_timeout", f"{url}: {e or 'timed out'}")) from None
        except (OSError, http.client.HTTPException, ssl.SSLError) as e:
            detail = f"{url}: {type(e).__name__}: {e}"
            raise _Retry(ImageProblem("download_failed", detail)) from None
        finally:
            conn.close()

    def _addresses(self, url: str, host: str, port: int) -> list[str]:
        """The addresses `host` resolves to, now; all must be public unless allowed."""
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        addresses = list(dict.fromkeys(info[4][0] for info in infos))
        private = [a for a in addresses if not is_public_address(a)]
        if private and not self.config.allow_private_hosts:
            detail = f"{url[:200]}: {host} resolves to {private[0]}, not a public address"
            raise ImageProblem("download_private_address", detail)
        return addresses

    def _stream(self, url: str, response, target: Path, deadline: float) -> None:
        max_bytes = self.config.max_bytes
        with atomic_path(target) as tmp:
            size = 0
            with open(tmp, "wb") as f:
                while chunk := response.read1(CHUNK):
                    size += len(chunk)
                    if size > max_bytes:
                        detail = f"{url}: over the cap of {max_bytes:,} bytes"
                        raise ImageProblem("download_too_large", detail)
                    if time.monotonic() > deadline:
                        detail = f"{url}: not done after {self.config.deadline_s:g} s"
                        raise _Retry(ImageProblem("download_timeout", detail))
                    f.write(chunk)
            _check_image(url, tmp)

    def _remove_stale_temps(self) -> None:
        """Temp files a killed run left (a live download writes to its own all the time)."""
        cutoff = time.time() - STALE_TEMP_S
        for tmp in self.cache_dir.glob("*/.*.tmp"):
            try:
                if tmp.stat().st_mtime < cutoff:
                    tmp.unlink()
            except OSError:
                pass  # another run removed or finished it


def is_public_address(address: str) -> bool:
    """Whether an IP address is on the public internet: not loopback, private, link-local
    (cloud metadata), unspecified, shared or reserved (IPv4-mapped IPv6 judged as IPv4)."""
    ip = ipaddress.ip_address(address.partition("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def _connect_to(addresses: list[str], host_port: tuple, timeout, source=None) -> socket.socket:
    """A socket to the first of `addresses` that answers, on `host_port`'s port."""
    error: OSError = OSError("no address")
    for address in addresses:
        try:
            return socket.create_connection((address, host_port[1]), timeout, source)
        except OSError as e:
            error = e
    raise error


def _check_headers(url: str, response, max_bytes: int) -> None:
    kind = (response.getheader("Content-Type") or "").split(";")[0].strip().lower()
    if kind and not kind.startswith("image/") and kind not in ("application/octet-stream",):
        raise ImageProblem("download_not_image", f"{url}: Content-Type {kind}")
    length = response.getheader("Content-Length") or ""
    if length.isdigit() and int(length) > max_bytes:
        detail = f"{url}: Content-Length {int(length):,} is over the cap of {max_bytes:,} bytes"
        raise ImageProblem("download_too_large", detail)


def _check_image(url: str, path: Path) -> None:
    """Pillow must identify the bytes (full decoding is ingest's `inspect_image`)."""
    try:
        with Image.open(path):
            pass
    except Exception:  # any plugin may fail its own way on hostile bytes
        raise ImageProblem(
            "download_not_image", f"{url}: not an image Pillow can identify"
        ) from None


def _retry_after(value: str | None) -> float:
    return float(value) if value and value.isdigit() else 0.0
