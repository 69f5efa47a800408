"""The fetcher against a real server on 127.0.0.1 that misbehaves in every way we know."""

from __future__ import annotations

import socket
import threading
import time

import pytest
import requests
from crawler_tests.crawlserver import GOOD, make_fetcher
from imagegen import image_bytes

from crawler.fetch import Fetcher
from crawler.netguard import Refused


def test_good_image(http_server, fetcher):
    result = fetcher.get(http_server.url("/img/3.jpg"))
    assert result.ok and result.data == image_bytes(3, (64, 48)) and result.http_status == 200


def test_redirect_is_followed(http_server, fetcher):
    result = fetcher.get(http_server.url("/to-good"))
    assert result.ok and result.data == image_bytes(7, (64, 48))
    assert result.final_url == http_server.url("/img/7.jpg")


@pytest.mark.parametrize(
    "path, reason",
    [
        ("/404.jpg", "http-404"),
        ("/500.jpg", "http-500"),
        ("/slow.jpg", "timeout"),
        ("/trickle.jpg", "timeout"),
        ("/reset.jpg", "reset"),
        ("/huge.jpg", "too-large"),
        ("/huge.jpg?length=no", "too-large"),
        ("/loop-a", "redirect-loop"),
        ("/to-private", "private-address"),
        ("/to-metadata", "private-address"),
    ],
)
def test_faults_end_as_reasons(http_server, fetcher, path, reason):
    started = time.monotonic()
    result = fetcher.get(http_server.url(path))
    assert not result.ok and result.reason == reason, result
    assert result.data is None or not 200 <= (result.http_status or 0) < 300
    assert time.monotonic() - started < 4


def test_500_is_retried_then_reported(http_server, fetcher):
    result = fetcher.get(http_server.url("/500.jpg"))
    assert result.reason == "http-500" and http_server.hits["/500.jpg"] == 2  # retries=1


def test_429_waits_for_retry_after_then_succeeds(http_server, fetcher):
    started = time.monotonic()
    result = fetcher.get(http_server.url("/429.jpg"))
    assert result.ok and result.data == image_bytes(429, (64, 48))
    assert http_server.hits["/429.jpg"] == 2 and time.monotonic() - started >= 0.95


def test_retry_after_is_capped(http_server):
    http_server.routes["/park"] = lambda h, q: h.reply(
        429, b"", "text/plain", {"Retry-After": "3600"}
    )
    with make_fetcher(max_retry_after=0.2) as fetcher:
        started = time.monotonic()
        assert fetcher.get(http_server.url("/park")).reason == "http-429"
    assert time.monotonic() - started < 2


def test_redirect_cap(http_server):
    for i in range(5):
        http_server.routes[f"/hop{i}"] = lambda h, q, i=i: h.redirect(f"/hop{i + 1}")
    http_server.routes["/hop5"] = lambda h, q: h.reply(200, GOOD)
    with make_fetcher(max_redirects=3) as fetcher:
        assert fetcher.get(http_server.url("/hop0")).reason == "too-many-redirects"
    with make_fetcher(max_redirects=5) as fetcher:
        assert fetcher.get(http_server.url("/hop0")).ok


def test_loopback_refused_by_default(http_server):
    with Fetcher(requests.Session()) as fetcher:
        result = fetcher.get(http_server.url("/img/1.jpg"))
    assert result.reason == "private-address" and http_server.hits["/img/1.jpg"] == 0


def test_no_network_fails_fast():
    """Connection refused and DNS failures come back in well under a second, not after a hang."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]

    def no_dns(host: str, port: int) -> list[str]:
        raise Refused("dns", f"cannot resolve {host}: [Errno -2] Name or service not known")

    with Fetcher(requests.Session(), allow_private={"127.0.0.1"}, resolver=no_dns) as fetcher:
        started = time.monotonic()
        refused = fetcher.get(f"http://127.0.0.1:{closed_port}/a.jpg")
        dns = fetcher.get("https://images.example.com/a.jpg")
        assert time.monotonic() - started < 3
    assert refused.reason == "refused" and dns.reason == "dns"


def test_per_host_limit_and_delay(http_server):
    active, peak, lock = [0], [0], threading.Lock()

    def tracked(h, q):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.1)
        with lock:
            active[0] -= 1
        h.reply(200, GOOD)

    http_server.routes["/tracked/*"] = tracked
    with make_fetcher(max_workers=8, per_host=2) as fetcher:
        results = list(fetcher.fetch_many(http_server.url(f"/tracked/{i}") for i in range(8)))
    assert all(r.ok for r in results) and peak[0] == 2
    with make_fetcher(max_workers=4, per_host=4, per_host_delay=0.1) as fetcher:
        started = time.monotonic()
        list(fetcher.fetch_many(http_server.url(f"/img/{i}.jpg") for i in range(4)))
        assert time.monotonic() - started >= 0.3  # starts 0.1 s apart


def test_fetch_many_is_concurrent(http_server):
    http_server.latency = 0.2
    with make_fetcher(max_workers=8, per_host=8) as fetcher:
        started = time.monotonic()
        results = list(fetcher.fetch_many(http_server.url(f"/img/{i}.jpg") for i in range(8)))
        elapsed = time.monotonic() - started
    assert sorted(r.data for r in results) == sorted(image_bytes(i, (64, 48)) for i in range(8))
    assert elapsed < 0.8


def test_dns_rebinding_is_caught_at_connect(http_server):
    """The name passes the check (it "resolves" to a public address), then the connection
    lands on 127.0.0.1: the connected address is checked too, and nothing is requested."""
    port = http_server.server_address[1]

    def rebinding(host: str, port: int) -> list[str]:
        return ["93.184.216.34"]

    with Fetcher(requests.Session(), resolver=rebinding, timeout=(0.5, 0.5)) as fetcher:
        result = fetcher.get(f"http://localhost:{port}/img/1.jpg")
    assert result.reason == "private-address" and "connected to 127.0.0.1" in result.detail
    assert http_server.hits["/img/1.jpg"] == 0
