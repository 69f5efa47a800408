"""What a result page's image fields may hold.

Shared by the engine parsers: an `<img>`'s thumbnail (inline bytes, a file saved beside
the page, a remote URL); placeholders and tracking pixels, which are never hits; and the
engine's own hosts, which are never an "original" or a "landing page" (a Google thumbnail
on encrypted-tbn0.gstatic.com is a thumbnail, a relative `/search?...` link is Google's
next search, not the page the image comes from).
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from urllib.parse import parse_qs, urlsplit

from bs4 import Tag
from PIL import Image, UnidentifiedImageError

from ..hits import ImageHit
from .common import decode_data_uri

# Images no side of which is longer than this are spacers and tracking pixels.
PLACEHOLDER_SIDE = 2
# Decoding a header is cheap, but only small bodies can be placeholders worth checking.
_SMALL_BODY = 4096
_PLACEHOLDER_NAME = re.compile(
    r"(?:^|[/_.-])(?:spacer|blank|pixel|clear|cleardot|transparent|1x1|empty|placeholder)\.(?:gif|png)$",
    re.I,
)
_GOOGLE_HOST = re.compile(
    r"(?:^|\.)(?:google\.[a-z]{2,3}(?:\.[a-z]{2})?|gstatic\.com|googleadservices\.com)$"
)


def host_of(url: object) -> str:
    """The lower-case host of an http(s) URL; "" for anything else, malformed URLs included."""
    if not isinstance(url, str):
        return ""
    try:
        parts = urlsplit(url.strip())
        return (parts.hostname or "") if parts.scheme in ("http", "https") else ""
    except ValueError:  # http://[::1/a.jpg and friends
        return ""


def is_engine_host(url: object) -> bool:
    """True for Google's own pages and thumbnails (google.*, *.gstatic.com)."""
    return bool(_GOOGLE_HOST.search(host_of(url)))


def link_query(href: str) -> dict[str, list[str]]:
    """The query parameters of a link; {} for a malformed one (page text is untrusted)."""
    try:
        return parse_qs(urlsplit(href).query)
    except ValueError:
        return {}


def landing_page(url: object) -> str | None:
    """`url` when it can be the page an image comes from: absolute http(s), not the engine's."""
    return url if isinstance(url, str) and host_of(url) and not is_engine_host(url) else None


def is_placeholder_url(url: object) -> bool:
    """A spacer or blank image named as such (spacer.gif, cleardot.gif, 1x1.png ...)."""
    if not host_of(url):
        return False
    try:
        return bool(_PLACEHOLDER_NAME.search(urlsplit(str(url)).path))
    except ValueError:
        return False


def small_image_size(data: bytes | None) -> tuple[int, int] | None:
    """(width, height) of small inline bytes (a placeholder or icon candidate); (0, 0) when
    they do not decode; None for bodies too big to be either."""
    if not data:
        return (0, 0)
    if len(data) > _SMALL_BODY:
        return None
    try:
        with Image.open(io.BytesIO(data)) as img:
            return img.size
    except (UnidentifiedImageError, OSError, ValueError):
        return (0, 0)


def is_placeholder_data(data: bytes | None) -> bool:
    """True for inline bytes that are no picture: a 1x1 GIF, a spacer, an undecodable stub."""
    size = small_image_size(data)
    return size is not None and min(size) <= PLACEHOLDER_SIDE


def img_thumbnail(
    img: Tag | None,
    scripted: Mapping[str, bytes] | None = None,
    lazy: Mapping[str, str] | None = None,
) -> dict:
    """Thumbnail fields of an `<img>`: inline bytes, a saved file, or a remote URL.

    Args:
        scripted: element id or name -> bytes a page script puts in later (Google's
            `_setImagesSrc`, its 2015 `var data=[[...]]`).
        lazy: element id -> URL a page script loads later (Google's `google.ldi`).
    Placeholders are dropped, so a tile whose only image is a 1x1 GIF has no thumbnail.
    """
    if img is None:
        return {}
    # 2015 pages key their script thumbnails by the <img name> (the tile's tbnid).
    ids = [str(img.get(name)) for name in ("id", "data-iid", "name") if img.get(name)]
    src = str(img.get("src") or "").strip()
    fields: dict = {}
    data = next((scripted[i] for i in ids if scripted and i in scripted), None) or decode_data_uri(
        src
    )
    if not is_placeholder_data(data):
        fields["thumbnail_data"] = data
    if (
        src
        and not src.startswith(("data:", "http:", "https:", "//", "about:", "javascript:"))
        and not _PLACEHOLDER_NAME.search(src.split("?", 1)[0])
    ):
        fields["thumbnail_path"] = src
    candidates = [
        src,
        str(img.get("data-src") or ""),
        *(lazy[i] for i in ids if lazy and i in lazy),
    ]
    remote = next((u for u in candidates if host_of(u) and not is_placeholder_url(u)), None)
    if remote:
        fields["thumbnail_url"] = remote
    return fields


def clean_hit(hit: ImageHit) -> ImageHit | None:
    """The hit with only honest fields, or None when nothing in it is an image.

    An engine thumbnail given as the "original" becomes the thumbnail; an engine page or a
    relative link is no landing page; placeholder thumbnails are dropped.
    """
    if hit.url is not None and (
        not host_of(hit.url) or is_engine_host(hit.url) or is_placeholder_url(hit.url)
    ):
        if host_of(hit.url).endswith("gstatic.com") and not hit.thumbnail_url:
            hit.thumbnail_url = hit.url
        hit.url = None
    hit.page_url = landing_page(hit.page_url)
    if hit.thumbnail_url is not None and (
        not host_of(hit.thumbnail_url) or is_placeholder_url(hit.thumbnail_url)
    ):
        hit.thumbnail_url = None
    if hit.thumbnail_data is not None and is_placeholder_data(hit.thumbnail_data):
        hit.thumbnail_data = None
    if not (hit.url or hit.thumbnail_url or hit.thumbnail_data or hit.thumbnail_path):
        return None
    return hit
