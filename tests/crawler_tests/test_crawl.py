"""Crawls against the local server: every fault recorded, resume, limit, thumbnails, engines."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from crawler_tests.crawlserver import FIXTURES, Tile, google_page
from imagegen import image_bytes

from catalog import iter_images
from catalog.fetches import failure_counts, fetch_rows
from crawler.crawl import CrawlOptions, crawl_class
from crawler.errors import BlockedError, EngineParseError
from crawler.hits import ImageHit

FAULTS = {
    "/slow.jpg": "timeout",
    "/reset.jpg": "reset",
    "/404.jpg": "http-404",
    "/500.jpg": "http-500",
    "/truncated.jpg": "truncated",
    "/html.jpg": "not-an-image",
    "/huge.jpg": "too-large",
    "/bomb.png": "decompression-bomb",
    "/loop-a": "redirect-loop",
    "/to-private": "private-address",
}


def serve_pages(server, pages: list[list[Tile]]) -> None:
    """/search?ijn=N answers page N of `pages`, then an empty page."""

    def search(h, q):
        n = int(q.get("ijn", 0))
        body = (
            google_page(pages[n])
            if n < len(pages)
            else b"<html><body>" + b" " * 4000 + b"</body></html>"
        )
        h.reply(200, body, "text/html; charset=utf-8")

    server.routes["/search"] = search


def store_files(cat) -> set[str]:
    return {str(p.relative_to(cat.root)) for p in cat.store_dir.rglob("*") if p.is_file()}


def test_search_crawl_records_every_fault(http_server, fetcher, cat):
    good = [Tile(http_server.url(f"/img/{i}.jpg")) for i in range(1, 4)]
    faults = [Tile(http_server.url(path)) for path in FAULTS]
    serve_pages(
        http_server,
        [good[:2] + faults[:5], [good[2], Tile(http_server.url("/429.jpg"))] + faults[5:]],
    )
    options = CrawlOptions(limit=50, search_url=http_server.url("/search"))
    report = crawl_class(cat, "Yeezy_350", options, fetcher)

    assert (report.hits, report.tried, report.stored, report.engine) == (14, 14, 4, "google")
    assert report.failures == {reason: 1 for reason in FAULTS.values()}
    rows = {row["url"].removeprefix(http_server.base): row for row in fetch_rows(cat, "Yeezy_350")}
    for path, reason in FAULTS.items():
        assert rows[path]["status"] == "failed" and rows[path]["error"].startswith(reason), rows[
            path
        ]
    assert rows["/404.jpg"]["http_status"] == 404
    stored = [row for row in rows.values() if row["status"] == "stored"]
    assert sorted(r["url"].removeprefix(http_server.base) for r in stored) == [
        "/429.jpg",
        "/img/1.jpg",
        "/img/2.jpg",
        "/img/3.jpg",
    ]
    images = list(iter_images(cat, class_name="Yeezy_350"))
    assert {img["sha256"] for img in images} == {r["sha256"] for r in stored}
    for img in images:
        assert (
            img["origin"] == "download"
            and img["engine"] == "google"
            and img["query"] == "Yeezy 350 sneaker"
        )
        assert img["source_url"].startswith(http_server.base) and img["page_url"].startswith(
            "https://shop.example.com/"
        )
        assert img["title"].startswith("a sneaker") and img["rank"] >= 0
    # Nothing in the store but the four images: no partial or temporary files.
    assert store_files(cat) == {img["path"] for img in images}
    assert failure_counts(cat, "Yeezy_350")["timeout"] == 1


def test_rerun_resumes_and_retry_failed_tries_again(http_server, fetcher, cat):
    serve_pages(
        http_server, [[Tile(http_server.url("/img/1.jpg")), Tile(http_server.url("/flaky.jpg"))]]
    )
    http_server.routes["/flaky.jpg"] = lambda h, q: h.reply(404, b"", "text/plain")
    options = CrawlOptions(limit=10, search_url=http_server.url("/search"))
    first = crawl_class(cat, "Yeezy_350", options, fetcher)
    assert (first.stored, first.failures) == (1, {"http-404": 1})

    second = crawl_class(cat, "Yeezy_350", options, fetcher)
    assert (second.hits, second.skipped, second.tried, second.stored) == (2, 2, 0, 0)
    assert http_server.hits["/img/1.jpg"] == 1

    http_server.routes["/flaky.jpg"] = lambda h, q: h.reply(200, image_bytes(99, (64, 48)))
    third = crawl_class(
        cat,
        "Yeezy_350",
        CrawlOptions(limit=10, search_url=http_server.url("/search"), retry_failed=True),
        fetcher,
    )
    assert (third.skipped, third.tried, third.stored) == (1, 1, 1)
    assert {row["status"] for row in fetch_rows(cat, "Yeezy_350")} == {"stored"}


def test_limit_stops_downloads_and_paging(http_server, fetcher, cat):
    pages = [[Tile(http_server.url(f"/img/{p * 10 + i}.jpg")) for i in range(10)] for p in range(3)]
    serve_pages(http_server, pages)
    report = crawl_class(
        cat, "Air_Max_90", CrawlOptions(limit=12, search_url=http_server.url("/search")), fetcher
    )
    assert report.stored == 12 and len(list(iter_images(cat, class_name="Air_Max_90"))) == 12
    assert http_server.hits["/search"] == 2  # the third page is never requested
    assert sum(n for path, n in http_server.hits.items() if path.startswith("/img/")) == 12


def test_results_run_out(http_server, fetcher, cat):
    serve_pages(
        http_server, [[Tile(http_server.url("/img/1.jpg"))], [Tile(http_server.url("/img/1.jpg"))]]
    )
    report = crawl_class(
        cat, "Air_Max_90", CrawlOptions(limit=100, search_url=http_server.url("/search")), fetcher
    )
    # Page 2 repeats page 1: nothing new, so paging ends there.
    assert report.stored == 1 and http_server.hits["/search"] == 2 and report.stopped is None


def test_thumbnail_kept_when_the_original_fails(http_server, fetcher, cat):
    serve_pages(
        http_server, [[Tile(http_server.url("/404.jpg"), thumb=http_server.url("/img/5.jpg"))]]
    )
    report = crawl_class(
        cat, "Yeezy_500", CrawlOptions(search_url=http_server.url("/search")), fetcher
    )
    assert (report.stored, report.thumbnails, report.thumbnail_fallbacks) == (1, 1, {"http-404": 1})
    (image,) = iter_images(cat, class_name="Yeezy_500")
    assert (
        image["origin"] == "thumbnail"
        and image["sha256"] == hashlib.sha256(image_bytes(5, (64, 48))).hexdigest()
    )
    assert image["source_url"] == http_server.url("/404.jpg")
    rows = {row["url"]: (row["status"], row["error"]) for row in fetch_rows(cat, "Yeezy_500")}
    assert rows == {
        http_server.url("/404.jpg"): ("failed", "http-404: Not Found"),
        http_server.url("/img/5.jpg"): ("stored", None),
    }


def test_same_bytes_twice_is_one_image(http_server, fetcher, cat):
    http_server.routes["/copy.jpg"] = lambda h, q: h.reply(200, image_bytes(1, (64, 48)))
    serve_pages(
        http_server, [[Tile(http_server.url("/img/1.jpg")), Tile(http_server.url("/copy.jpg"))]]
    )
    report = crawl_class(
        cat, "Yeezy_350", CrawlOptions(search_url=http_server.url("/search")), fetcher
    )
    assert (report.stored, report.duplicates) == (1, 1)
    assert len(list(iter_images(cat))) == 1


def test_first_page_blocked_is_an_error(http_server, fetcher, cat):
    http_server.routes["/search"] = lambda h, q: h.redirect("/sorry/index?continue=x")
    http_server.routes["/sorry/index"] = lambda h, q: h.reply(
        429, (FIXTURES / "google" / "sorry.html").read_bytes(), "text/html"
    )
    with pytest.raises(BlockedError, match="google blocked the search"):
        crawl_class(cat, "Yeezy_350", CrawlOptions(search_url=http_server.url("/search")), fetcher)
    assert fetch_rows(cat) == []


def test_first_page_without_results_is_an_error(http_server, fetcher, cat):
    http_server.routes["/search"] = lambda h, q: h.reply(
        200, (FIXTURES / "google" / "no_results.html").read_bytes(), "text/html"
    )
    with pytest.raises(EngineParseError, match="no image results in any known format"):
        crawl_class(cat, "Yeezy_350", CrawlOptions(search_url=http_server.url("/search")), fetcher)


def test_later_page_blocked_stops_with_a_reason(http_server, fetcher, cat):
    def search(h, q):
        if q.get("ijn") == "0":
            h.reply(200, google_page([Tile(http_server.url("/img/1.jpg"))]), "text/html")
        else:
            h.reply(200, (FIXTURES / "google" / "consent.html").read_bytes(), "text/html")

    http_server.routes["/search"] = search
    report = crawl_class(
        cat, "Yeezy_350", CrawlOptions(search_url=http_server.url("/search")), fetcher
    )
    assert report.stored == 1 and http_server.hits["/search"] == 2
    assert "google blocked the search (a cookie consent form)" in report.stopped


def test_bing_through_the_local_server(http_server, fetcher, cat):
    page = (FIXTURES / "bing" / "iusc.html").read_text()
    page = page.replace("https://images.example.com/af1/white.jpg", http_server.url("/img/11.jpg"))
    page = page.replace("https://cdn.example.org/af1/black.png", http_server.url("/img/12.jpg"))
    http_server.routes["/images/async"] = lambda h, q: h.reply(
        200,
        page.encode() if q["first"] == "1" else b"<html>" + b" " * 3000 + b"</html>",
        "text/html",
    )
    options = CrawlOptions(engine="bing", search_url=http_server.url("/images/async"))
    report = crawl_class(cat, "Air_Force_1", options, fetcher)
    assert report.stored == 2 and {i["engine"] for i in iter_images(cat)} == {"bing"}


def test_duckduckgo_through_the_local_server(http_server, fetcher, cat):
    answer = (FIXTURES / "duckduckgo" / "i.js.json").read_text()
    answer = answer.replace(
        "https://images.example.com/y500/blush.jpg", http_server.url("/img/21.jpg")
    )
    answer = answer.replace(
        "https://cdn.example.org/y500/utility.png", http_server.url("/img/22.jpg")
    )
    http_server.routes["/"] = lambda h, q: h.reply(
        200, (FIXTURES / "duckduckgo" / "token.html").read_bytes(), "text/html"
    )
    http_server.routes["/i.js"] = lambda h, q: h.reply(
        200,
        answer.encode()
        if q["s"] == "0" and q["vqd"].startswith("4-") and h.headers["Referer"]
        else b'{"results": []}',
        "application/json",
    )
    options = CrawlOptions(engine="duckduckgo", search_url=http_server.url("/"))
    report = crawl_class(cat, "Yeezy_500", options, fetcher)
    assert report.stored == 2 and {i["title"] for i in iter_images(cat)} == {
        "Yeezy 500 Blush",
        "Yeezy 500 Utility Black",
    }


def test_saved_page_uses_inline_and_saved_thumbnails(fetcher, cat):
    """No network: rg_meta.html's originals fail, its three thumbnails are kept."""
    report = crawl_class(
        cat, "Yeezy_350", CrawlOptions(pages=[FIXTURES / "google" / "rg_meta.html"]), fetcher
    )
    assert (report.hits, report.stored, report.thumbnails) == (3, 3, 3)
    assert sum(report.thumbnail_fallbacks.values()) == 3
    images = list(iter_images(cat, class_name="Yeezy_350"))
    assert {(i["origin"], i["width"], i["height"]) for i in images} == {("thumbnail", 40, 40)}
    assert {i["source_url"] for i in images} == {
        "https://images.example.com/yeezy-1.jpg",
        "https://cdn.example.org/350/beluga.png?w=1920",
        "https://kicks.example.net/img/cream.jpg",
    }
    saved = (FIXTURES / "google" / "rg_meta_files" / "ccc.jpg").read_bytes()
    assert hashlib.sha256(saved).hexdigest() in {i["sha256"] for i in images}
    again = crawl_class(
        cat, "Yeezy_350", CrawlOptions(pages=[FIXTURES / "google" / "rg_meta.html"]), fetcher
    )
    assert (again.skipped, again.stored) == (3, 0)


