"""Fixtures for the browser engine: the JavaScript-only local site and a Chromium to drive."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser_tests.jsresults import SiteServer


@pytest.fixture(scope="module")
def site():
    """The local JavaScript-built result site on 127.0.0.1 (one server per test module)."""
    with SiteServer() as running:
        yield running


@pytest.fixture(scope="module")
def chromium() -> str:
    """The Chromium the engine will drive; skips, saying what to install, when there is none."""
    pytest.importorskip(
        "playwright.sync_api", reason="Playwright is not installed: pip install 'imageset[browser]'"
    )
    from crawler.browser import find_browser

    found = find_browser()
    if found:
        return found
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        bundled = playwright.chromium.executable_path
    if not Path(bundled).is_file():
        pytest.skip("no Chromium: apt-get install chromium (or playwright install chromium)")
    return bundled


@pytest.fixture(scope="module")
def browser(chromium: str):
    """One headless Chromium context for a whole test module (launching costs about a second)."""
    from crawler.browser import open_browser

    with open_browser(chromium) as context:
        yield context


@pytest.fixture
def own_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Make the browser's profile folder land under tmp_path, so a test can find its processes.

    Other people's test runs on the same machine start Chromiums too; only processes whose
    command line names this test's own folder are this test's.
    """
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    yield tmp_path
