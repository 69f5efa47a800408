"""The polite fetcher: a bounded worker pool over one `requests.Session`.

Concurrency is bounded overall (`max_workers`) and per host (`per_host`), with a delay
between request starts to one host. Retries on 429/5xx and connection errors are
urllib3's `Retry` (honouring `Retry-After`, capped so a server cannot park us for an
hour). Redirects are followed by hand so every hop is checked against private
addresses; bodies are capped in bytes and in wall time. `get` never raises for network
trouble: it returns a `FetchResult` whose `reason` says what went wrong.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Self, TypeVar
from urllib.parse import urljoin, urlsplit

import requests
from urllib3.response import BaseHTTPResponse
from urllib3.util.retry import Retry

from .netguard import (
    CachingResolver,
    GuardedAdapter,
    Refused,
    Resolver,
    allowed_addresses,
    check_url,
    peer_check,
    resolve,
)

T = TypeVar("T")
USER_AGENT = "Mozilla/5.0 (compatible; imageset-crawler/0.1; +https://github.com/imageset)"
RETRY_STATUSES = (429, 500, 502, 503, 504)
MB = 1024 * 1024
ERROR_BODY_BYTES = 64 * 1024
# The fetcher's defaults, which `crawl`'s options show and use: a few downloads at once in
# all and fewer to one host, spaced out, so that no site sees a burst from us.
DEFAULT_WORKERS = 8
DEFAULT_PER_HOST = 2
DEFAULT_PER_HOST_DELAY = 0.25  # seconds between request starts to one host
# Seconds to connect, and to wait for the next data on a connection. Connecting is quick
# or never happens; an image server may pause longer before it sends.
DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_READ_TIMEOUT = 15.0


@dataclass
class FetchResult:
    """What one GET gave: the body, or a short failure `reason` (dns, timeout, http-404, ...)."""

    url: str
    data: bytes | None = None
    final_url: str | None = None
    http_status: int | None = None
    content_type: str | None = None
    reason: str | None = None
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.reason is None

    @property
    def error(self) -> str | None:
        """ "reason: detail" for the catalog's `fetches.error` column."""
        if self.reason is None:
            return None
        return f"{self.reason}: {self.detail}" if self.detail else self.reason


class _CappedRetry(Retry):
    """urllib3 Retry whose honoured Retry-After is capped at `max_retry_after` seconds."""

    max_retry_after: float = 30.0

    def new(self, **kw: Any) -> Self:
        fresh = super().new(**kw)
        fresh.max_retry_after = self.max_retry_after
        return fresh

    def get_retry_after(self, response: BaseHTTPResponse) -> float | None:
        value = super().get_retry_after(response)
        return None if value is None else min(value, self.max_retry_after)


class _HostGate:
    """At most `limit` requests in flight per host, starts at least `delay` apart."""

    def __init__(self, limit: int, delay: float):
        self.limit, self.delay = limit, delay
        self._lock = threading.Lock()
        self._slots: dict[str, threading.BoundedSemaphore] = {}
        self._next_start: dict[str, float] = {}

    def enter(self, host: str) -> threading.BoundedSemaphore:
        with self._lock:
            slot = self._slots.setdefault(host, threading.BoundedSemaphore(self.limit))
        slot.acquire()
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next_start.get(host, now))
            self._next_start[host] = start + self.delay
        if start > now:
            time.sleep(start - now)
        return slot


