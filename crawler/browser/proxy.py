"""A forward proxy on 127.0.0.1 that Chromium sends every request through: the address
guard for what Playwright's routing does not see (the hops of HTTP redirects).

Each request is a new target: an `http://` request names its URL, an `https://` one opens a
`CONNECT host:port` tunnel, and a redirect hop to another host is a new request or tunnel.
The proxy resolves the host once, checks every address with `netguard` (refusing private,
loopback and link-local ones that `allow_private` does not name) and connects to a checked
address, never to the name again, so a second lookup cannot answer differently. A refused
target gets a 403 and a failed one a 502, each with an `X-Guard-*` header that says why, and
nothing is sent to it.

Why not a library: proxy.py or mitmproxy would bring a process model (acceptor processes,
an event loop of their own) and a dependency for what is here a few hundred lines of
stdlib, and their plugin hooks check a host before the library resolves it again to
connect, which is the gap the guard closes. One request per client connection (`Connection:
close` both ways) keeps each request's check tied to its own upstream connection.
"""

from __future__ import annotations

import errno
import selectors
import socket
import socketserver
import threading
from collections.abc import Collection
from contextlib import suppress
from urllib.parse import urlsplit

from ..netguard import CachingResolver, Refused, allowed_addresses, checked_addresses

HEAD_LIMIT = 64 * 1024  # a request or response head longer than this is refused
CONNECT_TIMEOUT_S = 10.0
IDLE_TIMEOUT_S = 60.0  # a tunnel or response with no byte either way for this long ends
REFUSED_HEADER = "X-Guard-Refused"
ERROR_HEADER = "X-Guard-Error"
# Hop-by-hop headers that must not travel on (RFC 9110 7.6.1) and those replaced here.
_HOP_HEADERS = {"connection", "keep-alive", "proxy-connection", "proxy-authorization", "te"}


class GuardProxy:
    """The proxy: `start()` gives its port; `allow(...)` sets what private hosts it may reach.

    `refused` lists the targets it turned down ("http://10.0.0.1/x", "https://[::1]:443").
    """

    def __init__(self) -> None:
        self.refused: list[str] = []
        self.failures: dict[str, str] = {}  # "host:port" -> why the last connection failed
        self._allow: bool | frozenset[str] = False
        self._resolver = CachingResolver()
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    def allow(self, allow_private: bool | Collection[str]) -> None:
        """Let the proxy reach these private hosts (names are resolved now), or all (True)."""
        if allow_private is True or not allow_private:
            self._allow = bool(allow_private)
        else:
            self._allow = allowed_addresses(allow_private)

    def start(self) -> int:
        """Listen on a free port of 127.0.0.1 and serve in a thread; returns the port."""
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.proxy = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="guard-proxy", daemon=True
        )
        self._thread.start()
        self.port = int(self._server.server_address[1])
        return self.port

    def stop(self) -> None:
        """Stop listening and close every connection still open."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            for sock in self._open:
                with suppress(OSError):
                    sock.close()
            self._open.clear()
        if self._thread is not None:
            self._thread.join(5)
        self._server = self._thread = None

    def __enter__(self) -> GuardProxy:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def connect(self, target: str, host: str, port: int) -> socket.socket:
        """A connection to a checked address of `host`.

        Raises:
            Refused: the host is private and not allowed ("private-address"), or does not
                resolve ("dns").
            OSError: no address of it accepted the connection.
        """
        try:
            addresses = checked_addresses(host, port, self._allow, self._resolver)
        except Refused as exc:
            if exc.reason != "dns":
                with self._lock:
                    self.refused.append(target)
            raise
        last: OSError = OSError(errno.EHOSTUNREACH, f"no address for {host}")
        for address in addresses:
            try:
                return socket.create_connection((address, port), timeout=CONNECT_TIMEOUT_S)
            except OSError as exc:
                last = exc
        raise last

    def track(self, sock: socket.socket) -> None:
        with self._lock:
            self._open.add(sock)

    def untrack(self, sock: socket.socket) -> None:
        with self._lock:
            self._open.discard(sock)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    proxy: GuardProxy

    def handle_error(self, request, client_address) -> None:  # a browser gone mid-request
        pass


def error_code(exc: BaseException) -> str:
    """A failed connection named as Chromium names it (`err_connection_refused`...)."""
    if isinstance(exc, Refused):
        return "err_name_not_resolved" if exc.reason == "dns" else "err_blocked_by_client"
    if isinstance(exc, ConnectionRefusedError):
        return "err_connection_refused"
    if isinstance(exc, TimeoutError):
        return "err_connection_timed_out"
    if isinstance(exc, OSError) and exc.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
        return "err_address_unreachable"
    return "err_connection_failed"


class _Handler(socketserver.BaseRequestHandler):
    request: socket.socket
    server: _Server

    def handle(self) -> None:
        proxy = self.server.proxy
        proxy.track(self.request)
        try:
            self._serve(proxy)
        finally:
            proxy.untrack(self.request)

    def _serve(self, proxy: GuardProxy) -> None:
        self.request.settimeout(IDLE_TIMEOUT_S)
        head, rest = _read_head(self.request)
        if head is None:
            return
        lines = head.decode("latin-1").split("\r\n")
        try:
            method, target, _version = lines[0].split(" ", 2)
            url, host, port = _target(method, target)
        except ValueError:
            _answer(self.request, 400, "Bad Request", "not a proxy request")
            return
        try:
            upstream = proxy.connect(url, host, port)
        except Refused as exc:
            status = (502, "Bad Gateway") if exc.reason == "dns" else (403, "Forbidden")
            header = ERROR_HEADER if exc.reason == "dns" else REFUSED_HEADER
            value = error_code(exc) if exc.reason == "dns" else exc.detail
            proxy.failures[f"{host}:{port}"] = value
            _answer(self.request, *status, exc.detail, {header: value})
            return
        except OSError as exc:
            proxy.failures[f"{host}:{port}"] = error_code(exc)
            _answer(self.request, 502, "Bad Gateway", str(exc), {ERROR_HEADER: error_code(exc)})
            return
        proxy.track(upstream)
        upstream.settimeout(IDLE_TIMEOUT_S)
        try:
            if method == "CONNECT":
                self.request.sendall(b"HTTP/1.1 200 Connection Established\r\n\r\n")
                _relay(self.request, upstream, rest)
            else:
                upstream.sendall(_request_head(method, url, lines[1:]) + rest)
                _relay(self.request, upstream, b"", rewrite_response=True)
        except OSError:
            pass
        finally:
            proxy.untrack(upstream)
            upstream.close()


def _target(method: str, target: str) -> tuple[str, str, int]:
    """(the URL to check, host, port) of a request line's target; ValueError if it is none."""
    if method == "CONNECT":
        parts = urlsplit(f"https://{target}")
        url = f"https://{target}"
    else:
        parts = urlsplit(target)
        url = target
        if parts.scheme != "http":
            raise ValueError(target)
    if not parts.hostname:
        raise ValueError(target)
    return url, parts.hostname, parts.port or (443 if method == "CONNECT" else 80)


