"""The crawler stores files under the store's writer lock, so `check --fix` cannot race it
(issue 13)."""

from __future__ import annotations

import threading
import time

from crawler_tests.crawlserver import Tile, google_page

from catalog import iter_images, open_catalog
from catalog.storelock import exclusive
from crawler.crawl import CrawlOptions, crawl_class


def test_a_crawl_stores_nothing_while_check_fix_holds_the_store(http_server, fetcher, cat):
    """Issue 13, item 2: a crawl's files landed while `check --fix` listed the store, and were
    deleted."""
    tiles = [Tile(http_server.url(f"/img/{i}.jpg")) for i in range(1, 4)]
    http_server.routes["/search"] = lambda h, q: h.reply(
        200,
        google_page(tiles)
        if q.get("ijn", "0") == "0"
        else b"<html><body>" + b" " * 4000 + b"</body></html>",
        "text/html; charset=utf-8",
    )
    reports = []

    def run_crawl():
        with open_catalog(cat.path) as own:  # a connection belongs to its thread
            reports.append(
                crawl_class(
                    own, "Yeezy_350", CrawlOptions(search_url=http_server.url("/search")), fetcher
                )
            )

    with exclusive(cat.store_dir):
        crawl = threading.Thread(target=run_crawl)
        crawl.start()
        time.sleep(1.5)
        assert crawl.is_alive(), "the crawl finished without waiting for the store's writer lock"
        stored = [
            p for p in cat.store_dir.rglob("*") if p.is_file() and not p.name.startswith(".tmp-")
        ]
        assert (
            stored == []
        )  # only staged temporary files, which a sweep leaves to their live writer
    crawl.join(30)
    assert reports and reports[0].stored == 3 and len(list(iter_images(cat))) == 3


def test_files_of_a_batch_that_never_committed_are_still_this_catalogs(
    http_server, fetcher, cat, monkeypatch
):
    """Issue 13, item 1: a crash after the files are in place but before the batch commits
    must leave files `check --fix` can prove are this catalog's orphans, not unowned ones."""
    import pytest

    from catalog.integrity import check_catalog

    tiles = [Tile(http_server.url(f"/img/{i}.jpg")) for i in range(1, 3)]
    http_server.routes["/search"] = lambda h, q: h.reply(
        200,
        google_page(tiles)
        if q.get("ijn", "0") == "0"
        else b"<html><body>" + b" " * 4000 + b"</body></html>",
        "text/html; charset=utf-8",
    )

    def crash(*args, **kwargs):
        raise RuntimeError("killed before the commit")

    monkeypatch.setattr("crawler.crawl.record_fetches", crash)
    with pytest.raises(RuntimeError):
        crawl_class(cat, "Yeezy_350", CrawlOptions(search_url=http_server.url("/search")), fetcher)

    def stored():  # staged temporary files of this (live) process are not store files yet
        return [
            p for p in cat.store_dir.rglob("*") if p.is_file() and not p.name.startswith(".tmp-")
        ]

    assert stored() and list(iter_images(cat)) == []
    fixed = check_catalog(cat, fix=True)
    assert fixed.ok and {p.fixed for p in fixed.problems} == {"removed"}
    assert stored() == []
