"""Issue 12: `--engine auto`, saved pages read whole, honest summaries and exit statuses.

Everything runs against the local server on 127.0.0.1 or saved pages; host names never
resolve (offline), which is also how "no network" is tested.
"""

from __future__ import annotations

import json
import time

import pytest
from crawler_tests import googlepages
from crawler_tests.crawlserver import FIXTURES, Tile, google_page, make_fetcher, offline_dns
from imagegen import image_bytes
from typer.testing import CliRunner

from catalog import iter_images
from crawler import fetch, search
from crawler.cli import app
from crawler.crawl import CrawlOptions, crawl_class
from crawler.search import ResultPage

runner = CliRunner()


@pytest.fixture(autouse=True)
def no_dns(monkeypatch):
    monkeypatch.setattr(fetch, "resolve", offline_dns)


@pytest.fixture
def no_browser(monkeypatch):
    monkeypatch.setattr(
        search, "browser_missing", lambda path=None: "no Chromium found (apt-get install chromium)"
    )


def _save(tmp_path, name: str, text: str | bytes):
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def test_200_tile_page_stores_200_images_with_default_options(http_server, fetcher, cat, tmp_path):
    """Issue 12: the default --limit 100 silently stopped a --page crawl half-way."""
    page = _save(
        tmp_path,
        "big.html",
        google_page([Tile(http_server.url(f"/img/{i}.jpg")) for i in range(200)]),
    )
    report = crawl_class(cat, "Yeezy_350", CrawlOptions(pages=[page]), fetcher)
    assert (report.hits, report.stored, report.left, report.limit_reached) == (200, 200, 0, False)
    assert len(list(iter_images(cat, class_name="Yeezy_350"))) == 200


def test_a_limit_that_stops_a_crawl_says_how_many_were_left(http_server, fetcher, cat, tmp_path):
    page = _save(
        tmp_path, "p.html", google_page([Tile(http_server.url(f"/img/{i}.jpg")) for i in range(30)])
    )
    report = crawl_class(cat, "Yeezy_350", CrawlOptions(pages=[page], limit=10), fetcher)
    assert (report.stored, report.left) == (10, 20)
    assert (
        "stopped at the limit of 10 new images: 20 hits of the pages read were left untried; "
        "run the same command again"
    ) in report.summary()
    again = crawl_class(cat, "Yeezy_350", CrawlOptions(pages=[page], limit=10), fetcher)
    assert (again.skipped, again.stored, again.left) == (10, 10, 10)


def test_all_page_stores_its_strip_and_nothing_below_min_side(fetcher, cat):
    """Issue 12: the strip was ignored while a 38x56 book cover was stored."""
    page = FIXTURES / "google" / "all_page.html"
    report = crawl_class(cat, "Yeezy_350", CrawlOptions(pages=[page], min_side=64), fetcher)
    images = list(iter_images(cat, class_name="Yeezy_350"))
    assert report.stored == 4 and len(images) == 4
    assert all(min(img["width"], img["height"]) >= 64 for img in images)
    assert sorted(img["title"] for img in images) == [f"Yeezy 350 photo {i}" for i in range(4)]
    assert {img["page_url"] for img in images} == {
        f"https://site{i}.example.com/yeezy" for i in range(4)
    }
    assert report.failures == {
        "too-small": 1,
        "dns": 1,
    }  # the 40x40 tile; the lazy tile's gstatic URL


def test_carousel_page_stores_its_items_with_titles(fetcher, cat):
    """Issue 12: a carousel page stored nothing and exited 0."""
    report = crawl_class(
        cat, "Yeezy_350", CrawlOptions(pages=[FIXTURES / "google" / "carousel.html"]), fetcher
    )
    images = list(iter_images(cat, class_name="Yeezy_350"))
    assert report.stored == 8
    assert sorted(img["title"] for img in images) == sorted(
        [*googlepages.ALBUMS, "Pulp Fiction", "Jackie Brown", "Old Album"]
    )
    assert {img["engine"] for img in images} == {"google"} and {
        img["origin"] for img in images
    } == {"thumbnail"}


