"""The hits of a rendered result page: the plain `google` engine's parser on its HTML.

What Chromium rendered is read as `crawl --page` reads a saved page: `google.parse_page`
on the page's HTML (`page.content()`), so both engines give the same hits from the same
page, titles unescaped once, in one place. The browser adds only what the HTML does not
hold: originals from the data the page fetched (`scriptdata`, parsed by the same format
parsers), then from a bounded number of preview clicks, and the results that data
describes but the grid did not render.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from ..engines import google
from ..engines.common import decode_data_uri
from ..hits import ImageHit, content_key
from . import page as pagelib
from .errors import ENGINE
from .page import Tile

# Fields a data hit lends to the HTML hit of the same image when the HTML lacks them.
LENT_FIELDS = ("url", "width", "height", "thumbnail_url", "page_url", "title")


class PageHits(list[ImageHit]):
    """The hits of a rendered page, in page order, and how many of its results showed an
    image it had shown already (counted and named in the summary, as `crawl --page` does)."""

    repeats: int = 0


def html_hits(html: str) -> tuple[list[ImageHit], int]:
    """The hits `crawl --page` finds in `html` (none for a page with no image results), and
    the in-page repeats its parser left out."""
    if not html:
        return [], 0
    parsed = google.parse_page(html)
    return parsed.hits, parsed.repeats


class _Index:
    """Hits found by what identifies an image: the original URL, the thumbnail's URL or
    bytes; by landing page only where one hit has that page on both sides (shops show
    several photos on one page, and a wrong original is worse than none)."""

    def __init__(self, hits: Iterable[ImageHit], pages_of_others: Counter[str]) -> None:
        self.by_id: dict[str, ImageHit] = {}
        hits = list(hits)
        pages = Counter(h.page_url for h in hits if h.page_url)
        self.by_page = {
            h.page_url: h
            for h in hits
            if h.page_url and pages[h.page_url] == 1 and pages_of_others[h.page_url] <= 1
        }
        for hit in hits:
            for value in _identities(hit):
                self.by_id.setdefault(value, hit)

    def find(self, hit: ImageHit) -> ImageHit | None:
        found = next((self.by_id[v] for v in _identities(hit) if v in self.by_id), None)
        return found or self.by_page.get(hit.page_url or "")


def _identities(hit: ImageHit) -> list[str]:
    ids = [v for v in (hit.url, hit.thumbnail_url) if v]
    return ids + ([content_key(hit.thumbnail_data)] if hit.thumbnail_data else [])


def _tile_identities(tile: Tile) -> list[str]:
    data = decode_data_uri(tile.thumb)
    ids = [v for v in (tile.original, tile.remote) if v]
    return ids + ([content_key(data)] if data else [])


def lend(hits: list[ImageHit], data_hits: list[ImageHit]) -> list[ImageHit]:
    """Give each HTML hit what a data hit of the same image holds and it lacks (its
    original, its size); returns the data hits that no HTML hit showed."""
    pages = Counter(h.page_url for h in hits if h.page_url)
    index = _Index(data_hits, pages)
    used: set[int] = set()
    for hit in hits:
        donor = index.find(hit)
        if donor is None or id(donor) in used:
            continue
        used.add(id(donor))
        for name in LENT_FIELDS:
            if getattr(hit, name) is None:
                setattr(hit, name, getattr(donor, name))
    return [h for h in data_hits if id(h) not in used]


class Previews:
    """Opens tile previews, at most `max_clicks`, and gives up after a few in a row show nothing.

    A preview pane this code does not recognise (a redesign) would otherwise cost a full
    timeout per click.
    """

    GIVE_UP_AFTER = 3

    def __init__(self, page, max_clicks: int, timeout_ms: int) -> None:  # a Playwright Page
        self.page, self.timeout_ms = page, timeout_ms
        self.left = max_clicks if page is not None else 0
        self.failed_in_a_row = 0
        self._tiles: list[Tile] | None = None

    def original(self, hit: ImageHit) -> str | None:
        """The original the tile of `hit` links to or its preview shows, or None."""
        if self.page is None:
            return None
        found = self._tile_of(hit)
        if found is None:
            return None
        number, tile = found
        if tile.original:
            return tile.original
        if self.left <= 0 or self.failed_in_a_row >= self.GIVE_UP_AFTER:
            return None
        self.left -= 1
        url = pagelib.preview_original(self.page, number, tile, self.timeout_ms)
        self.failed_in_a_row = 0 if url else self.failed_in_a_row + 1
        return url

    def _tile_of(self, hit: ImageHit) -> tuple[int, Tile] | None:
        """The rendered tile that shows `hit`'s image, with its number among the tiles."""
        if self._tiles is None:
            self._tiles = pagelib.read_tiles(self.page)
        wanted = set(_identities(hit))
        for number, tile in enumerate(self._tiles):
            if wanted.intersection(_tile_identities(tile)):
                return number, tile
        return None


def merge(html: str, data_hits: list[ImageHit], *, limit: int, previews: Previews) -> PageHits:
    """The page's hits: those of its HTML in page order with what the data adds, then the
    data's results the grid did not render; originals the HTML and the data lack come from
    the tiles' previews. At most `limit`, ranked from 1, engine google-browser."""
    hits, repeats = html_hits(html)
    rest = lend(hits, list(data_hits))
    ranked: dict[str, ImageHit] = {}
    for hit in hits:
        if len(ranked) >= limit:
            break
        if hit.url is None:
            hit.url = previews.original(hit)
        repeats += hit.key in ranked  # an original a preview showed for an earlier tile too
        ranked.setdefault(hit.key, hit)
    for hit in rest:  # data for results the grid did not render (yet)
        if len(ranked) >= limit:
            break
        ranked.setdefault(hit.key, hit)
    out = PageHits(ranked.values())
    out.repeats = repeats
    for rank, hit in enumerate(out, 1):
        hit.rank, hit.engine = rank, ENGINE
    return out
