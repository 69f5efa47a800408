"""Every request a rendered page makes goes through the crawler's address guard.

Chromium loads what a result page references: images, scripts, frames, and wherever a
redirect points. A hostile page could make it request addresses inside the user's network
(a router's admin page, a cloud metadata service). So the browser engine refuses what the
plain fetcher refuses, twice:

- here, each request the page makes (the page itself, its images, scripts, frames,
  navigations) is checked with `netguard.check_url` before it leaves the browser;
- the hops of an HTTP redirect, which Playwright does not route, are checked by the proxy
  Chromium sends everything through (`proxy.GuardProxy`, started with the browser in
  `launch`): each hop is a new request or CONNECT tunnel to it, and it connects only to an
  address it has checked. Loopback is proxied too (`--proxy-bypass-list=<-loopback>`).
"""

from __future__ import annotations

from collections.abc import Collection

from ..errors import CrawlerError
from ..netguard import CachingResolver, Refused, allowed_addresses, check_url
from .errors import ENGINE

# Schemes that never leave the browser: nothing to guard.
LOCAL_SCHEMES = ("data:", "blob:", "about:", "chrome:", "chrome-extension:")


class RequestGuard:
    """A Playwright route handler; `refused` lists the URLs it turned down."""

    def __init__(self, allow_private: bool | Collection[str] = False) -> None:
        if allow_private is not True and allow_private:
            allow_private = allowed_addresses(allow_private)
        self.allow_private = allow_private
        self.refused: list[str] = []
        self._resolver = CachingResolver()  # a page names the same few hosts many times

    def check(self, url: str) -> bool:
        """Whether `url` may be requested; a host that does not resolve may (the browser
        then fails on it as it would, and reports it)."""
        try:
            check_url(url, self.allow_private, self._resolver)
        except Refused as exc:
            if exc.reason == "dns":
                return True
            self.refused.append(url)
            return False
        return True

    def __call__(self, route) -> None:  # a Playwright Route
        url = route.request.url
        if url.startswith(LOCAL_SCHEMES):
            route.continue_()
            return
        if not self.check(url):
            route.abort("blockedbyclient")
            return
        route.continue_()


def check_search_url(url: str, allow_private: bool | Collection[str]) -> None:
    """The result page itself, before the browser starts: refused as the plain engine does."""
    try:
        check_url(url, RequestGuard(allow_private).allow_private)
    except Refused as exc:
        if exc.reason == "dns":
            return  # no network, say: the browser's own error is reported
        hint = (
            "; for a local test server give --allow-private HOST"
            if exc.reason == "private-address"
            else ""
        )
        raise CrawlerError(f"{ENGINE}: cannot open {url}: {exc.detail}{hint}") from None
