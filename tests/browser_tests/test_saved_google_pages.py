"""The browser engine on real Google result pages (2019), served from ../shared on 127.0.0.1.

They only run where ../shared exists; the local JavaScript site covers the same code
everywhere else.
"""

from __future__ import annotations

import functools
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest
from shared_data import SHARED

from crawler.browser.google import collect_from_context
from crawler.engines import google

pytestmark = [pytest.mark.browser, pytest.mark.slow]  # real pages from ../shared


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def saved_pages_url():
    folder = SHARED / "fixtures" / "google-2019"
    if not folder.is_dir():
        pytest.skip(
            "../shared/fixtures/google-2019 is absent (only on development and CI machines)"
        )
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", folder
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("name", ["Yeezy_350", "Air_Jordan_1"])
def test_rendered_2019_page_gives_every_original_without_clicking(browser, saved_pages_url, name):
    base, folder = saved_pages_url
    expected = google.parse_page((folder / f"{name}.html").read_text(encoding="utf-8")).hits

    hits = collect_from_context(
        browser,
        f"{base}/{name}.html",
        limit=1000,
        max_preview_clicks=0,
        timeout_s=5,
        allow_private={"127.0.0.1"},
    )

    assert len(expected) >= 80
    # Tiles come in the page's visual order, which in these pages is not rg_meta's order;
    # a URL shown twice is one hit.
    assert sorted(h.url for h in hits) == sorted({h.url for h in expected})
    assert {h.url: h.page_url for h in hits} == {h.url: h.page_url for h in expected}
