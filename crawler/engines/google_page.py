"""What every Google format parser shares: the page (text, soup, script thumbnails) and hits.

Google sets most thumbnails after load: `_setImagesSrc(ii, s)` scripts carry their bytes
and `google.ldi` / `google.pim` their URLs, by element id; 2015 pages kept the first
thumbnails in a `var data=[[["<tbnid>:","data:image/..."],...]]` script keyed by the
<img name>. A parser resolves an <img> through `Page.scripted` / `Page.lazy`, so the
placeholder GIF in its src is never taken.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from functools import cached_property

from bs4 import BeautifulSoup, Tag

from ..hits import ImageHit
from .common import decode_data_uri, is_http_url, parse_html
from .images import img_thumbnail


@dataclass
class Page:
    """A result page's text, parsed into a soup only when a parser needs one."""

    text: str

    @cached_property
    def soup(self) -> BeautifulSoup:
        return parse_html(self.text)

    @cached_property
    def scripted(self) -> dict[str, bytes]:
        found = _data_array_thumbnails(self.text) if "var data=[[" in self.text else {}
        if "_setImagesSrc" in self.text:
            found.update(_set_images_src(self.text))
        return found

    @cached_property
    def lazy(self) -> dict[str, str]:
        return _lazy_images(self.text) if "google." in self.text else {}


def make_hit(**fields: object) -> ImageHit:
    """A Google hit. A title read from the HTML (an attribute, an element's text) comes
    unescaped from the HTML parser; one from Google's JSON goes through `json_title`."""
    return ImageHit(engine="google", **fields)  # type: ignore[arg-type]


def json_title(value: object) -> str | None:
    """A title from Google's JSON, which HTML-escapes it ("\u0026quot;Zebra\u0026quot;"):
    unescaped once. Titles from the HTML must not be: `&amp;amp;` there means `&amp;`."""
    return html.unescape(value) if isinstance(value, str) else None


_SET_IMAGES_SRC = re.compile(
    r"""var\s+s\s*=\s*'(data:image/[^']+)'\s*;\s*var\s+ii\s*=\s*\[([^\]]*)\]\s*;"""
    r"""(?:\s*var\s+\w+\s*=\s*'[^']*'\s*;)*\s*_setImagesSrc\("""
)
_LAZY_IMAGES = re.compile(r"google\.(?:ldi|pim)\s*=\s*(\{[^{}]*\})")


def _set_images_src(text: str) -> dict[str, bytes]:
    """Element id -> thumbnail bytes from the `_setImagesSrc(ii, s)` scripts Google has
    used since 2019 for every markup: tiles, "All" page strips, knowledge-graph carousels."""
    found: dict[str, bytes] = {}
    for match in _SET_IMAGES_SRC.finditer(text):
        data = decode_data_uri(match.group(1))
        for tile_id in re.findall(r"""['"]([^'"]+)['"]""", match.group(2)):
            if data:
                found[tile_id] = data
    return found


_DATA_ARRAY = re.compile(r"\bvar\s+data\s*=\s*(?=\[\[)")


def _data_array_thumbnails(text: str) -> dict[str, bytes]:
    """<img name> -> thumbnail bytes from 2015 pages' `var data=[[["<tbnid>:", "data:..."]]]`
    script. Its strings are JSON strings (`\\u003d` escapes), so the array decodes as JSON."""
    found: dict[str, bytes] = {}
    decoder = json.JSONDecoder()
    for match in _DATA_ARRAY.finditer(text):
        try:
            data, _ = decoder.raw_decode(text, match.end())
        except (json.JSONDecodeError, RecursionError):  # hostile nesting too
            continue
        for name, uri in _name_uri_pairs(data):
            if (body := decode_data_uri(uri)) is not None:
                found.setdefault(name, body)
    return found


def _name_uri_pairs(data: object) -> list[tuple[str, str]]:
    """Every `["<name>", "data:image/...", ...]` list in a decoded tree (iterative: deep)."""
    pairs, stack = [], [data]
    while stack:
        node = stack.pop()
        if not isinstance(node, list):
            continue
        if len(node) >= 2 and isinstance(node[0], str) and isinstance(node[1], str):
            if node[1].startswith("data:image/"):
                pairs.append((node[0], node[1]))
                continue
        stack.extend(node)
    return pairs


def _lazy_images(text: str) -> dict[str, str]:
    """Element id -> thumbnail URL from `google.ldi={...}` / `google.pim={...}` scripts."""
    found: dict[str, str] = {}
    for match in _LAZY_IMAGES.finditer(text):
        try:
            data = json.loads(match.group(1))
        except (json.JSONDecodeError, RecursionError):
            continue
        found.update(
            {str(k): v for k, v in data.items() if is_http_url(v)} if isinstance(data, dict) else {}
        )
    return found


def tile_thumbnail(img: Tag | None, page: Page | None = None) -> dict:
    """Thumbnail fields of a tile's <img>, with what the page's scripts put in it later."""
    if page is None:
        return img_thumbnail(img)
    return img_thumbnail(img, page.scripted, page.lazy)