def _read_head(sock: socket.socket) -> tuple[bytes | None, bytes]:
    """(the head up to its blank line, the bytes read after it); (None, b"") when the
    peer closed or the head is too long."""
    data = b""
    while b"\r\n\r\n" not in data:
        if len(data) > HEAD_LIMIT:
            return None, b""
        try:
            chunk = sock.recv(65536)
        except OSError:
            return None, b""
        if not chunk:
            return None, b""
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


def _request_head(method: str, url: str, header_lines: list[str]) -> bytes:
    """The request as the origin server takes it: origin-form target, `Connection: close`."""
    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    kept = [line for line in header_lines if line and _name(line) not in _HOP_HEADERS]
    return "\r\n".join([f"{method} {path} HTTP/1.1", *kept, "Connection: close", "", ""]).encode(
        "latin-1"
    )


def _response_head(head: bytes) -> bytes:
    lines = head.decode("latin-1").split("\r\n")
    kept = [line for line in lines[1:] if line and _name(line) not in _HOP_HEADERS]
    return "\r\n".join([lines[0], *kept, "Connection: close", "", ""]).encode("latin-1")


def _name(header_line: str) -> str:
    return header_line.split(":", 1)[0].strip().lower()


def _answer(
    sock: socket.socket, status: int, reason: str, text: str, headers: dict | None = None
) -> None:
    body = f"{text}\n".encode()
    head = [f"HTTP/1.1 {status} {reason}", "Content-Type: text/plain; charset=utf-8"]
    head += [f"{k}: {v}" for k, v in (headers or {}).items()]
    head += [f"Content-Length: {len(body)}", "Connection: close", "", ""]
    with suppress(OSError):
        sock.sendall("\r\n".join(head).encode("latin-1", errors="replace") + body)


def _relay(
    client: socket.socket, upstream: socket.socket, pending: bytes, rewrite_response: bool = False
) -> None:
    """Copy bytes both ways until the upstream side is done (or nothing moves for a while).

    With `rewrite_response`, the response head's hop-by-hop headers become `Connection:
    close`, so the browser sends its next request on a new connection, checked again.
    """
    if pending:
        upstream.sendall(pending)
    head = b"" if rewrite_response else None
    with selectors.DefaultSelector() as selector:
        selector.register(client, selectors.EVENT_READ, upstream)
        selector.register(upstream, selectors.EVENT_READ, client)
        while True:
            ready = selector.select(IDLE_TIMEOUT_S)
            if not ready:
                return
            for key, _ in ready:
                source: socket.socket = key.fileobj  # type: ignore[assignment]
                chunk = source.recv(65536)
                if not chunk:
                    if source is upstream:
                        if head:  # a head with no blank line after it: pass it on as it came
                            client.sendall(head)
                        return
                    selector.unregister(client)  # the browser sent all; the answer may follow
                    with suppress(OSError):
                        upstream.shutdown(socket.SHUT_WR)
                    continue
                if source is upstream and head is not None:
                    head += chunk
                    if b"\r\n\r\n" not in head:
                        if len(head) > HEAD_LIMIT:
                            return
                        continue
                    raw, _, chunk = head.partition(b"\r\n\r\n")
                    client.sendall(_response_head(raw))
                    head = None
                key.data.sendall(chunk)
