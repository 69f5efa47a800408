"""Bing Images: the `iusc` anchors' `m` JSON (murl, purl, turl, t). Pure functions."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from urllib.parse import urlencode

from bs4 import Tag

from ..hits import ImageHit, ParseResult
from . import common, filters
from .common import is_http_url, parse_html
from .images import clean_hit, img_thumbnail

NAME = "bing"
BASE_URL = "https://www.bing.com/images/async"
PAGE_SIZE = 35
FILTERS = filters.BING
_SIZE = re.compile(r"(\d+)\s*[x×]\s*(\d+)")


def build_search_url(
    query: str,
    page: int = 0,
    filters_: Mapping[str, str] | None = None,
    base_url: str | None = None,
) -> str:
    """The URL of result page `page` (0-based) for `query`.

    Example: build_search_url("Yeezy 350", 0, {"size": "large"})
        -> "https://www.bing.com/images/async?q=Yeezy+350&first=1&count=35&mmasync=1&qft=%2Bfilterui..."
    """
    params = {
        "q": query,
        "first": str(page * PAGE_SIZE + 1),
        "count": str(PAGE_SIZE),
        "mmasync": "1",
    }
    qft = filters.check_filters(NAME, FILTERS, filters_)
    if qft:
        params["qft"] = "".join(qft)
    base = base_url or BASE_URL
    return f"{base}{'&' if '?' in base else '?'}{urlencode(params)}"


def _size(anchor: Tag) -> tuple[int | None, int | None]:
    """(width, height) from the tile's "1200 x 800 · jpeg" caption, when it has one."""
    tile = anchor.find_parent(class_="imgpt") or anchor.parent
    caption = tile.find(class_="img_info") if tile else None
    match = _SIZE.search(caption.get_text(" ") if caption else "")
    return (int(match.group(1)), int(match.group(2))) if match else (None, None)


def _thumbnail(anchor: Tag, meta: dict) -> dict:
    """The tile's `<img class="mimg">` (a file saved beside the page, inline bytes, its URL),
    with the `m` JSON's `turl` as the remote thumbnail when it has one."""
    tile = anchor.find_parent(class_="imgpt") or anchor
    fields = img_thumbnail(anchor.find("img", class_="mimg") or tile.find("img", class_="mimg"))
    if is_http_url(meta.get("turl")):
        fields["thumbnail_url"] = meta["turl"]
    return fields


def parse_page(text: str) -> ParseResult:
    """Hits from every `<a class="iusc" m='{...}'>` tile."""
    hits: list[ImageHit] = []
    if "iusc" in text:
        for anchor in parse_html(text).select("a.iusc[m]"):
            try:
                meta = json.loads(str(anchor["m"]))
            except (json.JSONDecodeError, RecursionError):
                continue
            if not isinstance(meta, dict) or not is_http_url(meta.get("murl")):
                continue
            width, height = _size(anchor)
            hit = clean_hit(
                ImageHit(
                    url=meta["murl"],
                    page_url=meta.get("purl"),
                    title=meta.get("t"),
                    width=width,
                    height=height,
                    rank=len(hits) + 1,
                    engine=NAME,
                    **_thumbnail(anchor, meta),
                )
            )
            if hit is not None:
                hits.append(hit)
    return ParseResult(hits=hits, matched="iusc" if hits else None, counts={"iusc": len(hits)})


def check_blocked(text: str, url: str | None = None, status: int | None = None) -> None:
    """Raise BlockedError for a captcha, challenge or tiny page."""
    common.check_blocked(NAME, text, url, status)