class _Reaper:
    """One thread that cuts the sockets of responses still reading past their deadline.

    A server trickling a byte at a time never trips the per-read timeout, and a blocked
    read only ends when its socket does. One shared thread, not a timer per request.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active: dict[int, tuple[float, requests.Response]] = {}
        self._expired: set[int] = set()
        self._thread: threading.Thread | None = None

    @contextlib.contextmanager
    def watch(self, resp: requests.Response, seconds: float) -> Iterator[Callable[[], bool]]:
        """Watch `resp` for `seconds`; yields a function telling whether it was cut."""
        key = id(resp)
        with self._lock:
            self._active[key] = (time.monotonic() + seconds, resp)
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="fetch-reaper", daemon=True)
                self._thread.start()
        try:
            yield lambda: key in self._expired
        finally:
            with self._lock:
                self._active.pop(key, None)
                self._expired.discard(key)

    def cut_all(self) -> None:
        """Cut every watched response now (the fetcher is being aborted)."""
        with self._lock:
            for _deadline, resp in self._active.values():
                self._active[id(resp)] = (0.0, resp)

    def _loop(self) -> None:
        while True:
            time.sleep(0.1)
            now = time.monotonic()
            with self._lock:
                if not self._active:  # idle: end; the next watch starts a new thread
                    self._thread = None
                    return
                late = [
                    (key, resp) for key, (deadline, resp) in self._active.items() if deadline < now
                ]
                for key, _ in late:
                    self._expired.add(key)
                    del self._active[key]
            for _, resp in late:
                sock = _socket_of(resp)
                if sock is not None:
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)


def _socket_of(resp: requests.Response) -> socket.socket | None:
    """The socket a streamed response reads from (http.client keeps it in fp.raw._sock)."""
    conn_sock = getattr(getattr(resp.raw, "_connection", None), "sock", None)
    if conn_sock is not None:
        return conn_sock
    fp = getattr(getattr(resp.raw, "_fp", None), "fp", None)
    return getattr(getattr(fp, "raw", None), "_sock", None)


class Fetcher:
    """GET URLs politely through `session`.

    Args:
        session: the `requests.Session` every request goes through (tests pass their own);
            the fetcher mounts its retrying, pooled adapter on it for http and https.
        max_workers: threads in the pool that `submit` / `fetch_many` use.
        per_host: requests in flight to one host at most.
        per_host_delay: seconds between request starts to one host.
        timeout: (connect, read) seconds for each socket operation.
        total_timeout: seconds for a whole response body (a server trickling bytes).
        retries: retries after a connection error, a read error or a 429/5xx.
        backoff: urllib3 backoff factor (sleeps backoff * 2**n, at most max_backoff).
        max_retry_after: the longest Retry-After honoured, in seconds.
        max_bytes: bodies larger than this are refused (reason too-large).
        max_redirects: hops followed before giving up (reason too-many-redirects).
        allow_private: True, or the hosts and addresses, that may be fetched although
            private (host names are resolved once, here).
        resolver: host, port -> addresses (tests pass a fake; default: getaddrinfo).
    """

    def __init__(
        self,
        session: requests.Session,
        *,
        max_workers: int = DEFAULT_WORKERS,
        per_host: int = DEFAULT_PER_HOST,
        per_host_delay: float = DEFAULT_PER_HOST_DELAY,
        timeout: tuple[float, float] = (DEFAULT_CONNECT_TIMEOUT, DEFAULT_READ_TIMEOUT),
        total_timeout: float = 60.0,
        retries: int = 2,
        backoff: float = 0.5,
        max_backoff: float = 10.0,
        max_retry_after: float = 10.0,
        max_bytes: int = 15 * MB,
        max_redirects: int = 5,
        allow_private: bool | Collection[str] = False,
        resolver: Resolver | None = None,
    ):
        self.session = session
        self.max_workers = max_workers
        self.timeout, self.total_timeout = timeout, total_timeout
        self.max_bytes, self.max_redirects = max_bytes, max_redirects
        self._resolver = CachingResolver(resolver=resolver or resolve)
        if allow_private is not True and allow_private:
            allow_private = allowed_addresses(allow_private, self._resolver)
        self.allow_private = allow_private
        self._gate = _HostGate(per_host, per_host_delay)
        self._pool: ThreadPoolExecutor | None = None
        self._reaper = _Reaper()
        self._aborted = False
        retry = _CappedRetry(
            total=retries,
            connect=retries,
            read=retries,
            status=retries,
            redirect=0,
            status_forcelist=RETRY_STATUSES,
            allowed_methods=frozenset({"GET"}),
            backoff_factor=backoff,
            backoff_max=max_backoff,
            respect_retry_after_header=True,
            raise_on_status=False,
            raise_on_redirect=False,
        )
        retry.max_retry_after = max_retry_after
        # One pooled connection per worker, so a busy host does not reconnect each time.
        adapter = GuardedAdapter(
            peer_check(allow_private),
            max_retries=retry,
            pool_connections=max(10, max_workers),
            pool_maxsize=max(10, max_workers),
        )
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        if "python-requests" in str(session.headers.get("User-Agent", "")):
            session.headers["User-Agent"] = USER_AGENT

    def get(
        self, url: str, *, max_bytes: int | None = None, headers: dict[str, str] | None = None
    ) -> FetchResult:
        """GET `url` following checked redirects; never raises for network trouble.

        Example: Fetcher(requests.Session()).get("https://example.com/a.jpg").data
        """
        current, seen = url, {url}
        for _ in range(self.max_redirects + 1):
            if self._aborted:
                return FetchResult(
                    url, final_url=current, reason="interrupted", detail="the crawl was stopped"
                )
            try:
                check_url(current, self.allow_private, self._resolver)
            except Refused as exc:
                return FetchResult(url, final_url=current, reason=exc.reason, detail=exc.detail)
            result, location = self._get_once(url, current, max_bytes or self.max_bytes, headers)
            if location is None:
                return result
            try:
                current = urljoin(current, location)
            except ValueError:  # a malformed Location is the server's failure, not ours
                return FetchResult(
                    url,
                    final_url=current,
                    http_status=result.http_status,
                    reason="bad-url",
                    detail=f"malformed redirect to {location[:200]}",
                )
            if current in seen:
                return FetchResult(
                    url,
                    final_url=current,
                    http_status=result.http_status,
                    reason="redirect-loop",
                    detail=f"back to {current}",
                )
            seen.add(current)
        return FetchResult(
            url,
            final_url=current,
            reason="too-many-redirects",
            detail=f"more than {self.max_redirects} redirects",
        )

    def _get_once(
        self, url: str, current: str, max_bytes: int, headers: dict[str, str] | None
    ) -> tuple[FetchResult, str | None]:
        """One hop: (the result, or the Location to follow next)."""
        host = urlsplit(current).netloc
        slot = self._gate.enter(host)
        try:
            resp = self.session.get(
                current, timeout=self.timeout, stream=True, allow_redirects=False, headers=headers
            )
            with resp:
                if resp.is_redirect:
                    return FetchResult(url, http_status=resp.status_code), resp.headers["Location"]
                return self._read(url, current, resp, max_bytes), None
        except requests.RequestException as exc:
            reason, detail = classify(exc)
            return FetchResult(url, final_url=current, reason=reason, detail=detail), None
        except Refused as exc:  # the connection reached a private address after all
            return FetchResult(url, final_url=current, reason=exc.reason, detail=exc.detail), None
        finally:
            slot.release()

    def _read(self, url: str, current: str, resp: requests.Response, max_bytes: int) -> FetchResult:
        result = FetchResult(
            url,
            final_url=current,
            http_status=resp.status_code,
            content_type=resp.headers.get("Content-Type"),
        )
        with self._reaper.watch(resp, self.total_timeout) as cut:
            try:
                self._read_body(resp, result, max_bytes)
            except requests.RequestException:
                if not cut():
                    raise
            if cut():
                result.data = None
                result.reason, result.detail = (
                    "timeout",
                    f"body not complete after {self.total_timeout:g} s",
                )
        return result

    def _read_body(self, resp: requests.Response, result: FetchResult, max_bytes: int) -> None:
        if not 200 <= resp.status_code < 300:
            result.reason, result.detail = f"http-{resp.status_code}", resp.reason or ""
            # Keep the start of an error page: a 429 or 403 body tells a captcha from an outage.
            result.data = next(resp.iter_content(ERROR_BODY_BYTES), b"")
            return
        declared = resp.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            result.reason, result.detail = (
                "too-large",
                f"Content-Length {declared} > {max_bytes} bytes",
            )
            return
        chunks, size = [], 0
        for chunk in resp.iter_content(64 * 1024):
            size += len(chunk)
            if size > max_bytes:
                result.reason, result.detail = "too-large", f"body over {max_bytes} bytes"
                return
            chunks.append(chunk)
        result.data = b"".join(chunks)

    def submit(self, fn: Callable[..., T], *args: object) -> Future[T]:
        """Run `fn(*args)` on the fetcher's worker pool."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.max_workers, thread_name_prefix="fetch")
        return self._pool.submit(fn, *args)

    def fetch_many(self, urls: Iterable[str]) -> Iterator[FetchResult]:
        """GET every URL on the pool, yielding results as they complete (2 per worker queued)."""
        pending: set[Future[FetchResult]] = set()
        for url in urls:
            pending.add(self.submit(self.get, url))
            if len(pending) >= 2 * self.max_workers:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                yield from (f.result() for f in done)
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            yield from (f.result() for f in done)

    def abort(self) -> None:
        """Stop now (Ctrl-C): queued downloads are cancelled, new requests return at once
        with reason `interrupted`, and bodies being read are cut off."""
        self._aborted = True
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        self._reaper.cut_all()

    def close(self) -> None:
        """Stop the worker pool (waiting for running downloads, unless aborted) and close the
        session."""
        if self._pool is not None:
            self._pool.shutdown(wait=not self._aborted, cancel_futures=True)
            self._pool = None
        if not self._aborted:  # closing the pools under running threads only makes them retry
            self.session.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# Substrings of an exception chain -> reason code; the first match wins.