def test_in_page_duplicates_are_counted_as_repeats_not_as_already_tried(
    http_server, fetcher, cat, tmp_path
):
    """Issue 12: a fresh catalog reported "(5 already tried)" for URLs a page lists twice."""
    tiles = [Tile(http_server.url(f"/img/{i}.jpg")) for i in range(3)]
    page = _save(tmp_path, "p.html", google_page(tiles + tiles[:2]))
    report = crawl_class(cat, "Yeezy_350", CrawlOptions(pages=[page]), fetcher)
    assert (report.stored, report.skipped, report.repeats) == (3, 0, 2)
    assert "(0 already tried, 2 repeated in the results)" in report.summary()


def test_hits_with_only_a_saved_thumbnail_file_are_skipped_on_rerun(fetcher, cat, tmp_path):
    """Issue 12: the key of a hit was defined twice and such hits were tried on every run."""
    (tmp_path / "p_files").mkdir()
    (tmp_path / "p_files" / "t.jpg").write_bytes(image_bytes(40, (80, 60)))
    page = _save(
        tmp_path,
        "p.html",
        '<div data-lpage="https://shop.example.com/a"><img src="./p_files/t.jpg" alt="shoe">'
        "</div>" + " " * 3000,
    )
    first = crawl_class(cat, "Yeezy_350", CrawlOptions(pages=[page]), fetcher)
    second = crawl_class(cat, "Yeezy_350", CrawlOptions(pages=[page]), fetcher)
    assert (first.stored, second.tried, second.skipped) == (1, 0, 1)


def test_bing_saved_page_uses_the_thumbnails_saved_beside_it(fetcher, cat, tmp_path):
    (tmp_path / "b_files").mkdir()
    (tmp_path / "b_files" / "OIP.jpg").write_bytes(image_bytes(41, (90, 60)))
    meta = {
        "murl": "https://images.example.com/a.jpg",
        "purl": "https://shop.example.com/a",
        "turl": "",
        "t": "AF1",
    }
    page = _save(
        tmp_path,
        "b.html",
        f'<a class="iusc" m=\'{json.dumps(meta)}\'><img class="mimg" src="./b_files/OIP.jpg"></a>',
    )
    report = crawl_class(cat, "Air_Force_1", CrawlOptions(pages=[page]), fetcher)
    (image,) = iter_images(cat, class_name="Air_Force_1")
    assert (report.stored, report.thumbnails, image["engine"], image["title"]) == (
        1,
        1,
        "bing",
        "AF1",
    )


def _bing_page(server, n: int) -> bytes:
    tiles = [
        f"<a class=\"iusc\" m='{json.dumps({'murl': server.url(f'/img/{i}.jpg'), 't': f'b{i}'})}'"
        "></a>"
        for i in range(n)
    ]
    return ("<html><body>" + "".join(tiles) + "</body></html>").encode()


def test_auto_moves_from_a_google_wall_to_bing_and_says_why(http_server, fetcher, cat, no_browser):
    http_server.routes["/google"] = lambda h, q: h.reply(
        200, (FIXTURES / "google" / "jswall.html").read_bytes(), "text/html"
    )
    http_server.routes["/bing"] = lambda h, q: h.reply(
        200, _bing_page(http_server, 3) if q["first"] == "1" else b"", "text/html"
    )
    options = CrawlOptions(
        limit=3,
        search_urls={"google": http_server.url("/google"), "bing": http_server.url("/bing")},
    )
    report = crawl_class(cat, "Yeezy_350", options, fetcher)
    assert report.stored == 3 and report.engines == ["bing"]
    assert report.notes[:2] == [
        "google: blocked (a JavaScript-required page); moved on",
        "google-browser: skipped, no Chromium found (apt-get install chromium)",
    ]
    assert {img["engine"] for img in iter_images(cat)} == {"bing"}
    assert "engines used: bing" in report.summary()


def test_auto_takes_google_in_a_browser_when_one_is_there(http_server, fetcher, cat, monkeypatch):
    http_server.routes["/google"] = lambda h, q: h.reply(
        200, (FIXTURES / "google" / "jswall.html").read_bytes(), "text/html"
    )
    hits = [fetch_hit for fetch_hit in google_hits(http_server, 2)]
    monkeypatch.setattr(search, "browser_missing", lambda path=None: None)
    monkeypatch.setattr(
        search.BrowserEngine,
        "search",
        lambda self, f, q, s: iter([ResultPage("rendered", hits, "google-browser")]),
    )
    report = crawl_class(
        cat,
        "Yeezy_350",
        CrawlOptions(limit=2, search_urls={"google": http_server.url("/google")}),
        fetcher,
    )
    assert report.engines == ["google-browser"] and report.stored == 2


