"""Google Images through a real headless Chromium: the "google-browser" engine.

Plain HTTP clients get a JavaScript wall from Google since January 2025. Here a
browser renders the result page, and its hits are what the plain `google` engine's parser
finds in the rendered HTML (`merge`), with the originals the HTML lacks taken from the
data the page fetched, else from the tile's preview pane, clicked a bounded number of
times.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from contextlib import suppress
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ..engines.common import is_http_url
from ..errors import CrawlerError, EngineParseError
from ..hits import ImageHit
from . import page as pagelib
from .errors import ENGINE, BrowserBlockedError
from .guard import RequestGuard, check_search_url
from .launch import guard_proxy, open_browser
from .merge import Previews, merge
from .page import PlaywrightError
from .proxy import ERROR_HEADER, REFUSED_HEADER
from .scriptdata import ScriptData

DEFAULT_SEARCH_URL = "https://www.google.com/search"
MAX_ROUNDS = 50  # scroll / "more results" rounds: a page that keeps growing still ends
PREVIEW_TIMEOUT_MS = 5000  # an original shows within a second or two of the click, or never


def search_page_url(query: str, search_url: str | None = None) -> str:
    """The result page to open: `query` itself when it is a URL, else an image search for it.

    Args:
        query: search words, or the http(s) URL of a result page.
        search_url: the search endpoint (default Google's); `q`, `tbm=isch` and `udm=2` are added.
    """
    if is_http_url(query):
        return query
    parts = urlsplit(search_url or DEFAULT_SEARCH_URL)
    params = [(k, v) for k, v in parse_qsl(parts.query) if k not in ("q", "tbm", "udm")]
    params += [("q", query), ("tbm", "isch"), ("udm", "2")]  # udm=2: the images tab since 2024
    return urlunsplit(parts._replace(query=urlencode(params)))


def collect_hits(
    query: str,
    *,
    limit: int,
    search_url: str | None = None,
    browser_path: str | Path | None = None,
    max_preview_clicks: int = 20,
    timeout_s: float = 15.0,
    allow_private: bool | Collection[str] = False,
) -> list[ImageHit]:
    """Open the result page in headless Chromium and return up to `limit` hits.

    The browser is started for this call and is gone when it returns or raises (Ctrl-C
    included). Playwright's sync API is used, so call it outside any running asyncio loop.

    Args:
        query: search words, or a result page URL.
        limit: how many hits to gather (scrolling and pressing "more results" until then).
        search_url: the search endpoint instead of Google's (tests use a local server).
        browser_path: the Chromium to drive; default: one on PATH, else Playwright's.
        max_preview_clicks: at most this many tiles are clicked to read an original URL.
        timeout_s: the wait for one page action (a load, a click, new tiles).
        allow_private: as the fetcher's: the private hosts the page and everything it
            loads may reach (see `guard`); every other private address is refused.

    Returns:
        Hits in page order, `engine="google-browser"`, ranked from 1; a hit whose original
        could not be read carries only its thumbnail (`url=None`).

    Raises:
        BrowserBlockedError: a captcha, /sorry/ page or a consent form that cannot be
            accepted; its `hits` are those gathered before it.
        EngineParseError: the rendered page shows no tiles and holds no image data.
        BrowserMissingError: Playwright or Chromium is not installed.
        CrawlerError: the browser failed (a timeout, a crash).
    """
    if limit < 1:
        raise CrawlerError(f"limit must be at least 1. Received: limit={limit}")
    url = search_page_url(query, search_url)
    with open_browser(browser_path) as context:
        return collect_from_context(
            context,
            url,
            limit=limit,
            max_preview_clicks=max_preview_clicks,
            timeout_s=timeout_s,
            allow_private=allow_private,
        )


def collect_from_context(
    context,
    url: str,
    *,
    limit: int,
    max_preview_clicks: int = 20,
    timeout_s: float = 15.0,
    allow_private: bool | Collection[str] = False,
) -> list[ImageHit]:
    """`collect_hits` in an open browser context (one page, closed afterwards); every
    request the page makes goes through the address guard (`guard.RequestGuard`)."""
    timeout_ms = int(timeout_s * 1000)
    check_search_url(url, allow_private)
    proxy = guard_proxy(context)
    if proxy is not None:
        proxy.allow(allow_private)
    page = context.new_page()
    page.route("**/*", RequestGuard(allow_private))
    page.set_default_timeout(timeout_ms)
    data = ScriptData(page)
    html = [""]  # the rendered page's HTML as last read: what a wall leaves of it
    try:
        _open(page, url, timeout_ms)
        _load_tiles(page, limit, timeout_ms, data, html)
        previews = Previews(page, max_preview_clicks, min(timeout_ms, PREVIEW_TIMEOUT_MS))
        hits = merge(html[0], list(data.hits.values()), limit=limit, previews=previews)
    except BrowserBlockedError as exc:
        # The page is gone; keep what was seen before it (no previews: nothing to click).
        partial = merge(
            html[0], list(data.hits.values()), limit=limit, previews=Previews(None, 0, 0)
        )
        raise BrowserBlockedError(exc.why, partial) from None
    except PlaywrightError as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        network = re.search(r"net::(ERR_[A-Z_]+)", first)
        if network:
            code = network.group(1).lower()
            if code == "err_tunnel_connection_failed" and proxy is not None:
                code = _proxy_failure(proxy, url) or code  # what the proxy could not reach
            raise _network_error(url, code) from None
        raise CrawlerError(f"{ENGINE}: the browser failed on {url}: {first}") from None
    finally:
        with suppress(Exception):
            page.close()
        if proxy is not None:
            proxy.allow(False)
    if not hits:
        raise EngineParseError(
            f"{ENGINE}: the rendered page {url} shows no image tiles "
            "and its script data holds no image URLs"
        )
    return hits


def _network_error(url: str, code: str) -> CrawlerError:
    """A failed page load worded as the plain engines word a failed request."""
    if code.startswith("err_"):
        return CrawlerError(
            f"{ENGINE}: cannot open {url}: {code}. Check the network, "
            "or crawl a result page saved from a browser with --page saved.html"
        )
    return CrawlerError(
        f"{ENGINE}: cannot open {url}: it leads to a refused address ({code}); "
        "for a local test server give --allow-private HOST"
    )


def _proxy_failure(proxy, url: str) -> str | None:
    """Why the guard's proxy did not reach the host of `url` (or, after a redirect, the
    last host it did not reach)."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    failures = dict(proxy.failures)
    return failures.get(f"{parts.hostname}:{port}") or next(reversed(failures.values()), None)


