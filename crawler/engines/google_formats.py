"""One parser per markup that Google Images is known to have served.

Each parser takes a `Page` and returns the hits it recognises (possibly none); the
engine module runs them all and reports which matched. Add a format here, a fixture in
tests/crawler_tests/fixtures/google/ and a case in the tests when Google changes again.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from itertools import pairwise

from ..hits import ImageHit
from .common import first_param, is_http_url, js_string, to_int
from .google_blocks import parse_data_lpage, parse_docid_tiles, parse_image_blocks
from .google_page import Page, json_title, make_hit, tile_thumbnail
from .images import host_of, is_placeholder_data, link_query

# ---- 2019-2020: <div class="rg_meta">{json}</div> in every tile -----------------------


def parse_rg_meta(page: Page) -> list[ImageHit]:
    """2019-2020 pages: a hidden `rg_meta` JSON object per tile (ou, ow, oh, pt, ru, tu)."""
    if "rg_meta" not in page.text:
        return []
    hits: list[ImageHit] = []
    for meta in page.soup.select("div.rg_meta"):
        try:
            data = json.loads(meta.get_text())
        except (json.JSONDecodeError, RecursionError):  # hostile nesting too
            continue
        if not isinstance(data, dict) or not is_http_url(data.get("ou")):
            continue
        tile = meta.find_parent(class_="rg_bx")
        thumb = tile_thumbnail(tile.find("img") if tile else None, page)
        if not thumb.get("thumbnail_data") and not is_placeholder_data(
            page.scripted.get(str(data.get("id")))
        ):
            thumb["thumbnail_data"] = page.scripted.get(str(data.get("id")))
        if is_http_url(data.get("tu")):
            thumb["thumbnail_url"] = data["tu"]
        rank = to_int(tile.get("data-ri")) if tile else None
        hits.append(
            make_hit(
                url=data["ou"],
                page_url=data.get("ru"),
                width=to_int(data.get("ow")),
                height=to_int(data.get("oh")),
                title=json_title(data.get("pt")),
                rank=rank + 1 if rank is not None else len(hits) + 1,
                **thumb,
            )
        )
    # Saved pages list a few preloaded tiles (data-ri 98, 99) before the first.
    return sorted(hits, key=lambda h: h.rank or 0)


# ---- 2020-2022 and 2023-2025: tile arrays [.., [thumb,h,w], [original,h,w], .., {"2003": ..}]


def _triple(value: object) -> tuple[str, int, int] | None:
    """("url", height, width) from a JSON array `["url", h, w]`."""
    if isinstance(value, list) and len(value) == 3 and is_http_url(value[0]):
        h, w = to_int(value[1]), to_int(value[2])
        if h is not None and w is not None:
            return value[0], h, w
    return None


def _is_thumbnail(url: str) -> bool:
    return host_of(url).endswith("gstatic.com")


def _tile_hit(tile: list, rank: int) -> ImageHit | None:
    """The hit of one tile array, if it holds a thumbnail triple followed by an original."""
    for first, second in pairwise(tile):
        thumb, orig = _triple(first), _triple(second)
        if thumb and orig and _is_thumbnail(thumb[0]) and not _is_thumbnail(orig[0]):
            landing, title = _info_2003(tile)
            return make_hit(
                url=orig[0],
                height=orig[1],
                width=orig[2],
                thumbnail_url=thumb[0],
                page_url=landing,
                title=json_title(title),
                rank=rank,
            )
    return None


def _info_2003(tile: list) -> tuple[str | None, str | None]:
    """(landing page, title) from the tile's dict whose "2003" entry describes the source."""
    for item in tile:
        if isinstance(item, dict) and isinstance(item.get("2003"), list):
            info = item["2003"]
            landing = info[2] if len(info) > 2 and is_http_url(info[2]) else None
            title = info[3] if len(info) > 3 and isinstance(info[3], str) else None
            return landing, title
    return None, None


def _walk_tiles(data: object) -> Iterator[ImageHit]:
    """Every tile hit in a decoded JSON tree, in document order (iterative: trees are deep)."""
    stack = [data]
    rank = 0
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            stack.extend(reversed(list(node.values())))
        elif isinstance(node, list):
            hit = _tile_hit(node, rank + 1)
            if hit:
                rank += 1
                yield hit
                continue
            stack.extend(reversed(node))


_AF_START = re.compile(r"AF_initDataCallback\(\s*\{")
_AF_DATA = re.compile(r"\bdata\s*:\s*(?:function\s*\(\)\s*\{\s*return\s*)?")


def _af_payloads(text: str) -> Iterator[object]:
    """The decoded `data:` array of every AF_initDataCallback({key: .., data: [...]}) call."""
    decoder = json.JSONDecoder()
    for match in _AF_START.finditer(text):
        data = _AF_DATA.search(text, match.end(), match.end() + 400)
        if not data or not text.startswith("[", data.end()):
            continue
        try:
            payload, _ = decoder.raw_decode(text, data.end())
        except (json.JSONDecodeError, RecursionError):  # hostile nesting too
            continue
        yield payload