def google_hits(server, n: int):
    from crawler.hits import ImageHit

    return [ImageHit(url=server.url(f"/img/{i}.jpg"), engine="google-browser") for i in range(n)]


def test_no_network_fails_fast_with_one_line(catalog_path):
    """Issue 12: `crawl --class X` with no network: one clear line, exit 1, in seconds."""
    started = time.monotonic()
    result = runner.invoke(app, ["--class", "Yeezy_350", "--catalog", str(catalog_path)])
    assert result.exit_code == 1 and time.monotonic() - started < 5
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "no network: cannot reach google, bing, duckduckgo" in lines[0], (
        result.output
    )


def test_nothing_stored_exits_non_zero_with_a_reason(tmp_path, catalog_path):
    page = _save(tmp_path, "p.html", google_page([Tile("https://nowhere.example.com/a.jpg")]))
    result = runner.invoke(
        app, ["--class", "Yeezy_350", "--page", str(page), "--catalog", str(catalog_path)]
    )
    assert result.exit_code == 1
    assert (
        "Yeezy_350: nothing stored and no image of the class in the catalog: "
        "1 hits tried, none stored (dns 1)" in result.output
    )


def test_crawl_all_goes_on_and_lists_the_classes_that_got_nothing(http_server, catalog_path):
    def answer(h, q):
        good = q["q"] == "Yeezy 350 sneaker" and q["ijn"] == "0"
        h.reply(
            200,
            google_page([Tile(http_server.url("/img/1.jpg" if good else "/404.jpg"))]),
            "text/html",
        )

    http_server.routes["/search"] = answer
    result = runner.invoke(
        app,
        [
            "--all",
            "--engine",
            "google",
            "--search-url",
            http_server.url("/search"),
            "--allow-private",
            "127.0.0.1",
            "--delay",
            "0",
            "--catalog",
            str(catalog_path),
        ],
    )
    assert result.exit_code == 1, result.output
    assert (
        "Yeezy_350: 2 hits parsed (0 already tried), 2 tried, 1 fetched, 1 stored" in result.output
    )
    assert "9 of 10 classes got no image: Adidas_NMD_R1" in " ".join(result.output.split())


def test_wrong_engine_for_a_saved_page_names_the_page_engine(catalog_path):
    result = runner.invoke(
        app,
        [
            "--class",
            "Yeezy_350",
            "--engine",
            "bing",
            "--page",
            str(FIXTURES / "google" / "rg_meta.html"),
            "--catalog",
            str(catalog_path),
        ],
    )
    assert result.exit_code == 1
    assert "is a google result page, not a bing one" in " ".join(result.output.split())


def test_captcha_in_a_saved_page_says_to_save_it_again(catalog_path):
    result = runner.invoke(
        app,
        [
            "--class",
            "Yeezy_350",
            "--page",
            str(FIXTURES / "google" / "sorry.html"),
            "--catalog",
            str(catalog_path),
        ],
    )
    text = " ".join(result.output.split())
    assert (
        result.exit_code == 1
        and "is not a result page but" in text
        and "save the page again" in text
    )
    assert "use --page" not in text


def test_loopback_refusal_names_the_switch(http_server, cat, tmp_path):
    page = _save(tmp_path, "p.html", google_page([Tile(http_server.url("/img/1.jpg"))]))
    strict = make_fetcher(allow_private=False)
    try:
        report = crawl_class(cat, "Yeezy_350", CrawlOptions(pages=[page]), strict)
    finally:
        strict.close()
    assert report.failures == {"private-address": 1} and "--allow-private HOST" in report.summary()


def test_browser_missing_says_what_to_install(monkeypatch):
    pytest.importorskip("playwright")
    import crawler.browser as browser

    monkeypatch.setattr(browser, "find_browser", lambda path=None: None)
    monkeypatch.setattr(search, "_playwright_chromium", lambda: False)
    assert "apt-get install chromium" in (search.browser_missing() or "")


def test_search_urls_per_engine():
    assert search.parse_search_urls(["bing=http://127.0.0.1:1/b", "http://127.0.0.1:1/g"]) == (
        "http://127.0.0.1:1/g",
        {"bing": "http://127.0.0.1:1/b"},
    )
    with pytest.raises(Exception, match="unknown engine 'altavista'"):
        search.parse_search_urls(["altavista=http://x"])