def test_saved_page_of_thumbnails_only(fetcher, cat):
    report = crawl_class(
        cat,
        "Adidas_Ultra_Boost_4",
        CrawlOptions(pages=[FIXTURES / "google" / "data_lpage.html"]),
        fetcher,
    )
    assert report.stored == 2 and report.failures == {}
    assert {i["page_url"] for i in iter_images(cat)} == {
        "https://shop.example.com/ub4-core-black",
        "https://blog.example.org/ub4-triple-white",
    }


def test_saved_page_that_is_not_a_result_page(fetcher, cat, tmp_path):
    page = tmp_path / "page.html"
    page.write_text((FIXTURES / "google" / "no_results.html").read_text())
    with pytest.raises(EngineParseError):
        crawl_class(cat, "Yeezy_350", CrawlOptions(pages=[page]), fetcher)


@pytest.mark.slow  # a real page from ../shared
def test_real_saved_page_offline(shared_dir, fetcher, cat):
    """The Done-when case: Yeezy_350.html with no network stores its inline thumbnails, once."""
    page = shared_dir / "fixtures" / "google-2019" / "Yeezy_350.html"
    offline = Path(page)
    report = crawl_class(cat, "Yeezy_350", CrawlOptions(pages=[offline]), fetcher)
    images = list(iter_images(cat, class_name="Yeezy_350"))
    assert report.hits == 100 and report.stored == len(images) >= 20
    assert len({i["sha256"] for i in images}) == len(images)
    for image in images:
        assert image["origin"] == "thumbnail" and image["engine"] == "google"
        assert (
            image["source_url"].startswith("http")
            and image["page_url"].startswith("http")
            and image["title"]
        )
    again = crawl_class(cat, "Yeezy_350", CrawlOptions(pages=[offline]), fetcher)
    assert again.stored == 0 and len(list(iter_images(cat))) == len(images)


