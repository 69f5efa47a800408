"""The google-browser engine against the local JavaScript-built result page (issue 7)."""

from __future__ import annotations

import pytest
from browser_tests.jsresults import TOTAL, has_original

from crawler.browser import BrowserBlockedError, search_page_url
from crawler.browser.google import collect_from_context
from crawler.browser.page import Tile
from crawler.errors import BlockedError, EngineParseError

pytestmark = [pytest.mark.browser, pytest.mark.slow]  # a real Chromium (~30 s in all)

NEED_PREVIEW = [i for i in range(TOTAL) if not has_original(i)]


def collect(browser, site, query: str, **options):
    site.requests.clear()
    options.setdefault("limit", 100)
    options.setdefault("timeout_s", 5)
    options.setdefault("allow_private", {"127.0.0.1"})  # the local site
    return collect_from_context(browser, search_page_url(query, site.search_url()), **options)


def asked(site, prefix: str) -> list[str]:
    return [path for path in site.requests if path.startswith(prefix)]


def test_search_page_url_adds_query_to_endpoint():
    assert search_page_url("yeezy 350", "http://127.0.0.1:9/search?hl=en") == (
        "http://127.0.0.1:9/search?hl=en&q=yeezy+350&tbm=isch&udm=2"
    )
    assert search_page_url("yeezy") == "https://www.google.com/search?q=yeezy&tbm=isch&udm=2"
    assert search_page_url("http://127.0.0.1:9/saved?q=x") == "http://127.0.0.1:9/saved?q=x"


def test_collects_every_tiles_original_through_consent_scroll_and_more(browser, site):
    hits = collect(browser, site, "sneakers", max_preview_clicks=len(NEED_PREVIEW))

    assert [h.url for h in hits] == site.originals()
    assert [h.rank for h in hits] == list(range(1, TOTAL + 1))
    assert {h.engine for h in hits} == {"google-browser"}
    assert hits[3].title == "Sneaker 3" and hits[3].page_url == f"{site.base}/page/3.html"
    assert hits[3].width == 160 and hits[3].height == 120
    # Batch 2 came by scrolling, batch 3 only by pressing "Show more results".
    assert [p.split("start=")[1] for p in asked(site, "/async/tiles")] == ["0", "10", "20"]
    # Only the tiles whose original is not in the script data were clicked.
    assert asked(site, "/async/preview") == [
        f"/async/preview?id={i}&q=sneakers" for i in NEED_PREVIEW
    ]


def test_stops_loading_once_it_has_enough_tiles(browser, site):
    hits = collect(browser, site, "sneakers", limit=8)

    assert [h.url for h in hits] == site.originals()[:8]
    assert len(asked(site, "/async/tiles")) == 1


def test_preview_clicks_are_bounded_and_the_rest_keep_their_thumbnails(browser, site):
    hits = collect(browser, site, "sneakers", max_preview_clicks=2)

    assert len(hits) == TOTAL
    assert len(asked(site, "/async/preview")) == 2
    thumbnail_only = [h for h in hits if h.url is None]
    assert [h.thumbnail_url for h in thumbnail_only] == [
        f"{site.base}/thumb/{i}.jpg" for i in NEED_PREVIEW[2:]
    ]
    assert [h.url for h in hits if h.url] == [
        u for i, u in enumerate(site.originals()) if i not in NEED_PREVIEW[2:]
    ]


def test_stops_clicking_previews_that_never_show_an_original(browser, site):
    hits = collect(browser, site, "no-preview", max_preview_clicks=10, timeout_s=1)

    assert len(asked(site, "/async/preview")) == 3  # then it gives up, not after 10 timeouts
    assert [h.rank for h in hits if h.url is None] == [i + 1 for i in NEED_PREVIEW]


def test_tile_linking_to_imgres_carries_its_original_and_landing_page():
    info = {
        "src": "data:image/jpeg;base64,AAAA",
        "data_src": "https://encrypted-tbn0.gstatic.com/images?q=tbn:1",
        "lpage": None,
        "title": "Yeezy",
        "links": [
            "https://www.google.com/search?q=x#",
            "https://www.google.com/imgres?imgurl=https%3A%2F%2Fshop.example%2Fy.jpg&imgrefurl=https%3A%2F%2Fshop.example%2Fy",
        ],
    }

    tile = Tile.from_info(info, "www.google.com")

    assert tile == Tile(
        thumb="data:image/jpeg;base64,AAAA",
        remote="https://encrypted-tbn0.gstatic.com/images?q=tbn:1",
        page="https://shop.example/y",
        title="Yeezy",
        original="https://shop.example/y.jpg",
    )


def test_captcha_redirect_stops_the_crawl(browser, site):
    stopped = (
        r"^google-browser was stopped by a captcha page at 127\.0\.0\.1:\d+/sorry/index "
        r"after 0 results"
    )
    with pytest.raises(BlockedError, match=stopped):
        collect(browser, site, "captcha")
    assert asked(site, "/async/tiles") == []


def test_captcha_after_more_results_stops_without_looping_and_keeps_earlier_hits(browser, site):
    with pytest.raises(
        BrowserBlockedError, match=r"stopped by a captcha page .* after 10 results\. .*wait"
    ) as caught:
        collect(browser, site, "captcha-later")

    assert len(asked(site, "/async/tiles")) == 2
    assert len(asked(site, "/sorry/")) == 1
    first_batch = range(10)
    assert [h.url for h in caught.value.hits] == [
        site.original(i) if has_original(i) else None for i in first_batch
    ]
    assert caught.value.hits[4].thumbnail_url == f"{site.base}/thumb/4.jpg"


def test_consent_form_without_accept_button_is_reported(browser, site):
    with pytest.raises(BlockedError, match="cookie consent form with no accept button"):
        collect(browser, site, "stuck-consent")


def test_page_without_results_is_an_error_not_an_empty_crawl(browser, site):
    with pytest.raises(EngineParseError, match="shows no image tiles"):
        collect(browser, site, "empty", timeout_s=1)
