"""Google Images through a real headless Chromium: the "google-browser" engine.

Plain HTTP clients get a JavaScript wall from Google since January 2025. Here a
browser renders the result page, and the hits come from two places: the script data the
page carries or fetches (parsed by the same format parsers as the plain `google` engine),
and, for tiles that data does not explain, the tile's preview pane, clicked a bounded
number of times.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from contextlib import suppress
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ..engines.common import decode_data_uri, is_http_url
from ..engines.images import clean_hit
from ..errors import CrawlerError, EngineParseError
from ..hits import ImageHit
from . import page as pagelib
from .errors import ENGINE, BrowserBlockedError
from .guard import RequestGuard, check_search_url
from .launch import open_browser
from .page import PlaywrightError, Tile
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
    page = context.new_page()
    page.route("**/*", RequestGuard(allow_private))
    page.set_default_timeout(timeout_ms)
    data = ScriptData(page)
    tiles: list[Tile] = []
    try:
        _open(page, url, timeout_ms)
        data.absorb(document=True)
        _load_tiles(page, limit, timeout_ms, data, tiles)
        data.absorb(document=True)
        hits = _merge(
            page,
            tiles,
            list(data.hits.values()),
            limit=limit,
            max_clicks=max_preview_clicks,
            timeout_ms=timeout_ms,
        )
    except BrowserBlockedError as exc:
        # The page is gone; keep what was seen before it (no previews: nothing to click).
        partial = _merge(
            None, tiles, list(data.hits.values()), limit=limit, max_clicks=0, timeout_ms=0
        )
        raise BrowserBlockedError(exc.why, partial) from None
    except PlaywrightError as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        network = re.search(r"net::(ERR_[A-Z_]+)", first)
        if network:  # worded as the plain engines word a failed request
            raise CrawlerError(
                f"{ENGINE}: cannot open {url}: {network.group(1).lower()}. Check the network, "
                "or crawl a result page saved from a browser with --page saved.html"
            ) from None
        raise CrawlerError(f"{ENGINE}: the browser failed on {url}: {first}") from None
    finally:
        with suppress(Exception):
            page.close()
    if not hits:
        raise EngineParseError(
            f"{ENGINE}: the rendered page {url} shows no image tiles "
            "and its script data holds no image URLs"
        )
    return hits


def _open(page, url: str, timeout_ms: int) -> None:
    page.goto(url, wait_until="load", timeout=timeout_ms)
    pagelib.check_captcha(page)
    pagelib.handle_consent(page, timeout_ms)
    pagelib.check_captcha(page)
    pagelib.wait_for_tiles(page, 0, timeout_ms)
    pagelib.check_captcha(page)


def _load_tiles(page, limit: int, timeout_ms: int, data: ScriptData, tiles: list[Tile]) -> None:
    """Scroll and press "more results" until `limit` tiles show, the results end or a wall.

    `tiles` is refilled after every round, so the caller still has them if a wall ends it.
    """
    for _ in range(MAX_ROUNDS):
        tiles[:] = pagelib.read_tiles(page)
        data.absorb()
        if len(tiles) >= limit:
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
    tiles[:] = pagelib.read_tiles(page)


def _tile_hit(tile: Tile) -> ImageHit:
    hit = ImageHit(
        url=tile.original,
        thumbnail_url=tile.remote,
        thumbnail_data=decode_data_uri(tile.thumb),
        page_url=tile.page,
        title=tile.title,
    )
    # Google's own thumbnails and pages are never an original or a landing page.
    return clean_hit(hit) or hit


class _Previews:
    """Opens tile previews, at most `max_clicks`, and gives up after a few in a row show nothing.

    A preview pane this code does not recognise (a redesign) would otherwise cost a full
    timeout per click.
    """

    GIVE_UP_AFTER = 3

    def __init__(self, page, max_clicks: int, timeout_ms: int) -> None:
        self.page, self.left, self.timeout_ms = (
            page,
            max_clicks if page is not None else 0,
            timeout_ms,
        )
        self.failed_in_a_row = 0

    def original(self, index: int, tile: Tile) -> str | None:
        if self.left <= 0 or self.failed_in_a_row >= self.GIVE_UP_AFTER:
            return None
        self.left -= 1
        url = pagelib.preview_original(self.page, index, tile, self.timeout_ms)
        self.failed_in_a_row = 0 if url else self.failed_in_a_row + 1
        return url


def _merge(
    page,
    tiles: list[Tile],
    script_hits: list[ImageHit],
    *,
    limit: int,
    max_clicks: int,
    timeout_ms: int,
) -> list[ImageHit]:
    """Hits in tile order: a tile's script data, else its own link, else its preview, else its
    thumbnail."""
    index: dict[str, ImageHit] = {}
    for hit in script_hits:
        for key in (hit.url, hit.page_url, hit.thumbnail_url):
            if key:
                index.setdefault(key, hit)
    previews = _Previews(page, max_clicks, min(timeout_ms, PREVIEW_TIMEOUT_MS))
    hits: dict[str, ImageHit] = {}
    for number, tile in enumerate(tiles):
        if len(hits) >= limit:
            break
        found = next(
            (index[k] for k in (tile.original, tile.page, tile.remote, tile.thumb) if k in index),
            None,
        )
        hit = found if found is not None and found.key not in hits else _tile_hit(tile)
        if hit is not found:
            hit.url = hit.url or previews.original(number, tile)
        hits.setdefault(hit.key, hit)
    for hit in script_hits:  # data for results the grid did not render (yet)
        if len(hits) >= limit:
            break
        hits.setdefault(hit.key, hit)
    ranked = list(hits.values())[:limit]
    for rank, hit in enumerate(ranked, 1):
        hit.rank, hit.engine = rank, ENGINE
    return ranked
