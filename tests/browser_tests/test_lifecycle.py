"""The browser never outlives a crawl, and a missing browser says what to install (issue 7)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from browser_tests.processes import processes_naming

from crawler.browser import (
    BrowserBlockedError,
    BrowserMissingError,
    collect_hits,
    find_browser,
    open_browser,
    result_pages,
)
from crawler.errors import BlockedError

pytestmark = [pytest.mark.browser, pytest.mark.slow]  # Chromium processes started and killed

ROOT = Path(__file__).resolve().parents[2]


def wait_until_gone(marker: Path, seconds: float = 10) -> list[str]:
    deadline = time.monotonic() + seconds
    while (left := processes_naming(marker)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def test_browser_runs_during_the_crawl_and_is_gone_after_it(own_tmp, chromium, site):
    with open_browser(chromium):
        assert any("--user-data-dir" in cmd for cmd in processes_naming(own_tmp))
    assert processes_naming(own_tmp) == []


def test_no_browser_left_after_a_normal_crawl(own_tmp, chromium, site):
    hits = collect_hits(
        "sneakers",
        limit=5,
        search_url=site.search_url(),
        browser_path=chromium,
        allow_private={"127.0.0.1"},
    )

    assert [h.url for h in hits] == site.originals()[:5]
    assert processes_naming(own_tmp) == []


def test_no_browser_left_after_a_captcha(own_tmp, chromium, site):
    with pytest.raises(BlockedError):
        collect_hits(
            "captcha",
            limit=5,
            search_url=site.search_url(),
            browser_path=chromium,
            allow_private={"127.0.0.1"},
        )
    assert processes_naming(own_tmp) == []


def test_result_pages_hands_over_the_hits_before_a_captcha_then_raises(own_tmp, chromium, site):
    pages = result_pages(
        "captcha-later",
        limit=100,
        search_url=site.search_url(),
        browser_path=chromium,
        allow_private={"127.0.0.1"},
    )

    description, hits = next(pages)
    assert "cut short by a captcha" in description and len(hits) == 10
    with pytest.raises(BrowserBlockedError):
        next(pages)
    assert processes_naming(own_tmp) == []


@pytest.mark.parametrize("whole_group", [True, False], ids=["terminal-ctrl-c", "sigint-to-python"])
def test_no_browser_left_after_ctrl_c(tmp_path, chromium, site, whole_group):
    """Ctrl-C in a terminal reaches Python and Playwright's driver at once; both must end
    Chromium."""
    # Python maps SIGINT to KeyboardInterrupt only if its parent did not ignore SIGINT, and a
    # non-interactive shell's background job (`bash .ci/run &`) does ignore it: the child
    # restores the handler a terminal's Python has.
    script = (
        "import signal\n"
        "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
        "from crawler.browser import collect_hits\n"
        f"collect_hits('hang', limit=5, search_url={site.search_url()!r}, "
        f"allow_private={{'127.0.0.1'}}, browser_path={chromium!r})\n"
    )
    site.requests.clear()
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not any("q=hang" in p for p in site.requests if p.startswith("/async/")):
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[0]
            time.sleep(0.05)
        assert processes_naming(tmp_path), "the browser should be running now"
        if whole_group:
            os.killpg(proc.pid, signal.SIGINT)
        else:
            proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "KeyboardInterrupt" in output, output
    assert wait_until_gone(tmp_path) == []


def test_missing_browser_path_is_one_line():
    with pytest.raises(
        BrowserMissingError, match=r"^--browser /nowhere/chromium: no such executable file$"
    ):
        find_browser("/nowhere/chromium")


def test_no_chromium_anywhere_says_what_to_install(tmp_path, monkeypatch):
    pytest.importorskip(
        "playwright.sync_api", reason="Playwright is not installed: pip install 'imageset[browser]'"
    )
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("PLAYWRIGHT_BROWSERS_PATH", str(tmp_path / "none"))
    with pytest.raises(BrowserMissingError) as caught:
        collect_hits("sneakers", limit=1)
    message = str(caught.value)
    assert "\n" not in message
    assert "apt-get install chromium" in message and "playwright install chromium" in message


def test_without_playwright_says_to_install_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "playwright.sync_api", None)  # makes its import fail
    with pytest.raises(BrowserMissingError, match=r"pip install 'imageset\[browser\]'") as caught:
        collect_hits("sneakers", limit=1)
    assert "\n" not in str(caught.value)
