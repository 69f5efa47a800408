"""The `crawl` command: one CliRunner test per use, a subprocess --help, and a kill -9 mid-crawl."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
import zlib

import pytest
from crawler_tests.crawlserver import FIXTURES, Tile, google_page, offline_dns
from typer.testing import CliRunner

from catalog import iter_images, open_catalog
from catalog.fetches import fetch_rows
from crawler import fetch
from crawler.cli import app
from crawler.crawl import CrawlOptions
from crawler.errors import CrawlerError
from crawler.search import SearchSettings

runner = CliRunner()
CRAWL = [sys.executable, "-c", "from crawler.cli import app; app()"]


@pytest.fixture(autouse=True)
def no_dns(monkeypatch):
    """The CLI builds its own fetcher: make sure it resolves no host name either."""
    monkeypatch.setattr(fetch, "resolve", offline_dns)


def test_help_in_a_subprocess():
    result = subprocess.run([*CRAWL, "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    for option in (
        "--class",
        "--all",
        "--limit",
        "--engine",
        "--query",
        "--search-url",
        "--page",
        "--filter",
    ):
        assert option in result.stdout
    assert "Example: crawl --class Yeezy_350" in result.stdout


def test_saved_page(catalog_path):
    page = FIXTURES / "google" / "rg_meta.html"
    args = ["--class", "Yeezy_350", "--page", str(page), "--catalog", str(catalog_path)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "3 hits parsed" in result.output and "3 stored (3 as thumbnails)" in result.output
    assert "format rg_meta: 3 hits [rg_meta 3]" in result.output
    assert "originals failed, thumbnail kept: dns 3" in result.output
    again = runner.invoke(app, args)
    assert again.exit_code == 0 and "3 already tried" in again.output and "0 stored" in again.output


def test_search_against_a_local_server(http_server, catalog_path):
    http_server.routes["/search"] = lambda h, q: h.reply(
        200,
        google_page(
            [Tile(http_server.url(f"/img/{i}.jpg")) for i in range(3)]
            + [Tile(http_server.url("/404.jpg"))]
        )
        if q["ijn"] == "0"
        else b"<html>" + b" " * 3000 + b"</html>",
        "text/html",
    )
    result = runner.invoke(
        app,
        [
            "--class",
            "Air_Max_1",
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
    assert result.exit_code == 0, result.output
    assert (
        "4 tried, 3 fetched, 3 stored" in result.output and "failures: http-404 1" in result.output
    )
    with open_catalog(catalog_path) as cat:
        assert len(list(iter_images(cat, class_name="Air_Max_1"))) == 3


def test_all_classes(http_server, catalog_path):
    http_server.routes["/search"] = lambda h, q: h.reply(
        200,
        google_page([Tile(http_server.url(f"/img/{zlib.crc32(q['q'].encode()) % 1000}.jpg"))])
        if q["ijn"] == "0"
        else b"<html>" + b" " * 3000 + b"</html>",
        "text/html",
    )
    result = runner.invoke(
        app,
        [
            "--all",
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
    assert result.exit_code == 0, result.output
    with open_catalog(catalog_path) as cat:
        assert {row["class"] for row in fetch_rows(cat)} == {
            "Adidas_NMD_R1",
            "Adidas_Ultra_Boost_4",
            "Air_Force_1",
            "Air_Jordan_1",
            "Air_Jordan_4",
            "Air_Max_1",
            "Air_Max_90",
            "Air_Max_95",
            "Yeezy_350",
            "Yeezy_500",
        }


@pytest.mark.parametrize(
    "args, message",
    [
        (["--class", "Nope"], "unknown class 'Nope'"),
        ([], "give exactly one of --class NAME or --all"),
        (["--all", "--query", "shoes"], "--page and --query go with one --class, not with --all"),
        (
            ["--class", "Yeezy_350", "--engine", "altavista"],
            "unknown engine 'altavista'; choose one of: "
            "auto, google, google-browser, bing, duckduckgo",
        ),
        (["--class", "Yeezy_350", "--filter", "size=huge"], "choose one of: large, medium, icon"),
        (
            ["--class", "Yeezy_350", "--page", str(FIXTURES / "google" / "sorry.html")],
            "is not a result page but",
        ),
    ],
)
def test_errors_are_one_clear_line(catalog_path, args, message):
    result = runner.invoke(app, [*args, "--catalog", str(catalog_path)])
    assert result.exit_code == 1
    assert message in " ".join(result.output.split()) and "Traceback" not in result.output


def test_blocked_search_suggests_other_engines(http_server, catalog_path):
    http_server.routes["/search"] = lambda h, q: h.reply(
        200, (FIXTURES / "google" / "jswall.html").read_bytes(), "text/html"
    )
    result = runner.invoke(
        app,
        [
            "--class",
            "Yeezy_350",
            "--search-url",
            http_server.url("/search"),
            "--allow-private",
            "127.0.0.1",
            "--catalog",
            str(catalog_path),
        ],
    )
    assert result.exit_code == 1
    text = " ".join(result.output.split())
    assert (
        "google blocked the search (a JavaScript-required page)" in text
        and "--engine" in text
        and "--page" in text
    )


@pytest.mark.slow  # a real page from ../shared
def test_real_saved_page_offline(shared_dir, tmp_path):
    """`crawl --class Yeezy_350 --page ../shared/fixtures/google-2019/Yeezy_350.html` with no
    network."""
    db = tmp_path / "c.db"
    args = [
        "--class",
        "Yeezy_350",
        "--page",
        str(shared_dir / "fixtures/google-2019/Yeezy_350.html"),
        "--catalog",
        str(db),
    ]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    with open_catalog(db) as cat:
        images = list(iter_images(cat))
        assert len(images) >= 20 and len({i["sha256"] for i in images}) == len(images)
        assert all(
            i["origin"] == "thumbnail" and i["source_url"] and i["page_url"] and i["title"]
            for i in images
        )
    second = runner.invoke(app, args)
    assert second.exit_code == 0 and "0 stored" in second.output
    with open_catalog(db) as cat:
        assert len(list(iter_images(cat))) == len(images)


def test_kill_9_mid_crawl_then_rerun_loses_and_duplicates_nothing(http_server, tmp_path):
    n = 40
    http_server.latency = 0.05
    http_server.routes["/search"] = lambda h, q: h.reply(
        200,
        google_page([Tile(http_server.url(f"/img/{i}.jpg")) for i in range(n)])
        if q["ijn"] == "0"
        else b"<html>" + b" " * 3000 + b"</html>",
        "text/html",
    )
    db = tmp_path / "c.db"
    cmd = [
        *CRAWL,
        "--class",
        "Yeezy_350",
        "--search-url",
        http_server.url("/search"),
        "--allow-private",
        "127.0.0.1",
        "--workers",
        "2",
        "--delay",
        "0",
        "--catalog",
        str(db),
    ]
    open_catalog(db).close()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with open_catalog(db) as cat:
                if len(list(iter_images(cat))) >= 8:
                    break
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=10)
    with open_catalog(db) as cat:
        killed_at = len(list(iter_images(cat)))
    assert 8 <= killed_at < n

    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert rerun.returncode == 0, rerun.stderr
    with open_catalog(db) as cat:
        images = list(iter_images(cat))
        rows = fetch_rows(cat, "Yeezy_350")
    assert len(images) == n and len({i["sha256"] for i in images}) == n
    assert len(rows) == n and {r["status"] for r in rows} == {"stored"}
    assert {r["sha256"] for r in rows} == {i["sha256"] for i in images}
    # Only URLs in flight at the kill were downloaded twice.
    assert sum(http_server.hits[f"/img/{i}.jpg"] for i in range(n)) <= n + 4
    files = [
        p
        for p in (tmp_path / "images").rglob("*")
        if p.is_file() and not p.name.startswith(".tmp-")
    ]
    assert sorted(str(p.relative_to(tmp_path)) for p in files) == sorted(i["path"] for i in images)
    for image in images:
        assert (
            hashlib.sha256((tmp_path / image["path"]).read_bytes()).hexdigest() == image["sha256"]
        )


def test_no_network_search_fails_fast_with_a_hint(catalog_path):
    started = time.monotonic()
    result = runner.invoke(app, ["--class", "Yeezy_350", "--catalog", str(catalog_path)])
    assert result.exit_code == 1 and time.monotonic() - started < 5
    text = " ".join(result.output.split())
    assert "cannot fetch https://www.google.com/search?q=Yeezy+350+sneaker" in text
    assert "dns" in text and "--page saved.html" in text


def test_several_saved_pages(catalog_path):
    """The two pages share one thumbnail (the same bytes): it is stored once."""
    pages = [FIXTURES / "google" / "rg_meta.html", FIXTURES / "google" / "data_lpage.html"]
    result = runner.invoke(
        app,
        [
            "--class",
            "Yeezy_350",
            "--page",
            str(pages[0]),
            "--page",
            str(pages[1]),
            "--catalog",
            str(catalog_path),
        ],
    )
    assert result.exit_code == 0, result.output
    assert (
        "5 hits parsed" in result.output
        and "4 stored (4 as thumbnails), 1 already in the catalog" in result.output
    )
    assert (
        "format rg_meta: 3 hits" in result.output and "format data_lpage: 2 hits" in result.output
    )
    with open_catalog(catalog_path) as cat:
        assert len(list(iter_images(cat, class_name="Yeezy_350"))) == 4
        assert [r["status"] for r in fetch_rows(cat)].count("duplicate") == 1


def test_google_browser_engine_is_wired_to_the_browser_package(
    http_server, catalog_path, monkeypatch
):
    import crawler.browser

    calls = []

    def fake_result_pages(query, *, limit, search_url=None, browser_path=None, allow_private=False):
        calls.append((query, limit, search_url, browser_path, allow_private))
        yield (
            "rendered",
            [crawler.hits.ImageHit(url=http_server.url("/img/3.jpg"), engine="google-browser")],
        )

    monkeypatch.setattr(crawler.browser, "result_pages", fake_result_pages)
    result = runner.invoke(
        app,
        [
            "--class",
            "Yeezy_500",
            "--engine",
            "google-browser",
            "--limit",
            "3",
            "--allow-private",
            "127.0.0.1",
            "--catalog",
            str(catalog_path),
        ],
    )
    assert result.exit_code == 0, result.output
    # The fetcher's allow list reaches the browser engine (issue 26): the same guard.
    assert calls == [("Yeezy 500 sneaker", 6, None, None, frozenset({"127.0.0.1"}))]
    assert "1 stored" in result.output


def test_error_hint_keeps_its_brackets(http_server, catalog_path):
    """Issue 13: the hint `pip install 'imageset[browser]'` lost `[browser]` in the error line."""
    http_server.routes["/search"] = lambda h, q: h.reply(
        200, (FIXTURES / "google" / "consent.html").read_bytes(), "text/html"
    )
    result = runner.invoke(
        app,
        [
            "--class",
            "Yeezy_350",
            "--engine",
            "google",
            "--search-url",
            http_server.url("/search"),
            "--allow-private",
            "127.0.0.1",
            "--catalog",
            str(catalog_path),
        ],
    )
    assert result.exit_code == 1, result.output
    assert "imageset[browser]" in result.output


def test_an_error_is_the_first_line_not_after_an_empty_one(tmp_path):
    """Issue 26: every error began with an empty line (the progress bar's, off a terminal)."""
    page = tmp_path / "page.html"
    page.write_text("<html><body><p>nothing here</p></body></html>")
    args = ["--class", "Yeezy_350", "--page", str(page), "--catalog", str(tmp_path / "c.db")]
    done = subprocess.run([*CRAWL, *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert done.stderr.startswith("error: "), repr(done.stderr[:80])


def _duckduckgo_web_page(results: int) -> str:
    """DuckDuckGo's HTML web results in the element shape of html.duckduckgo.com/html/
    (`div.result.results_links.web-result > div.result__body > h2.result__title >
    a.result__a`, then `a.result__snippet`), as public scrapers of that endpoint read it."""
    rows = "".join(
        f'<div class="result results_links results_links_deep web-result">'
        f'<div class="links_main links_deep result__body"><h2 class="result__title">'
        f'<a rel="nofollow" class="result__a" href="https://shop{i}.example.com/yeezy">'
        f"Yeezy 350 at shop {i}</a></h2>"
        f'<a class="result__snippet" href="https://shop{i}.example.com/yeezy">'
        f"The Yeezy Boost 350 V2 in every colourway. " * 4 + "</a></div></div>"
        for i in range(results)
    )
    return (
        "<!DOCTYPE html><html><head><title>yeezy 350 at DuckDuckGo</title></head><body>"
        f'<div id="links" class="results">{rows}</div></body></html>'
    )


def test_a_web_results_page_is_named_for_what_it_is(tmp_path):
    """Issue 26: a DuckDuckGo web results page was reported as Google's page with no image
    results in any known format."""
    page = tmp_path / "ddg.html"
    page.write_text(_duckduckgo_web_page(20))
    args = ["--class", "Yeezy_350", "--page", str(page), "--catalog", str(tmp_path / "c.db")]
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    out = result.output.replace("\n", " ")
    assert "is a DuckDuckGo web results page, which lists pages, not images" in out, out
    assert "google:" not in out


def test_options_default_to_the_librarys_defaults(catalog_path, monkeypatch):
    """The CLI restated the fetcher's defaults and disagreed: --timeout 10 gave (10, 10)
    where the fetcher's own default was (5, 15). Its defaults are the library's."""
    import inspect

    from crawler import cli

    made: list[dict] = []
    crawled: list[CrawlOptions] = []

    class RecordingFetcher(fetch.Fetcher):
        def __init__(self, session, **kw):
            made.append(kw)
            super().__init__(session, **kw)

    def record_crawl(cat, name, options, fetcher, progress):
        crawled.append(options)
        raise CrawlerError("stop here")

    monkeypatch.setattr(cli, "Fetcher", RecordingFetcher)
    monkeypatch.setattr(cli, "crawl_class", record_crawl)
    result = runner.invoke(app, ["--class", "Yeezy_350", "--catalog", str(catalog_path)])
    assert result.exit_code == 1 and "stop here" in result.output
    library = inspect.signature(fetch.Fetcher).parameters
    (kw,) = made
    for name in ("max_workers", "per_host", "per_host_delay", "timeout"):
        assert kw[name] == library[name].default, name
    assert kw["timeout"] == (fetch.DEFAULT_CONNECT_TIMEOUT, fetch.DEFAULT_READ_TIMEOUT)
    (options,) = crawled
    assert options.max_pages == CrawlOptions().max_pages == SearchSettings().max_pages
    assert options.min_side == CrawlOptions().min_side


def test_timeouts_are_set_one_by_one(catalog_path, monkeypatch):
    from crawler import cli

    made: list[dict] = []
    monkeypatch.setattr(
        cli, "Fetcher", lambda session, **kw: made.append(kw) or fetch.Fetcher(session, **kw)
    )
    page = FIXTURES / "google" / "rg_meta.html"
    args = ["--class", "Yeezy_350", "--page", str(page), "--catalog", str(catalog_path)]
    assert runner.invoke(app, [*args, "--timeout", "30"]).exit_code == 0
    assert runner.invoke(app, [*args, "--connect-timeout", "2"]).exit_code == 0
    assert [kw["timeout"] for kw in made] == [
        (fetch.DEFAULT_CONNECT_TIMEOUT, 30.0),
        (2.0, fetch.DEFAULT_READ_TIMEOUT),
    ]
