"""DuckDuckGo Images: a `vqd` token from the search page, then the `i.js` JSON. Pure functions."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from urllib.parse import urlencode, urlsplit, urlunsplit

from ..errors import BlockedError
from ..hits import ImageHit, ParseResult
from . import common, filters
from .common import is_http_url, to_int

NAME = "duckduckgo"
BASE_URL = "https://duckduckgo.com/"
PAGE_SIZE = 100
FILTERS = filters.DUCKDUCKGO
# The engine needs a token fetched from `token_url` before `build_search_url`.
NEEDS_TOKEN = True
# i.js answers 403 to requests that do not come from its own search page.
HEADERS = {"Referer": BASE_URL}
_VQD = re.compile(r"""vqd\s*[=:]\s*["']?([\d-]+)["']?""")


def token_url(query: str, base_url: str | None = None) -> str:
    """The page whose body holds the `vqd` token for `query`.

    Example: token_url("Yeezy 350") -> "https://duckduckgo.com/?q=Yeezy+350&iax=images&ia=images"
    """
    return f"{base_url or BASE_URL}?{urlencode({'q': query, 'iax': 'images', 'ia': 'images'})}"


def parse_token(text: str) -> str:
    """The `vqd` token in the token page; BlockedError when the page has none."""
    match = _VQD.search(text)
    if not match:
        raise BlockedError(NAME, "no vqd token in the search page")
    return match.group(1)


def build_search_url(
    query: str,
    page: int = 0,
    filters_: Mapping[str, str] | None = None,
    base_url: str | None = None,
    token: str = "",
) -> str:
    """The `i.js` URL of result page `page` (0-based) for `query`, given the `vqd` token.

    Example: build_search_url("Yeezy 350", 1, token="4-123")
        -> "https://duckduckgo.com/i.js?l=us-en&o=json&q=Yeezy+350&vqd=4-123&f=&p=1&s=100"
    """
    f = filters.check_filters(NAME, FILTERS, filters_)
    params = {
        "l": "us-en",
        "o": "json",
        "q": query,
        "vqd": token,
        "f": ",".join(f),
        "p": "1",
        "s": str(page * PAGE_SIZE),
    }
    parts = urlsplit(base_url or BASE_URL)
    return urlunsplit(
        (parts.scheme, parts.netloc, parts.path.rstrip("/") + "/i.js", urlencode(params), "")
    )


def parse_page(text: str) -> ParseResult:
    """Hits from the JSON `{"results": [{"image", "thumbnail", "url", "title", "width",
    "height"}]}`."""
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        data = {}
    hits: list[ImageHit] = []
    results = data.get("results") if isinstance(data, dict) else None
    for item in results if isinstance(results, list) else []:
        if not isinstance(item, dict) or not is_http_url(item.get("image")):
            continue
        hits.append(
            ImageHit(
                url=item["image"],
                page_url=item.get("url"),
                title=item.get("title"),
                width=to_int(item.get("width")),
                height=to_int(item.get("height")),
                thumbnail_url=item.get("thumbnail") if is_http_url(item.get("thumbnail")) else None,
                rank=len(hits) + 1,
                engine=NAME,
            )
        )
    return ParseResult(hits=hits, matched="i.js" if hits else None, counts={"i.js": len(hits)})


def check_blocked(text: str, url: str | None = None, status: int | None = None) -> None:
    """Raise BlockedError for a 403 / challenge page."""
    common.check_blocked(NAME, text, url, status)
