"""What the browser does on a result page: walls, consent, loading more tiles, previews.

Selectors are lists, tried in order, because Google renames its classes often; the generic
ones (`[data-lpage]`, role=button names) come first and outlive most redesigns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

from ..engines.common import first_param, is_http_url, split_url
from .errors import BrowserBlockedError

if TYPE_CHECKING:
    from playwright.sync_api import Page

try:
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
except ImportError:  # the [browser] extra is optional: open_browser says what to install

    class PlaywrightError(Exception):  # type: ignore[no-redef]
        """Stands in for Playwright's error so this module imports without the extra."""

    class PlaywrightTimeout(PlaywrightError):  # type: ignore[no-redef]
        """Stands in for Playwright's timeout."""


TILE_SELECTORS = ["[data-lpage]", "div.isv-r", "div[data-ri]", "div.eA0Zlc"]
PREVIEW_IMAGE_SELECTORS = [
    "#preview img",
    "img.sFlh5c",
    "img.n3VNCb",
    "img.r48jcc",
    "img.iPVvYb",
    "[role=dialog] img",
    "#islsp img",
]
MORE_BUTTON_CSS = "input.mye4qd, input[value='Show more results']"
MORE_BUTTON_NAME = re.compile(r"^\s*(show )?more results\s*$", re.I)
ACCEPT_BUTTON_NAME = re.compile(
    r"^\s*(accept all|i agree|agree|accept|alle akzeptieren|tout accepter|aceptar todo"
    r"|accetta tutto)\s*$",
    re.I,
)

# (JS test, what it means): a captcha anywhere on the page ends the crawl.
_CAPTCHA_SIGNS = [
    ("document.querySelector('#captcha-form')", "a captcha form"),
    ("document.querySelector('.g-recaptcha, iframe[src*=\"recaptcha\"]')", "a reCAPTCHA"),
    (
        "/unusual traffic/i.test(document.body ? document.body.innerText : '')",
        "an unusual-traffic captcha",
    ),
]
# A cookie text alone is no wall (footers mention cookies): it must sit in a dialog.
_CONSENT_JS = """() => !!document.querySelector("form[action*='consent.']")
  || /before you continue to google/i.test(document.body ? document.body.innerText : '')
  || Array.from(document.querySelectorAll('[role=dialog], [aria-modal=true]'))
       .some((d) => d.getClientRects().length && /cookies/i.test(d.innerText))"""

_TILES_JS = """(selectors) => {
  for (const s of selectors) {
    const found = document.querySelectorAll(s);
    if (found.length) return Array.from(found).map((tile) => {
      const img = tile.querySelector('img');
      return {
        src: img ? (img.currentSrc || img.src || null) : null,
        data_src: img ? (img.dataset.src || null) : null,
        lpage: tile.dataset.lpage || null,
        links: Array.from(tile.querySelectorAll('a[href]'), (a) => a.href),
        title: (img && img.alt) || tile.title || null,
      };
    });
  }
  return [];
}"""

_COUNT_JS = """(selectors) => {
  for (const s of selectors) { const n = document.querySelectorAll(s).length; if (n) return n; }
  return 0;
}"""

# Resolves once a preview shows an original: an http(s) image that is not a thumbnail
# (`skip`: the tile's own thumbnails and whatever the pane showed before the click).
_PREVIEW_JS = """([selectors, skip]) => {
  for (const s of selectors) for (const img of document.querySelectorAll(s)) {
    const src = img.currentSrc || img.src;
    if (!/^https?:/.test(src) || skip.includes(src)) continue;
    if (/encrypted-tbn\\d?\\.gstatic\\.com/.test(src) || !img.getClientRects().length) continue;
    return src;
  }
  return null;
}"""


@dataclass
class Tile:
    """A rendered result tile.

    `thumb` is what the tile shows (a URL or a data URI), `remote` its remote thumbnail
    URL, `original` the image URL when the tile links to /imgres?imgurl=..., `page` the
    landing page.
    """

    thumb: str | None
    remote: str | None = None
    page: str | None = None
    title: str | None = None
    original: str | None = None

    @classmethod
    def from_info(cls, info: dict, host: str) -> Tile:
        """A tile from `_TILES_JS` output; links to `host` (the result page's) are not landing
        pages."""
        src, data_src = info.get("src"), info.get("data_src")
        remote = data_src if is_http_url(data_src) else src if is_http_url(src) else None
        original, page = None, info.get("lpage")
        for link in info.get("links") or []:
            parts = split_url(link)  # a malformed link is skipped, not a crash
            if parts is None:
                continue
            query = parse_qs(parts.query)
            if "imgres" in parts.path and is_http_url(first_param(query, "imgurl")):
                original = query["imgurl"][0]
                page = page or first_param(query, "imgrefurl")
            elif is_http_url(link) and parts.hostname != host:
                page = page or link
        return cls(
            thumb=src or data_src,
            remote=remote,
            page=page,
            title=info.get("title"),
            original=original,
        )


