"""Google's rendered images: Images-tab tiles and "All" page strips (`data-lpage`, or
`data-docid` alone with the landing page on the tile's link), and knowledge-graph
carousels and image blocks (`data-attrid="kc:/..."`, `?stick=` links).

These carry a thumbnail, a title and at best a landing page; they are read beside the
grid formats of `google_formats`, since an "All" page holds them next to anything else.
Signals are data attributes, link targets and image sizes, never obfuscated class names.
"""

from __future__ import annotations

from bs4 import Tag

from ..hits import ImageHit
from .common import first_param, is_http_url, to_int
from .google_page import Page, make_hit, tile_thumbnail
from .images import landing_page, link_query, small_image_size

# Icons (favicons, arrows) declare their size; result thumbnails are bigger than this.
ICON_SIDE = 32
TITLE_CHARS = 300


def _is_icon(img: Tag, thumb: dict) -> bool:
    """A favicon or a button: its declared or inline size is under ICON_SIDE."""
    width, height = to_int(img.get("width")), to_int(img.get("height"))
    if width is not None and height is not None and max(width, height) < ICON_SIDE:
        return True
    size = small_image_size(thumb.get("thumbnail_data")) if thumb.get("thumbnail_data") else None
    return size is not None and max(size) < ICON_SIDE


def _title_near(img: Tag, stop: Tag | None, page: Page) -> str | None:
    """The image's title: its alt, else the label or first text of the item around it."""
    node: Tag | None = img
    for _ in range(5):
        if node is None:
            return None
        for name in ("alt", "aria-label", "title"):
            if str(node.get(name) or "").strip():
                return str(node[name]).strip()[:TITLE_CHARS]
        labelled = [page.soup.find(id=i) for i in str(node.get("aria-labelledby") or "").split()]
        text = " ".join(t.get_text(" ", strip=True) for t in labelled if t) or _first_text(node)
        if text:
            return text[:TITLE_CHARS]
        if node is stop:
            return None
        node = node.parent if isinstance(node.parent, Tag) else None
    return None


def _first_text(node: Tag) -> str:
    for text in node.find_all(string=True):
        if text.parent is not None and text.parent.name in ("script", "style"):
            continue
        if text.strip():
            return " ".join(text.split())
    return ""


def _links_around(img: Tag, stop: Tag | None) -> tuple[str | None, str | None]:
    """(original, landing page) from the links that hold the image, up to `stop`."""
    original = page_url = None
    for link in [a for a in img.find_parents("a") if a.get("href")][:2]:
        href = str(link["href"])
        query = link_query(href) if "imgres?" in href else {}
        if is_http_url(first_param(query, "imgurl")):
            original = original or query["imgurl"][0]
            page_url = page_url or landing_page(first_param(query, "imgrefurl"))
        page_url = page_url or landing_page(href)
        if link is stop:
            break
    return original, page_url or _link_beside(img, stop)


def _link_beside(img: Tag, stop: Tag | None) -> str | None:
    """A landing page linked next to the image, inside the smallest item holding only it."""
    node = img.parent
    while isinstance(node, Tag) and len(node.find_all("img")) == 1:
        found = next(
            (url for a in node.find_all("a", href=True) if (url := landing_page(str(a["href"])))),
            None,
        )
        if found or node is stop:
            return found
        node = node.parent
    return None


def _image_hit(
    img: Tag, page: Page, stop: Tag | None, page_url: str | None = None
) -> ImageHit | None:
    """The hit of one result image, or None for icons and images with no picture yet."""
    thumb = tile_thumbnail(img, page)
    if not (
        thumb.get("thumbnail_data") or thumb.get("thumbnail_url") or thumb.get("thumbnail_path")
    ):
        return None
    if _is_icon(img, thumb):
        return None
    original, linked = _links_around(img, stop)
    return make_hit(
        url=original,
        page_url=landing_page(page_url) or linked,
        title=_title_near(img, stop, page),
        **thumb,
    )