def _check_guard_answer(response, url: str) -> None:
    """Raise when the result page's answer is the guard proxy's: refused or unreachable."""
    headers = response.headers if response is not None else {}
    error, refused = headers.get(ERROR_HEADER.lower()), headers.get(REFUSED_HEADER.lower())
    if error or refused:
        raise _network_error(url, str(error or refused))


def _open(page, url: str, timeout_ms: int) -> None:
    _check_guard_answer(page.goto(url, wait_until="load", timeout=timeout_ms), url)
    pagelib.check_captcha(page)
    pagelib.handle_consent(page, timeout_ms)
    pagelib.check_captcha(page)
    pagelib.wait_for_tiles(page, 0, timeout_ms)
    pagelib.check_captcha(page)


def _load_tiles(page, limit: int, timeout_ms: int, data: ScriptData, html: list[str]) -> None:
    """Scroll and press "more results" until `limit` tiles show, the results end or a wall.

    `html[0]` is the page's HTML, read again after every round, so the caller still has
    it if a wall ends it.
    """
    for _ in range(MAX_ROUNDS):
        html[0] = page.content()
        data.absorb()
        if pagelib.tile_count(page) >= limit:
            break
        try:
            grew = pagelib.load_more(page, timeout_ms)
        except PlaywrightError:
            # A navigation (to a captcha, say) destroyed the page under the action.
            page.wait_for_load_state("domcontentloaded", timeout=timeout_ms)
            pagelib.check_captcha(page)
            raise
        pagelib.check_captcha(page)
        if not grew:
            break
    html[0] = page.content()
    data.absorb()