def check_captcha(page: Page) -> None:
    """Raise BrowserBlockedError when the page is Google's /sorry/ page or shows a captcha."""
    parts = urlsplit(page.url)
    if (parts.hostname or "").startswith("sorry.") or "/sorry/" in parts.path:
        raise BrowserBlockedError(f"a captcha page at {parts.netloc}{parts.path}")
    for test, meaning in _CAPTCHA_SIGNS:
        if page.evaluate(f"() => !!({test})"):
            raise BrowserBlockedError(f"{meaning} at {page.url}")


def handle_consent(page: Page, timeout_ms: int) -> bool:
    """Accept a cookie consent form if one shows; True when one was accepted.

    Raises:
        BrowserBlockedError: a consent form shows and no button accepts it.
    """
    accept = page.get_by_role("button", name=ACCEPT_BUTTON_NAME)
    on_consent_host = (urlsplit(page.url).hostname or "").startswith("consent.")
    if accept.count() == 0 or not accept.first.is_visible():
        if on_consent_host or page.evaluate(_CONSENT_JS):
            raise BrowserBlockedError(f"a cookie consent form with no accept button at {page.url}")
        return False
    accept.first.click(timeout=timeout_ms)
    # Accepting either reloads the page or removes an overlay; wait for whichever happens.
    try:
        accept.first.wait_for(state="hidden", timeout=timeout_ms)
        page.wait_for_load_state("domcontentloaded", timeout=timeout_ms)
    except PlaywrightTimeout:
        raise BrowserBlockedError(
            f"a cookie consent form that stayed after accepting it at {page.url}"
        ) from None
    return True


def tile_count(page: Page) -> int:
    return int(page.evaluate(_COUNT_JS, TILE_SELECTORS))


def tile_selector(page: Page) -> str:
    """The first of TILE_SELECTORS that matches (the one `read_tiles` numbered the tiles by)."""
    return next((s for s in TILE_SELECTORS if page.locator(s).count()), TILE_SELECTORS[0])


def read_tiles(page: Page) -> list[Tile]:
    host = urlsplit(page.url).hostname or ""
    return [Tile.from_info(info, host) for info in page.evaluate(_TILES_JS, TILE_SELECTORS)]


def wait_for_tiles(page: Page, more_than: int, timeout_ms: int) -> bool:
    """True when the page shows more than `more_than` tiles within the timeout."""
    try:
        page.wait_for_function(
            f"([n, selectors]) => ({_COUNT_JS})(selectors) > n",
            arg=[more_than, TILE_SELECTORS],
            timeout=timeout_ms,
        )
    except PlaywrightTimeout:
        return False
    return True


def _more_button(page: Page):  # a Locator, or None
    for locator in (
        page.get_by_role("button", name=MORE_BUTTON_NAME),
        page.locator(MORE_BUTTON_CSS),
    ):
        for i in range(locator.count()):
            if locator.nth(i).is_visible():
                return locator.nth(i)
    return None


def load_more(page: Page, timeout_ms: int) -> bool:
    """Scroll to the end and press "more results" if shown; True when new tiles came."""
    before = tile_count(page)
    page.evaluate("() => window.scrollTo(0, document.body.scrollHeight)")
    if wait_for_tiles(page, before, min(timeout_ms, 1500)):
        return True
    button = _more_button(page)
    if button is None:
        return False
    button.click(timeout=timeout_ms)
    return wait_for_tiles(page, before, timeout_ms)


def preview_original(page: Page, index: int, tile: Tile, timeout_ms: int) -> str | None:
    """Click tile `index` and read the original URL its preview pane shows, or None."""
    skip = [tile.thumb, tile.remote]
    skip.append(page.evaluate(_PREVIEW_JS, [PREVIEW_IMAGE_SELECTORS, skip]))
    path = urlsplit(page.url).path
    try:
        page.locator(tile_selector(page)).nth(index).click(timeout=timeout_ms)
        found = page.wait_for_function(
            _PREVIEW_JS, arg=[PREVIEW_IMAGE_SELECTORS, skip], timeout=timeout_ms
        )
        original = found.json_value()
    except PlaywrightError:  # includes its TimeoutError: no original showed
        original = None
    if urlsplit(page.url).path != path:
        # An older layout opens the result on its own page: come back to the grid.
        page.go_back(wait_until="domcontentloaded", timeout=timeout_ms)
    return original if isinstance(original, str) else None