def parse_data_lpage(page: Page) -> list[ImageHit]:
    """Tiles carrying `data-lpage` (the landing page) and a thumbnail: rendered Images-tab
    grids and the images strip of "All" result pages. No original URL: the thumbnails are the
    hits."""
    if "data-lpage" not in page.text:
        return []
    hits: list[ImageHit] = []
    for tile in page.soup.select("[data-lpage]"):
        hit = next(
            (
                h
                for img in tile.find_all("img")
                if (h := _image_hit(img, page, tile, str(tile["data-lpage"])))
            ),
            None,
        )
        if hit is not None:
            hit.rank = len(hits) + 1
            hits.append(hit)
    return hits


def _tile_landing(tile: Tag) -> str | None:
    """The first link in a tile that leaves Google: the page its image comes from."""
    return next(
        (url for a in tile.find_all("a", href=True) if (url := landing_page(str(a["href"])))),
        None,
    )


def _is_docid_tile(tile: Tag) -> bool:
    """An image tile known only by `data-docid`: the `data-lpage` parser reads the others,
    and a tile nested in another tile is part of it."""
    return not tile.has_attr("data-lpage") and not _in_tile(tile)


def parse_docid_tiles(page: Page) -> list[ImageHit]:
    """Image tiles carrying `data-docid` but no `data-lpage` (the images strip of "All"
    pages since 2025): the title in the <img alt>, the landing page on the tile's own link
    beside the image, the thumbnail inline or set by a script. No original URL."""
    if "data-docid" not in page.text:
        return []
    hits: list[ImageHit] = []
    for tile in page.soup.select("[data-docid]"):
        if not _is_docid_tile(tile):
            continue
        landing = _tile_landing(tile)
        hit = next(
            (h for img in tile.find_all("img") if (h := _image_hit(img, page, tile, landing))),
            None,
        )
        if hit is not None:
            hit.rank = len(hits) + 1
            hits.append(hit)
    return hits


# Knowledge-graph sections about other entities ("people also search for"): not this query's images.
_OTHER_ENTITIES = ("also", "sideways", "related", "refinement")


def _about_others(tag: Tag) -> bool:
    attrid = str(tag.get("data-attrid") or "").lower()
    return any(word in attrid for word in _OTHER_ENTITIES)


def _is_image_block(tag: Tag) -> bool:
    """Knowledge-graph sections (data-attrid="kc:/..."), image blocks (data-attrid="images ...")."""
    attrid = str(tag.get("data-attrid") or "").lower()
    return not _about_others(tag) and (attrid.startswith("kc:/") or "image" in attrid)


def _block_images(page: Page) -> list[tuple[Tag, Tag]]:
    """(img, the item or block that holds it), in page order, each img once."""
    found: dict[int, tuple[Tag, Tag]] = {}
    for block in page.soup.select("[data-attrid]"):
        if _is_image_block(block):
            for img in block.find_all("img"):
                found.setdefault(id(img), (img, block))
    # Knowledge-graph entity links (?stick=): carousel items; a film's image may sit beside its
    # link.
    for link in page.soup.select('a[href*="stick="]'):
        if any(_about_others(block) for block in link.find_parents(attrs={"data-attrid": True})):
            continue
        item = link if link.find("img") else link.parent
        if not isinstance(item, Tag):
            continue
        for img in item.find_all("img"):
            found.setdefault(id(img), (img, item))
    ordered = sorted(found.values(), key=lambda pair: pair[0].sourceline or 0)
    # Image tiles (data-lpage, data-docid) are read by their own parsers.
    return [(img, item) for img, item in ordered if not _in_tile(img)]


def _in_tile(element: Tag) -> bool:
    """Inside an image tile (`data-lpage` or `data-docid`), which its own parser reads."""
    return any(element.find_parent(attrs={name: True}) for name in ("data-lpage", "data-docid"))


def parse_image_blocks(page: Page) -> list[ImageHit]:
    """Knowledge-graph carousels (an artist's works, a band's albums) and image blocks:
    a title and a thumbnail per item; their links are Google searches, never landing pages."""
    if "data-attrid" not in page.text and "stick=" not in page.text:
        return []
    hits: list[ImageHit] = []
    for img, item in _block_images(page):
        hit = _image_hit(img, page, item)
        if hit is not None:
            hit.rank = len(hits) + 1
            hits.append(hit)
    return hits
