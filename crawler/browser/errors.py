"""Errors of the browser engine; all are CrawlerErrors, so `crawl` prints them and exits 1."""

from __future__ import annotations

from ..errors import BlockedError, CrawlerError
from ..hits import ImageHit

ENGINE = "google-browser"


class BrowserMissingError(CrawlerError):
    """Playwright or a Chromium to drive is not installed; the message says what to install."""


class BrowserLaunchError(CrawlerError):
    """Chromium was found but would not start."""


class BrowserBlockedError(BlockedError):
    """A captcha, /sorry/ page or consent form stopped the browser.

    `hits` are the results gathered before the wall (a later page can turn into a captcha),
    so a crawl can still store them and say how many it kept.
    """

    def __init__(self, why: str, hits: list[ImageHit] | None = None):
        self.engine, self.why, self.hits = ENGINE, why, list(hits or [])
        CrawlerError.__init__(
            self,
            f"{ENGINE} was stopped by {why} after {len(self.hits)} results. "
            "Google limits automated "
            "searches: wait an hour or more and run the same crawl again (URLs already tried are "
            "skipped), or use --engine bing or --engine duckduckgo",
        )
