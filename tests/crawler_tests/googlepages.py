"""Small Google pages in the shapes real ones have (issue 12): an "All" page with its images
strip, knowledge-graph carousels, thumbnails put in by `_setImagesSrc` and `google.ldi`.

Run as a script to rewrite the fixtures built from them (from the repository root):
    PYTHONPATH=.:tests python -m crawler_tests.googlepages
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

from imagegen import image_bytes

FIXTURES = Path(__file__).parent / "fixtures" / "google"
# The 1x1 GIF Google puts in every <img> until a script sets the real thumbnail.
PLACEHOLDER = "data:image/gif;base64,R0lGODlhAQABAIAAAP///////yH5BAEKAAEALAAAAAABAAEAAAICTAEAOw=="


def data_uri(seed: int, size: tuple[int, int]) -> str:
    return "data:image/jpeg;base64," + base64.b64encode(image_bytes(seed, size)).decode()


def set_images_src(ids: list[str], uri: str) -> str:
    """The script that sets `uri` on the images `ids`, with Google's `\\x3d` escapes."""
    quoted = ",".join(f"'{i}'" for i in ids)
    return (
        f"<script nonce=\"n\">(function(){{var s='{uri.replace('=', chr(92) + 'x3d')}';"
        f"var ii=[{quoted}];var r='';_setImagesSrc(ii,s,r);}})();</script>"
    )


def _page(title: str, body: str, scripts: str) -> str:
    return (
        f"<!doctype html><html><head><title>{html.escape(title)} - Google Search</title>"
        '<script>function _setImagesSrc(e,c,r){}</script></head><body><div id="search">'
        f"{body}</div>{scripts}</body></html>"
    )


def all_page(strip: int = 4, small_strip_item: bool = True) -> str:
    """An "All" result page: web results (a favicon, a 38x56 book cover beside a result),
    then the images strip: `strip` tiles of 120x90 thumbnails (set by scripts), titles and
    landing pages, one 40x40 tile when `small_strip_item`, one tile whose thumbnail is a
    lazy `google.ldi` URL."""
    results = (
        '<div class="g"><a href="https://shop.example.com/yeezy-350">'
        f'<img src="{data_uri(900, (16, 16))}" '
        'width="16" height="16"><h3>Yeezy 350 at the shop</h3></a>'
        f'<img id="dimg_book" src="{data_uri(901, (38, 56))}">'
        "<span>A book about sneakers</span></div>"
    )
    tiles, scripts = [], []
    sizes = [(120, 90)] * strip + ([(40, 40)] if small_strip_item else [])
    for i, size in enumerate(sizes):
        tiles.append(
            '<div jsname="dTDiAc" class="eA0Zlc" '
            f'data-lpage="https://site{i}.example.com/yeezy" data-docid="d{i}">'
            f'<a href="/search?q=yeezy&amp;tbm=isch&amp;imgrc=x{i}">'
            f'<g-img><img id="dimg_{i}" src="{PLACEHOLDER}" '
            f'data-deferred="1" alt=""></g-img></a><div class="toI8Rb">Yeezy 350 photo {i}</div>'
            f'<a href="https://site{i}.example.com/yeezy"><span>site{i}.example.com</span></a></div>'
        )
        scripts.append(set_images_src([f"dimg_{i}"], data_uri(500 + i, size)))
    tiles.append(
        '<div data-lpage="https://lazy.example.com/p"><img id="dimg_lazy" src="'
        + PLACEHOLDER
        + '">'
        "<div>Lazy tile</div></div>"
    )
    scripts.append(
        '<script>(function(){google.ldi={"dimg_lazy":"https://encrypted-tbn0.gstatic.com/images?q\\u003dtbn:LAZY"};'
        "google.pim={};})();</script>"
    )
    strip_html = f'<div data-attrid="images universal"><div>Images</div>{"".join(tiles)}</div>'
    return _page("yeezy 350", results + strip_html, "".join(scripts))


ALBUMS = ["Graduation", "808s & Heartbreak", "Yeezus", "The Life of Pablo", "Donda"]
FILMS = [("Pulp Fiction", "1994"), ("Jackie Brown", "1997")]


def carousel_page() -> str:
    """A knowledge panel: an albums carousel (2020s markup: data-attrid="kc:/...", ?stick=
    links, titles in divs, 1x1 placeholders replaced by `_setImagesSrc`), a films carousel
    whose titles are aria-labelledby spans beside an empty link, and a 2019 `klitem`
    carousel with aria-label titles."""
    items, scripts = [], []
    for i, album in enumerate(ALBUMS):
        items.append(
            f'<a href="/search?q={html.escape(album)}&amp;stick=H4sIAAAA{i}&amp;sa=X"><div><g-img>'
            f'<img id="kimg_{i}" src="{PLACEHOLDER}" data-deferred="1"></g-img></div>'
            f'<div class="pgNMRc">{html.escape(album)}</div>'
            f'<div class="cxzHyb">20{10 + i}</div></a>'
        )
        scripts.append(set_images_src([f"kimg_{i}"], data_uri(600 + i, (100, 100))))
    films = []
    for i, (film, year) in enumerate(FILMS):
        films.append(
            f'<div class="film"><a href="/search?q=film&amp;stick=H4sIF{i}" '
            f'aria-labelledby="ft{i} fy{i}"></a>'
            f'<img id="fimg_{i}" src="{PLACEHOLDER}"><span id="ft{i}">{film}</span>'
            f'<span id="fy{i}">{year}</span></div>'
        )
        scripts.append(set_images_src([f"fimg_{i}"], data_uri(700 + i, (80, 120))))
    klitems = (
        '<g-scrolling-carousel><a class="klitem" aria-label="Old Album" '
        'href="/search?q=old&amp;stick=H4sIOLD">'
        f'<img id="kximg0" src="{data_uri(800, (90, 90))}"></a></g-scrolling-carousel>'
    )
    body = (
        f'<div data-attrid="kc:/music/artist:albums"><span>Albums</span>{"".join(items)}</div>'
        f'<div data-attrid="kc:/people/person:movies">{"".join(films)}</div>{klitems}'
        '<div data-attrid="kc:/common/topic:social media presence"><img src="'
        + data_uri(801, (20, 20))
        + '" width="20" height="20"><span>Instagram</span></div>'
    )
    return _page("kanye west albums", body, "".join(scripts))


if __name__ == "__main__":
    (FIXTURES / "all_page.html").write_text(all_page(), encoding="utf-8")
    (FIXTURES / "carousel.html").write_text(carousel_page(), encoding="utf-8")
