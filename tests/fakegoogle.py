"""A local stand-in for Google Images on 127.0.0.1, shared by the pipeline tests.

Each class's search answers with a result page in one of two Google markups (2019
`rg_meta` JSON, and `/imgres?imgurl=` links) and serves the images it links to, among them
planted exact and near duplicates, a truncated JPEG, an HTML page served as a JPEG and a 404.
"""

from __future__ import annotations

import html
import io
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, urlsplit

from imagegen import image_bytes, make_image
from PIL import Image

# query (as seeded in the catalog) -> class, markup, image seeds
CLASSES = {
    "Yeezy 350 sneaker": ("Yeezy_350", "rg_meta", range(0, 8)),
    "Yeezy 500 sneaker": ("Yeezy_500", "imgres", range(100, 108)),
    "Nike Air Max 1 sneaker": ("Air_Max_1", "rg_meta", range(200, 208)),
}
DISTINCT = 8


def _near_copy(seed: int) -> bytes:
    """The image of `seed`, shrunk to 85% and re-encoded at low quality: a near duplicate."""
    img = make_image(seed, (160, 120)).resize((136, 102), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=40)
    return buf.getvalue()


def _routes(seeds: range) -> dict[str, tuple[int, str, bytes]]:
    """path -> (status, content type, body) for one class's images and planted faults."""
    first = seeds[0]
    routes = {f"/img/{s}.jpg": (200, "image/jpeg", image_bytes(s, (160, 120))) for s in seeds}
    routes[f"/mirror/{first}.jpg"] = routes[f"/img/{first}.jpg"]  # exact duplicate, other URL
    routes[f"/near/{first}.jpg"] = (200, "image/jpeg", _near_copy(first))
    routes[f"/broken/{first}.jpg"] = (200, "image/jpeg", image_bytes(first + 50, (160, 120))[:600])
    routes[f"/html/{first}.jpg"] = (200, "image/jpeg", b"<html><body>not an image</body></html>")
    return routes  # /gone/<first>.jpg is linked but not served: a 404


def _links(seeds: range) -> list[str]:
    first = seeds[0]
    return [f"/img/{s}.jpg" for s in seeds] + [
        f"/mirror/{first}.jpg",
        f"/near/{first}.jpg",
        f"/broken/{first}.jpg",
        f"/html/{first}.jpg",
        f"/gone/{first}.jpg",
    ]


def _rg_meta_page(base: str, links: list[str]) -> str:
    tiles = []
    for rank, link in enumerate(links):
        meta = {
            "ou": base + link,
            "ow": 160,
            "oh": 120,
            "pt": f"shoe {rank}",
            "ru": f"{base}/shop/{rank}",
            "isu": "127.0.0.1",
            "ity": "jpg",
            "id": f"t{rank}:",
        }
        tiles.append(
            f'<div class="rg_bx rg_di rg_el"><a class="rg_l" href="#"><img class="rg_ic rg_i"></a>'
            '<div class="rg_meta notranslate">'
            f"{html.escape(json.dumps(meta), quote=False)}</div></div>"
        )
    return "<!doctype html><html><head><title>Google Search</title></head><body><div id='rg_s'>" + (
        "\n".join(tiles) + "</div>" + "<p>" + "padding " * 300 + "</p></body></html>"
    )


def _imgres_page(base: str, links: list[str]) -> str:
    anchors = [
        f'<a class="rg_l" href="/imgres?imgurl={quote(base + link, safe="")}&amp;imgrefurl='
        f'{quote(f"{base}/shop/{rank}", safe="")}&amp;w=160&amp;h=120"><img alt="shoe {rank}"></a>'
        for rank, link in enumerate(links)
    ]
    return "<!doctype html><html><head><title>Google Search</title></head><body><div id='ires'>" + (
        "\n".join(anchors) + "</div><p>" + "padding " * 300 + "</p></body></html>"
    )


class _Google(BaseHTTPRequestHandler):
    routes: dict[str, tuple[int, str, bytes]] = {}

    def do_GET(self):
        url = urlsplit(self.path)
        if url.path == "/search":
            query = parse_qs(url.query)["q"][0]
            _, markup, seeds = CLASSES[query]
            base = f"http://127.0.0.1:{self.server.server_port}"
            page = (_rg_meta_page if markup == "rg_meta" else _imgres_page)(base, _links(seeds))
            return self._send(200, "text/html; charset=utf-8", page.encode())
        status, ctype, body = self.routes.get(url.path, (404, "text/plain", b"not found"))
        self._send(status, ctype, body)

    def _send(self, status: int, ctype: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@contextmanager
def serve_google() -> Iterator[str]:
    """Start the server; yields the search URL to pass as `crawl --search-url`."""
    _Google.routes = {
        path: r for _, _, seeds in CLASSES.values() for path, r in _routes(seeds).items()
    }
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Google)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/search"
    finally:
        server.shutdown()
        server.server_close()
