"""Refuse URLs that point into private networks: loopback, RFC 1918, link-local, metadata.

A result page is untrusted input: an "image URL" of http://169.254.169.254/ or a redirect
to http://10.0.0.1/ must never be fetched from a crawler running inside someone's network.
Two checks: every address a URL's host resolves to, before the request (`check_url`), and
the address each new connection actually reached (`GuardedAdapter`), so a name that
resolves differently the second time (DNS rebinding) is caught too.
"""

from __future__ import annotations

import ipaddress
import re
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


# IPv6 prefixes whose low 32 bits are an IPv4 address that a translator or tunnel reaches:
# NAT64 (RFC 6052), IPv4-compatible (RFC 4291, deprecated), SIIT IPv4-translated (RFC 2765).
_V4_IN_LOW_BITS = [ipaddress.ip_network(n) for n in ("64:ff9b::/96", "::/96", "::ffff:0:0:0/96")]
# Local-use NAT64 (RFC 8215): never globally routable, and where the IPv4 address sits
# inside it is the operator's choice, so the whole prefix is refused.
_NEVER_PUBLIC = [ipaddress.ip_network("64:ff9b:1::/48")]


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries: NAT64, compatible, SIIT, 6to4, Teredo."""
    found = []
    if any(ip in net for net in _V4_IN_LOW_BITS):
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    if ip.sixtofour is not None:  # 2002:AABB:CCDD::/48 reaches AA.BB.CC.DD
        found.append(ip.sixtofour)
    if ip.teredo is not None:  # (server, client), the client's address de-obfuscated
        found.extend(ip.teredo)
    return found


def _is_global(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return ip.is_global and not ip.is_multicast


def is_public(address: str) -> bool:
    """True for a globally routable unicast address.

    An IPv6 address that embeds an IPv4 address (NAT64 `64:ff9b::a9fe:a9fe`, `::ffff:0:a.b.c.d`,
    6to4 `2002::/16`, Teredo...) is public only when the embedded address is too: a NAT64
    gateway would otherwise carry the crawler to 169.254.169.254.
    """
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped:
            return _is_global(ip.ipv4_mapped)
        if any(ip in net for net in _NEVER_PUBLIC):
            return False
        if not all(_is_global(v4) for v4 in _embedded_ipv4(ip)):
            return False
    return _is_global(ip)


def _normal(address: str) -> str:
    """An address in one spelling (`0:0::1` and `::1` compare equal), without a zone."""
    return str(ipaddress.ip_address(address.split("%", 1)[0].strip("[]")))


def _address_set(allow_private: bool | Collection[str]) -> set[str]:
    """The literal addresses in an allow list, normalised; host names in it are left to
    `allowed_addresses`, which the fetcher calls first."""
    allowed = set()
    for item in () if allow_private is True else allow_private or ():
        try:
            allowed.add(_normal(item))
        except ValueError:
            continue
    return allowed


# A DNS host name: dot-separated labels of letters, digits and inner hyphens (RFC 1123).
_HOST_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


def parse_allowed_host(value: str) -> str:
    """`value` as `--allow-private` takes it: an IP address (IPv6 with or without brackets)
    or a host name, returned as given without brackets.

    A URL, a port or an empty value would allow nothing while looking like it allowed
    something, so each is refused with the form expected.
    """
    text = value.strip()
    try:
        return str(ipaddress.ip_address(text.strip("[]") if text.startswith("[") else text))
    except ValueError:
        pass
    name = text.rstrip(".")
    if 0 < len(name) <= 253 and all(_HOST_LABEL.fullmatch(label) for label in name.split(".")):
        return name
    raise ValueError(
        f"--allow-private takes an IP address or a host name (e.g. 127.0.0.1, ::1, "
        f"localhost), without scheme, port or path. Received: {value!r}"
    )


def allowed_addresses(hosts: Collection[str], resolver: Resolver = resolve) -> frozenset[str]:
    """The addresses that `--allow-private HOST...` allows: literals as given, names resolved.

    A name that does not resolve allows nothing (its URLs fail on DNS anyway).
    """
    allowed = set()
    for host in hosts:
        try:
            allowed.add(_normal(host))
        except ValueError:
            try:
                allowed.update(_normal(a) for a in resolver(host.strip("[]"), 80))
            except (Refused, ValueError):
                continue
    return frozenset(allowed)


def check_url(
    url: str, allow_private: bool | Collection[str] = False, resolver: Resolver = resolve
) -> None:
    """Raise Refused unless `url` is http(s) and every address of its host is public.

    Args:
        allow_private: True allows every address; a collection allows just those addresses
            (tests allow "127.0.0.1" and still see other private ones refused; `crawl
            --allow-private HOST` gives `allowed_addresses(hosts)`).

    Example: check_url("http://169.254.169.254/latest/meta-data/")
    raises Refused("private-address", ...)
    """
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:  # an unclosed IPv6 bracket, a port that is no port
        raise Refused("bad-url", f"malformed URL: {url[:200]}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Refused("bad-url", f"not an http(s) URL: {url[:200]}")
    if allow_private is True:
        return
    checked_addresses(parts.hostname, port, allow_private, resolver)


def checked_addresses(
    host: str,
    port: int,
    allow_private: bool | Collection[str] = False,
    resolver: Resolver = resolve,
) -> list[str]:
    """Every address `host` resolves to, each checked as `check_url` checks it.

    A connection made to one of these (not to the name again) cannot reach an address that
    a second lookup would give (DNS rebinding).

    Raises:
        Refused: "dns" when `host` does not resolve, "private-address" when one of its
            addresses is private and not allowed.
    """
    addresses = _addresses(host, port, resolver)
    if allow_private is True:
        return addresses
    allowed = _address_set(allow_private)
    for address in addresses:
        if _normal(address) not in allowed and not is_public(address):
            raise Refused(
                "private-address", f"{host} is {address}, a private/loopback/link-local address"
            )
    return addresses


def _addresses(host: str, port: int, resolver: Resolver) -> list[str]:
    """A literal address as itself (no DNS), a name through the resolver."""
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        return resolver(host, port)


def peer_check(allow_private: bool | Collection[str]) -> Callable[[str], None]:
    """A function that raises Refused for a connected address the fetcher may not reach."""
    allowed = _address_set(allow_private)

    def check(address: str) -> None:
        if allow_private is True or _normal(address) in allowed or is_public(address):
            return
        raise Refused(
            "private-address", f"connected to {address}, a private/loopback/link-local address"
        )

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
