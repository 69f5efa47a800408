"""Refuse URLs that point into private networks: loopback, RFC 1918, link-local, metadata.

A result page is untrusted input: an "image URL" of http://169.254.169.254/ or a redirect
to http://10.0.0.1/ must never be fetched from a crawler running inside someone's network.
Two checks: every address a URL's host resolves to, before the request (`check_url`), and
the address each new connection actually reached (`GuardedAdapter`), so a name that
resolves differently the second time (DNS rebinding) is caught too.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Callable, Collection
from typing import Any
from urllib.parse import urlsplit

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

Resolver = Callable[[str, int], list[str]]


class Refused(Exception):
    """A URL the fetcher will not request; `reason` is a short code for reports."""

    def __init__(self, reason: str, detail: str):
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}")


def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (DNS failures raise Refused("dns", ...))."""
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise Refused("dns", f"cannot resolve {host}: {exc}") from exc
    return sorted({str(info[4][0]) for info in infos})


class CachingResolver:
    """`resolve` with a per-host cache (failures too) and one lookup at a time.

    A result page names the same few hosts a hundred times, and here concurrent
    getaddrinfo calls sometimes stall for the resolver's 5 s timeout; serial, cached
    lookups are both faster and kinder to the DNS server.
    """

    def __init__(self, ttl: float = 300.0, resolver: Resolver = resolve):
        self.ttl, self._resolver = ttl, resolver
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, int], tuple[float, list[str] | Refused]] = {}

    def __call__(self, host: str, port: int) -> list[str]:
        with self._lock:
            cached = self._cache.get((host, port))
            if cached is None or cached[0] < time.monotonic():
                try:
                    value: list[str] | Refused = self._resolver(host, port)
                except Refused as exc:
                    value = exc
                cached = (time.monotonic() + self.ttl, value)
                self._cache[(host, port)] = cached
        if isinstance(cached[1], Refused):
            raise Refused(cached[1].reason, cached[1].detail)
        return cached[1]


def is_public(address: str) -> bool:
    """True for a globally routable unicast address."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def check_url(url: str, allow_private: bool | Collection[str] = False, resolver: Resolver = resolve) -> None:
    """Raise Refused unless `url` is http(s) and every address of its host is public.

    Args:
        allow_private: True allows every address (tests); a collection allows just those
            addresses (tests allow "127.0.0.1" and still see other private ones refused).

    Example: check_url("http://169.254.169.254/latest/meta-data/") raises Refused("private-address", ...)
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Refused("bad-url", f"not an http(s) URL: {url[:200]}")
    if allow_private is True:
        return
    port = parts.port or (443 if parts.scheme == "https" else 80)
    allowed = set(allow_private or ())
    for address in _addresses(parts.hostname, port, resolver):
        if address not in allowed and not is_public(address):
            raise Refused("private-address", f"{parts.hostname} is {address}, a private/loopback/link-local address")


def _addresses(host: str, port: int, resolver: Resolver) -> list[str]:
    """A literal address as itself (no DNS), a name through the resolver."""
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        return resolver(host, port)


def peer_check(allow_private: bool | Collection[str]) -> Callable[[str], None]:
    """A function that raises Refused for a connected address the fetcher may not reach."""
    allowed = set() if allow_private is True else set(allow_private or ())

    def check(address: str) -> None:
        if allow_private is True or address in allowed or is_public(address):
            return
        raise Refused("private-address", f"connected to {address}, a private/loopback/link-local address")

    return check


def _check_peer(conn: HTTPConnection, check: Callable[[str], None]) -> None:
    # Through a proxy the peer is the proxy, which the user chose: nothing to check.
    if getattr(conn, "proxy", None) is not None or getattr(conn, "_tunnel_host", None):
        return
    try:
        address = str(conn.sock.getpeername()[0])  # type: ignore[union-attr]
    except (OSError, AttributeError):
        return
    try:
        check(address)
    except Refused:
        conn.close()
        raise


def _pool_classes(check: Callable[[str], None]) -> dict[str, type[HTTPConnectionPool]]:
    class GuardedHTTPConnection(HTTPConnection):
        def connect(self) -> None:
            super().connect()
            _check_peer(self, check)

    class GuardedHTTPSConnection(HTTPSConnection):
        def connect(self) -> None:
            super().connect()
            _check_peer(self, check)

    class GuardedHTTPPool(HTTPConnectionPool):
        ConnectionCls = GuardedHTTPConnection

    class GuardedHTTPSPool(HTTPSConnectionPool):
        ConnectionCls = GuardedHTTPSConnection

    return {"http": GuardedHTTPPool, "https": GuardedHTTPSPool}


class GuardedAdapter(HTTPAdapter):
    """A requests adapter whose connections refuse to talk to a forbidden peer address."""

    def __init__(self, check: Callable[[str], None], **kwargs: Any):
        self._check = check  # set first: HTTPAdapter.__init__ builds the pool manager
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _pool_classes(self._check)