def parse_af_init_data(page: Page) -> list[ImageHit]:
    """2020-2022 pages: tile arrays inside `AF_initDataCallback` script data."""
    hits: list[ImageHit] = []
    for payload in _af_payloads(page.text):
        for hit in _walk_tiles(payload):
            hit.rank = len(hits) + 1
            hits.append(hit)
    return hits


_INLINE_TILE = re.compile(
    r'\["(https://encrypted-tbn\d\.gstatic\.com/images\?[^"]+)",(\d+),(\d+)\],'
    r'\["(https?://[^"]+)",(\d+),(\d+)\]'
)
_INFO_2003 = re.compile(r'"2003":\[null,"[^"]*","((?:[^"\\]|\\.)*)","((?:[^"\\]|\\.)*)"')


def _af_spans(text: str) -> list[tuple[int, int]]:
    spans = []
    for match in _AF_START.finditer(text):
        end = text.find("</script>", match.end())
        spans.append((match.start(), end if end >= 0 else len(text)))
    return spans


def parse_inline_arrays(page: Page) -> list[ImageHit]:
    """2023-2025 pages: one inline array per tile outside AF_initDataCallback scripts."""
    text = page.text
    hits: list[ImageHit] = []
    spans = _af_spans(text)
    matches = [
        m for m in _INLINE_TILE.finditer(text) if not any(a <= m.start() < b for a, b in spans)
    ]
    for i, match in enumerate(matches):
        window_end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        info = _INFO_2003.search(text, match.end(), min(window_end, match.end() + 5000))
        hits.append(
            make_hit(
                url=js_string(match.group(4)),
                height=int(match.group(5)),
                width=int(match.group(6)),
                thumbnail_url=js_string(match.group(1)),
                page_url=js_string(info.group(1)) if info else None,
                title=json_title(js_string(info.group(2))) if info else None,
                rank=len(hits) + 1,
            )
        )
    return hits


# ---- the JSON endpoint: {"ischj": {"metadata": [...]}} -----------------------------------


def parse_ischj(page: Page) -> list[ImageHit]:
    """The async JSON answer (`)]}'` prefix optional) that starts with `{"ischj":`."""
    start = page.text.find('{"ischj":')
    if start < 0:
        return []
    try:
        data, _ = json.JSONDecoder().raw_decode(page.text, start)
    except (json.JSONDecodeError, RecursionError):  # hostile nesting too
        return []
    hits: list[ImageHit] = []
    for item in _as_list(_as_dict(_as_dict(data).get("ischj")).get("metadata")):
        original = _as_dict(_as_dict(item).get("original_image"))
        if not is_http_url(original.get("url")):
            continue
        result, thumb = _as_dict(item.get("result")), _as_dict(item.get("thumbnail"))
        hits.append(
            make_hit(
                url=original["url"],
                width=to_int(original.get("width")),
                height=to_int(original.get("height")),
                thumbnail_url=thumb.get("url") if is_http_url(thumb.get("url")) else None,
                page_url=result.get("referrer_url"),
                rank=len(hits) + 1,
                title=json_title(
                    result.get("page_title") or _as_dict(item.get("text_in_grid")).get("snippet")
                ),
            )
        )
    return hits


def _as_dict(value: object) -> dict:
    """`value` when it is a JSON object, else {}: the page is untrusted input."""
    return value if isinstance(value, dict) else {}


def _as_list(value: object) -> list:
    return value if isinstance(value, list) else []


# ---- result links /imgres?imgurl=..&imgrefurl=..&w=..&h=.. --------------------------------


def parse_imgres(page: Page) -> list[ImageHit]:
    """Tiles whose link is `/imgres?imgurl=...&imgrefurl=...&w=...&h=...`."""
    if "imgres?" not in page.text:
        return []
    hits: list[ImageHit] = []
    for link in page.soup.select('a[href*="imgres?"]'):
        query = link_query(str(link["href"]))
        url = first_param(query, "imgurl")
        if not is_http_url(url):
            continue
        img = link.find("img")
        hits.append(
            make_hit(
                url=url,
                page_url=first_param(query, "imgrefurl"),
                width=to_int(first_param(query, "w")),
                height=to_int(first_param(query, "h")),
                title=str(img.get("alt")) if img and img.get("alt") else None,
                rank=len(hits) + 1,
                **tile_thumbnail(img, page),
            )
        )
    return hits


# In priority order: the first format with hits supplies them (richest data first).
FORMATS: dict[str, Callable[[Page], list[ImageHit]]] = {
    "rg_meta": parse_rg_meta,
    "af_init_data": parse_af_init_data,
    "inline_arrays": parse_inline_arrays,
    "ischj": parse_ischj,
    "imgres": parse_imgres,
    "data_lpage": parse_data_lpage,
    "docid_tiles": parse_docid_tiles,
    "image_blocks": parse_image_blocks,
}
# Formats read from a page's rendered images: their hits are added to the grid's, since an
# "All" page holds an images strip and knowledge-graph carousels beside anything else.
PAGE_IMAGE_FORMATS = ("data_lpage", "docid_tiles", "image_blocks")
