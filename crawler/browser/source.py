"""The browser engine as a page source for the crawl orchestration (`crawler.crawl`).

The crawl takes hits page by page; here the whole rendered result grid is one page. A
captcha that stops the browser after some results still hands those over first, then
raises, so the crawl stores them and reports why it stopped.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from pathlib import Path

from ..hits import ImageHit
from .errors import BrowserBlockedError
from .google import collect_hits, search_page_url


def result_pages(
    query: str,
    *,
    limit: int,
    search_url: str | None = None,
    browser_path: str | Path | None = None,
    allow_private: bool | Collection[str] = False,
) -> Iterator[tuple[str, list[ImageHit]]]:
    """(description, hits) of the rendered result page; see `collect_hits` for the arguments.

    Raises:
        BrowserBlockedError: after yielding the hits gathered before a captcha, if any.
    """
    url = search_page_url(query, search_url)
    try:
        hits = collect_hits(
            query,
            limit=limit,
            search_url=search_url,
            browser_path=browser_path,
            allow_private=allow_private,
        )
    except BrowserBlockedError as exc:
        if exc.hits:
            yield f"{url} (rendered, cut short by a captcha): {_describe(exc.hits)}", exc.hits
        raise
    yield f"{url} (rendered): {_describe(hits)}", hits


def _describe(hits: list[ImageHit]) -> str:
    originals = sum(hit.url is not None for hit in hits)
    thumbnails_only = len(hits) - originals
    repeats = getattr(hits, "repeats", 0)
    again = f", {repeats} repeated on the page" if repeats else ""
    return (
        f"{len(hits)} hits, {originals} with an original URL, {thumbnails_only} thumbnails only"
        f"{again}"
    )