def test_unwritable_store_stops_the_crawl_with_a_message(http_server, fetcher, cat, monkeypatch):
    serve_pages(
        http_server, [[Tile(http_server.url("/img/1.jpg")), Tile(http_server.url("/img/2.jpg"))]]
    )

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("crawler.crawl.stage_file", disk_full)
    monkeypatch.setattr("catalog.images.put_file", disk_full)
    report = crawl_class(
        cat, "Yeezy_350", CrawlOptions(search_url=http_server.url("/search")), fetcher
    )
    assert (
        report.stored == 0
        and report.stopped.startswith("disk full while writing")
        and report.disk_full
    )
    assert list(iter_images(cat)) == [] and fetch_rows(cat) == []


def test_a_bug_in_one_download_is_recorded_and_the_crawl_goes_on(
    http_server, fetcher, cat, monkeypatch
):
    serve_pages(
        http_server, [[Tile(http_server.url("/img/1.jpg")), Tile(http_server.url("/img/2.jpg"))]]
    )
    real = fetcher.get

    def buggy(url, **kwargs):
        if url.endswith("/img/2.jpg"):
            raise KeyError("oops")
        return real(url, **kwargs)

    monkeypatch.setattr(fetcher, "get", buggy)
    report = crawl_class(
        cat, "Yeezy_350", CrawlOptions(search_url=http_server.url("/search")), fetcher
    )
    assert report.stored == 1 and report.failures == {"crawler-error": 1}
    rows = {r["url"]: r["error"] for r in fetch_rows(cat)}
    assert rows[http_server.url("/img/2.jpg")] == "crawler-error: KeyError: 'oops'"


def test_a_page_source_feeds_the_crawl_and_keeps_hits_before_its_error(http_server, fetcher, cat):
    """The hook the google-browser engine plugs into: hits first, then a wall."""
    asked = []

    def rendered(query: str, wanted: int):
        asked.append((query, wanted))
        yield (
            "rendered page",
            [
                ImageHit(url=http_server.url(f"/img/{i}.jpg"), engine="google-browser", rank=i)
                for i in (1, 2)
            ],
        )
        raise BlockedError("google-browser", "a captcha")

    report = crawl_class(cat, "Yeezy_350", CrawlOptions(limit=5, pages_from=rendered), fetcher)
    assert asked == [("Yeezy 350 sneaker", 10)]
    assert (
        report.stored == 2 and report.engine == "google-browser" and "a captcha" in report.stopped
    )
    assert {i["engine"] for i in iter_images(cat)} == {"google-browser"}
