"""Google Images: the search URL, a parser for every known markup, blocked-page detection.

Pure functions: nothing here touches the network.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from urllib.parse import urlencode

from ..hits import ImageHit, ParseResult, content_key
from . import common, filters
from .google_formats import FORMATS, PAGE_IMAGE_FORMATS, Page
from .images import clean_hit

NAME = "google"
BASE_URL = "https://www.google.com/search"
PAGE_SIZE = 100
FILTERS = filters.GOOGLE


def build_search_url(
    query: str,
    page: int = 0,
    filters_: Mapping[str, str] | None = None,
    base_url: str | None = None,
) -> str:
    """The URL of result page `page` (0-based) for `query`.

    Example: build_search_url("Yeezy 350", 1, {"size": "large"})
        -> "https://www.google.com/search?q=Yeezy+350&tbm=isch&udm=2&ijn=1&start=100&tbs=isz%3Al"
    """
    params = {
        "q": query,
        "tbm": "isch",
        "udm": "2",
        "ijn": str(page),
        "start": str(page * PAGE_SIZE),
    }
    tbs = filters.check_filters(NAME, FILTERS, filters_)
    if tbs:
        params["tbs"] = ",".join(tbs)
    base = base_url or BASE_URL
    return f"{base}{'&' if '?' in base else '?'}{urlencode(params)}"


def parse_page(text: str) -> ParseResult:
    """Run every format's parser; the first (richest) grid format with hits supplies them.

    Hits from the chosen format that lack an inline thumbnail borrow one from another
    format's hit for the same image or landing page (saved pages often have both). Images
    of the page's own blocks (an "All" page's images strip, knowledge-graph carousels)
    that no grid hit explains are added after them.
    """
    page = Page(text)
    found = {name: _clean(parser(page)) for name, parser in FORMATS.items()}
    counts = {name: len(hits) for name, hits in found.items()}
    grid = [name for name in FORMATS if name not in PAGE_IMAGE_FORMATS]
    matched = next((name for name in grid if found[name]), None)
    hits = list(found[matched]) if matched else []
    _borrow_thumbnails(hits, [h for name, other in found.items() if name != matched for h in other])
    grid_count = len(hits)
    # A rendered tile on the grid's landing page is the grid's own result drawn again.
    grid_pages = {hit.page_url for hit in hits if hit.page_url}
    added = {name: _add_new(hits, found[name], grid_pages) for name in PAGE_IMAGE_FORMATS}
    extra = [name for name, (count, _) in added.items() if count]
    last = max((hit.rank or 0 for hit in hits[:grid_count]), default=0)
    for rank, hit in enumerate(hits[grid_count:], last + 1):
        hit.rank = rank
    name = "+".join(([matched] if matched else []) + extra) or None
    # The first page-image format's hits of the same image are in-page repeats; the later
    # ones mostly re-read what the first read, and are not counted.
    first = next((n for n in PAGE_IMAGE_FORMATS if found[n]), None)
    repeats = added[first][1] if first and not matched else 0
    return ParseResult(hits=hits, matched=name, counts=counts, repeats=repeats)


def _clean(hits: list[ImageHit]) -> list[ImageHit]:
    return [hit for hit in map(clean_hit, hits) if hit is not None]


def _add_new(hits: list[ImageHit], more: list[ImageHit], grid_pages: set[str]) -> tuple[int, int]:
    """Append the hits of `more` that show no image or thumbnail of `hits` and are not on a
    grid result's landing page; (how many were added, how many were left out)."""
    seen = {value for hit in hits for value in _identities(hit)}
    added = 0
    for hit in more:
        ids = _identities(hit)
        if seen.isdisjoint(ids) and hit.page_url not in grid_pages:
            hits.append(hit)
            seen.update(ids)
            added += 1
    return added, len(more) - added


def _identities(hit: ImageHit) -> set[str]:
    """What makes two hits one image: the original, else the thumbnail. Never the landing
    page alone: shops, blogs and stock sites show several photos on one page."""
    ids = {v for v in (hit.url, hit.thumbnail_url, hit.thumbnail_path, hit.key) if v}
    return ids | ({content_key(hit.thumbnail_data)} if hit.thumbnail_data else set())


def _borrow_thumbnails(hits: list[ImageHit], others: list[ImageHit]) -> None:
    """Give hits without a local thumbnail the one another format holds for the same image.

    Matched by original URL; by landing page only when that page has a single result on
    both sides (one page often shows several images, and a wrong thumbnail is worse than none).
    """
    donors = [o for o in others if o.thumbnail_data or o.thumbnail_path]
    by_url = {o.url: o for o in donors if o.url}
    by_page = _unique_by_page(donors)
    single_pages = set(_unique_by_page(hits))
    for hit in hits:
        if hit.thumbnail_data or hit.thumbnail_path:
            continue
        donor = by_url.get(hit.url or "") or (
            by_page.get(hit.page_url or "") if hit.page_url in single_pages else None
        )
        if donor:
            hit.thumbnail_data, hit.thumbnail_path = donor.thumbnail_data, donor.thumbnail_path


def _unique_by_page(hits: list[ImageHit]) -> dict[str, ImageHit]:
    """Landing page -> hit, for the pages that only one hit comes from."""
    counts = Counter(h.page_url for h in hits if h.page_url)
    return {h.page_url: h for h in hits if h.page_url and counts[h.page_url] == 1}


def check_blocked(text: str, url: str | None = None, status: int | None = None) -> None:
    """Raise BlockedError for a /sorry/ captcha, consent form, JavaScript wall or tiny page."""
    common.check_blocked(NAME, text, url, status)
