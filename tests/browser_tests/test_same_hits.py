"""One page, one parser: `crawl --page`, the plain `google` engine and the browser engine
give the same hits and store the same rows (issue 26).

The page is a 200-image Images page whose tiles share landing pages (three photos on each),
in the element shape of a rendered 2024 page (`googlepages.images_grid`): most titles only
in the caption beside the thumbnail, one HTML-escaped twice, and three more tiles at the end
that show earlier photos again (in-page repeats, named in every engine's summary). It is
served on 127.0.0.1 for the engines and saved to a file for `--page`.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from crawler_tests.googlepages import images_grid
from typer.testing import CliRunner

from catalog import iter_images, open_catalog
from crawler.browser import collect_hits
from crawler.cli import app
from crawler.engines import google

pytestmark = [pytest.mark.browser, pytest.mark.slow]  # a real Chromium

TILES = 200  # different photos; REPEATS more tiles show earlier ones again
REPEATS = 3
ROW_FIELDS = ("sha256", "source_url", "page_url", "rank", "title", "width", "height", "status")


def _page() -> str:
    return images_grid(TILES + REPEATS, per_page=3, repeated=REPEATS, alt_every=4).replace(
        'alt="photo 0"', 'alt="2011 &amp;amp; 2012"'
    )


@pytest.fixture(scope="module")
def grid_site():
    """(the page's URL on 127.0.0.1, its text): every path but the favicon serves it."""
    body = _page().encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            found = self.path != "/favicon.ico"
            self.send_response(200 if found else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body) if found else 0))
            self.end_headers()
            self.wfile.write(body if found else b"")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/search", body.decode()
    finally:
        server.shutdown()
        server.server_close()


def _fields(hits) -> list[tuple]:
    return [(h.url, h.page_url, h.thumbnail_url, h.thumbnail_data, h.title) for h in hits]


def test_the_browser_engine_finds_the_hits_the_plain_parser_finds(chromium, grid_site):
    """Issue 26: the browser read tiles from the DOM with its own rules (a title only in
    the caption was lost); now it reads the rendered HTML with the plain engine's parser."""
    url, text = grid_site
    expected = google.parse_page(text).hits

    # Its own browser: the crawl below drives one too, which a module-wide one would stop.
    hits = collect_hits(
        url,
        limit=1000,
        browser_path=chromium,
        max_preview_clicks=0,
        timeout_s=5,
        allow_private={"127.0.0.1"},
    )

    assert len(expected) == TILES and len({h.page_url for h in expected}) == 67
    assert _fields(hits) == _fields(expected)
    assert google.parse_page(text).repeats == REPEATS == getattr(hits, "repeats", None)
    assert [h.rank for h in hits] == list(range(1, TILES + 1))
    assert hits[0].title == "2011 &amp; 2012" and hits[1].title == "photo 1"


def _stored(catalog_path) -> list[tuple]:
    with open_catalog(catalog_path) as cat:
        rows = list(iter_images(cat, class_name="Air_Max_1"))
    return sorted(tuple(row[name] for name in ROW_FIELDS) for row in rows)


def test_page_plain_and_browser_engines_store_the_same_rows(grid_site, chromium, tmp_path):
    """Issue 26's done-when: 200 images from `--page`, from the plain engine and from the
    browser engine, and the three give the same rows."""
    url, text = grid_site
    saved = tmp_path / "grid.html"
    saved.write_text(text, encoding="utf-8")
    search = ["--search-url", url, "--allow-private", "127.0.0.1", "--limit", str(TILES)]
    runs = {
        "page": ["--page", str(saved)],
        "google": ["--engine", "google", *search],
        "google-browser": ["--engine", "google-browser", "--browser", chromium, *search],
    }
    rows = {}
    for name, args in runs.items():
        catalog_path = tmp_path / f"{name}.db"
        result = CliRunner().invoke(
            app,
            ["--class", "Air_Max_1", "--delay", "0", "--catalog", str(catalog_path), *args],
        )
        assert result.exit_code == 0, (name, result.output)
        assert f"{REPEATS} repeated" in result.output.replace("\n", " "), (name, result.output)
        rows[name] = _stored(catalog_path)

    assert len(rows["page"]) == TILES
    assert rows["google"] == rows["page"]
    assert rows["google-browser"] == rows["page"]
