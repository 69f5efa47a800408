"""Helpers for crawler tests: a fault-injecting HTTP server on 127.0.0.1, pages, a fast fetcher."""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import requests
from imagegen import image_bytes

from crawler.fetch import Fetcher
from crawler.netguard import Refused

FIXTURES = Path(__file__).parent / "fixtures"
GOOD = image_bytes(1, (64, 48))
Route = Callable[["Handler", dict], None]


def png_bomb(width: int = 50_000, height: int = 50_000) -> bytes:
    """A tiny PNG whose header claims width x height pixels (a decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


class Handler(BaseHTTPRequestHandler):
    server: Server

    def log_message(self, *args: object) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        self.server.hits[parts.path] += 1
        route = self.server.routes.get(parts.path) or self.server.routes.get(
            parts.path.rsplit("/", 1)[0] + "/*"
        )
        if route is None:
            self.reply(404, b"not found", "text/plain")
            return
        if self.server.latency:
            time.sleep(self.server.latency)
        try:
            route(self, {k: v[0] for k, v in parse_qs(parts.query).items()})
        except (BrokenPipeError, ConnectionResetError):
            pass

    def reply(
        self,
        status: int,
        body: bytes,
        ctype: str = "image/jpeg",
        headers: dict | None = None,
        length: bool = True,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        if length:
            self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def redirect(self, location: str) -> None:
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()


class Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.routes: dict[str, Route] = {}
        self.hits: Counter[str] = Counter()
        self.latency = 0.0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def url(self, path: str) -> str:
        return self.base + path


def _reset(h: Handler, q: dict) -> None:
    # SO_LINGER 0: close() sends a RST instead of a FIN.
    h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    h.connection.close()


def _slow(h: Handler, q: dict) -> None:
    time.sleep(float(q.get("s", 3)))
    h.reply(200, GOOD)


def _trickle(h: Handler, q: dict) -> None:
    """One byte every 0.2 s: never idle long enough for a read timeout."""
    h.send_response(200)
    h.send_header("Content-Type", "image/jpeg")
    h.send_header("Content-Length", str(len(GOOD)))
    h.end_headers()
    for byte in GOOD:
        h.wfile.write(bytes([byte]))
        h.wfile.flush()
        time.sleep(0.2)


def _flaky_429(h: Handler, q: dict) -> None:
    if h.server.hits[urlsplit(h.path).path] == 1:
        h.reply(429, b"slow down", "text/plain", {"Retry-After": "1"})
    else:
        h.reply(200, image_bytes(429, (64, 48)))


def _huge(h: Handler, q: dict) -> None:
    size = 20 * 1024 * 1024
    h.send_response(200)
    h.send_header("Content-Type", "image/jpeg")
    if q.get("length") != "no":
        h.send_header("Content-Length", str(size))
    h.end_headers()
    block = b"\xff" * 65536
    for _ in range(size // len(block)):
        h.wfile.write(block)


def fault_routes(server: Server) -> dict[str, Route]:
    """Every fault the crawler must survive, by path."""
    return {
        "/img/*": lambda h, q: h.reply(
            200, image_bytes(int(h.path.split("/")[-1].split(".")[0]), (64, 48))
        ),
        "/slow.jpg": _slow,
        "/trickle.jpg": _trickle,
        "/reset.jpg": _reset,
        "/404.jpg": lambda h, q: h.reply(404, b"nope", "text/html"),
        "/429.jpg": _flaky_429,
        "/500.jpg": lambda h, q: h.reply(500, b"oops", "text/html"),
        "/truncated.jpg": lambda h, q: h.reply(200, GOOD[: len(GOOD) // 2]),
        "/html.jpg": lambda h, q: h.reply(
            200, b"<!doctype html><html><body>Not an image</body></html>"
        ),
        "/huge.jpg": _huge,
        "/bomb.png": lambda h, q: h.reply(200, png_bomb(), "image/png"),
        "/loop-a": lambda h, q: h.redirect("/loop-b"),
        "/loop-b": lambda h, q: h.redirect("/loop-a"),
        "/to-private": lambda h, q: h.redirect("http://10.0.0.1/secret.jpg"),
        "/to-metadata": lambda h, q: h.redirect("http://169.254.169.254/latest/meta-data/"),
        "/to-good": lambda h, q: h.redirect("/img/7.jpg"),
    }


@contextmanager
def serving_faults() -> Iterator[Server]:
    """A running `Server` on 127.0.0.1, port 0, serving `fault_routes` (tests add more)."""
    server = Server()
    server.routes.update(fault_routes(server))
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def offline_dns(host: str, port: int) -> list[str]:
    """Resolve nothing: tests never reach the internet, even on a machine that could."""
    raise Refused("dns", f"cannot resolve {host}: offline test resolver")


def make_fetcher(**overrides: object) -> Fetcher:
    """A fetcher with short timeouts that may reach 127.0.0.1 (and no other private address).

    Host names do not resolve (only literal 127.0.0.1 URLs reach the test server).
    """
    settings: dict = dict(
        max_workers=4,
        per_host=4,
        per_host_delay=0.0,
        timeout=(0.5, 0.5),
        total_timeout=1.0,
        retries=1,
        backoff=0.01,
        max_retry_after=1.5,
        allow_private={"127.0.0.1"},
        resolver=offline_dns,
    )
    settings.update(overrides)
    return Fetcher(requests.Session(), **settings)


@dataclass
class Tile:
    """One result for `google_page`: an original URL and an optional thumbnail URL."""

    url: str
    thumb: str | None = None
    title: str = "a sneaker"
    extra: dict = field(default_factory=dict)


def google_page(tiles: list[Tile]) -> bytes:
    """A 2019-style Google result page (one rg_meta JSON per tile) listing `tiles`."""
    divs = []
    for i, tile in enumerate(tiles):
        meta = {
            "id": f"t{i}:",
            "ou": tile.url,
            "ow": 64,
            "oh": 48,
            "pt": f"{tile.title} {i}",
            "ru": f"https://shop.example.com/{i}",
            "tu": tile.thumb,
            **tile.extra,
        }
        divs.append(
            f'<div class="rg_bx" data-ri="{i}"><img id="t{i}:">'
            f'<div class="rg_meta">{json.dumps(meta)}</div></div>'
        )
    return f"<html><body>{''.join(divs)}</body></html>".encode()
