"""`crawl --engine google-browser` end to end: the JavaScript-only page into the catalog
(issue 7)."""

from __future__ import annotations

import pytest
from browser_tests.jsresults import TOTAL, has_original
from browser_tests.processes import processes_naming
from typer.testing import CliRunner

from catalog import iter_images, open_catalog
from crawler.cli import app

pytestmark = [pytest.mark.browser, pytest.mark.slow]  # a Chromium per crawl

runner = CliRunner()


def crawl(site, catalog_path, *args: str):
    return runner.invoke(
        app,
        [
            "--class",
            "Air_Max_1",
            "--search-url",
            site.search_url(),
            "--allow-private",
            "127.0.0.1",
            "--delay",
            "0",
            "--catalog",
            str(catalog_path),
            *args,
        ],
    )


def stored(catalog_path) -> list[dict]:
    with open_catalog(catalog_path) as cat:
        return list(iter_images(cat, class_name="Air_Max_1"))


def test_browser_engine_stores_every_tile_of_the_javascript_page(
    site, chromium, catalog_path, own_tmp
):
    result = crawl(site, catalog_path, "--engine", "google-browser", "--browser", chromium)

    assert result.exit_code == 0, result.output
    assert (
        f"{TOTAL} hits parsed" in result.output
        and f"{TOTAL} stored (0 as thumbnails)" in result.output
    )
    rows = stored(catalog_path)
    assert sorted(row["source_url"] for row in rows) == sorted(site.originals())
    assert {row["engine"] for row in rows} == {"google-browser"}
    assert {row["page_url"] for row in rows} == {f"{site.base}/page/{i}.html" for i in range(TOTAL)}
    assert processes_naming(own_tmp) == []
    again = crawl(site, catalog_path, "--engine", "google-browser", "--browser", chromium)
    assert (
        again.exit_code == 0
        and f"({TOTAL} already tried)" in again.output
        and " 0 stored" in again.output
    )


def test_plain_google_engine_fails_loudly_on_the_javascript_page(site, catalog_path):
    result = crawl(site, catalog_path, "--engine", "google")

    assert result.exit_code == 1
    assert "google blocked the search" in result.output
    assert stored(catalog_path) == []


def test_plain_google_failure_suggests_the_browser_engine(site, catalog_path):
    result = crawl(site, catalog_path, "--engine", "google")

    assert "--engine google-browser" in result.output


def test_captcha_after_the_first_batch_keeps_its_images_and_says_how_to_continue(
    site, chromium, catalog_path
):
    result = crawl(
        site,
        catalog_path,
        "--engine",
        "google-browser",
        "--browser",
        chromium,
        "--query",
        "captcha-later",
    )

    assert result.exit_code == 1
    assert "10 stored" in result.output
    assert "stopped early: google-browser was stopped by a captcha page" in result.output
    assert "run the same crawl again" in result.output
    originals = {site.original(i) for i in range(10) if has_original(i)}
    assert {row["source_url"] for row in stored(catalog_path)} >= originals


def test_captcha_at_once_is_one_line_and_exit_1(site, chromium, catalog_path):
    result = crawl(
        site,
        catalog_path,
        "--engine",
        "google-browser",
        "--browser",
        chromium,
        "--query",
        "captcha",
    )

    assert result.exit_code == 1
    assert "google-browser was stopped by a captcha page" in result.output
    assert "Traceback" not in result.output
    assert stored(catalog_path) == []


def test_no_chromium_says_what_to_install(site, catalog_path, tmp_path, monkeypatch):
    pytest.importorskip(
        "playwright.sync_api", reason="Playwright is not installed: pip install 'imageset[browser]'"
    )
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("PLAYWRIGHT_BROWSERS_PATH", str(tmp_path / "none"))

    result = crawl(site, catalog_path, "--engine", "google-browser")

    assert result.exit_code == 1
    assert "no Chromium found for --engine google-browser" in result.output
    assert "apt-get install chromium" in result.output


def test_browser_path_that_does_not_exist_is_one_line(site, catalog_path):
    result = crawl(
        site, catalog_path, "--engine", "google-browser", "--browser", "/nowhere/chromium"
    )

    assert result.exit_code == 1
    assert "--browser /nowhere/chromium: no such executable file" in result.output
    assert "Traceback" not in result.output


def test_auto_goes_from_the_plain_google_wall_to_the_browser(site, chromium, catalog_path):
    """Issue 12: the default engine moves on from plain Google's wall to the rendered page."""
    result = runner.invoke(
        app,
        [
            "--class",
            "Air_Max_1",
            "--search-url",
            f"google={site.search_url()}",
            "--allow-private",
            "127.0.0.1",
            "--delay",
            "0",
            "--browser",
            chromium,
            "--catalog",
            str(catalog_path),
        ],
    )

    assert result.exit_code == 0, result.output
    assert "google: blocked (" in result.output and "engines used: google-browser" in result.output
    assert {row["engine"] for row in stored(catalog_path)} == {"google-browser"}