_REASONS = [
    ("NameResolutionError", "dns"),
    ("Name or service not known", "dns"),
    ("getaddrinfo", "dns"),
    ("Temporary failure in name resolution", "dns"),
    ("ConnectTimeout", "timeout"),
    ("ReadTimeout", "timeout"),
    ("timed out", "timeout"),
    ("Connection refused", "refused"),
    ("ConnectionRefusedError", "refused"),
    ("ConnectionResetError", "reset"),
    ("Connection reset", "reset"),
    ("RemoteDisconnected", "reset"),
    ("Connection aborted", "reset"),
    ("SSLError", "tls"),
    ("IncompleteRead", "incomplete"),
    ("ChunkedEncodingError", "incomplete"),
    ("ContentDecodingError", "bad-encoding"),
    ("too many", "retries-exhausted"),
]


def classify(exc: BaseException) -> tuple[str, str]:
    """(reason code, detail) for a requests/urllib3 exception, for grouping in reports."""
    text = _chain_text(exc)
    if isinstance(
        exc,
        (
            requests.exceptions.InvalidURL,
            requests.exceptions.MissingSchema,
            requests.exceptions.InvalidSchema,
        ),
    ):
        return "bad-url", str(exc)[:300]
    reason = next((code for needle, code in _REASONS if needle in text), "connection")
    return reason, str(exc)[:300]


def _chain_text(exc: BaseException, depth: int = 0) -> str:
    """The reprs of an exception, its args and causes: urllib3 nests the real error deep."""
    if depth > 6:
        return ""
    parts = [type(exc).__name__, repr(exc)]
    for arg in exc.args:
        if isinstance(arg, BaseException):
            parts.append(_chain_text(arg, depth + 1))
        reason = getattr(arg, "reason", None)
        if isinstance(reason, BaseException):
            parts.append(_chain_text(reason, depth + 1))
    for nested in (exc.__cause__, exc.__context__):
        if nested is not None:
            parts.append(_chain_text(nested, depth + 1))
    return " ".join(parts)
