"""Issue 12: every image a real Google page holds, and nothing that is not an image result.

Pages from `googlepages` (the shapes of real "All" pages and knowledge panels), the
committed fixtures built from them, and small pages written here.
"""

from __future__ import annotations

import base64
import io
import json

from crawler_tests import googlepages
from crawler_tests.crawlserver import FIXTURES
from PIL import Image

from crawler.engines import bing, google
from crawler.engines.images import clean_hit, is_placeholder_data
from crawler.hits import ImageHit


def _sizes(hits):
    return [
        Image.open(io.BytesIO(h.thumbnail_data)).size if h.thumbnail_data else None for h in hits
    ]


def test_all_page_images_strip_is_read_with_script_thumbnails_and_titles():
    """Issue 12: the strip of an "All" page was ignored; its 1x1 placeholders were kept."""
    result = google.parse_page((FIXTURES / "google" / "all_page.html").read_text(encoding="utf-8"))
    assert result.matched == "data_lpage"
    assert [h.page_url for h in result.hits] == [
        f"https://site{i}.example.com/yeezy" for i in range(5)
    ] + ["https://lazy.example.com/p"]
    assert [h.title for h in result.hits[:5]] == [f"Yeezy 350 photo {i}" for i in range(5)]
    assert _sizes(result.hits) == [(120, 90)] * 4 + [(40, 40), None]
    # The lazy tile's thumbnail comes from google.ldi; Google's thumbnail is never an original.
    lazy = result.hits[5]
    assert (lazy.url, lazy.thumbnail_url) == (
        None,
        "https://encrypted-tbn0.gstatic.com/images?q=tbn:LAZY",
    )
    # Neither the favicon nor the 38x56 book cover beside a web result is an image result.
    assert all(h.url is None for h in result.hits) and len(result.hits) == 6


def test_carousels_are_read_with_titles():
    """Issue 12: knowledge-graph carousels gave one 1x1 GIF with a relative /search landing page."""
    result = google.parse_page((FIXTURES / "google" / "carousel.html").read_text(encoding="utf-8"))
    assert result.matched == "image_blocks"
    titles = [h.title for h in result.hits]
    assert titles == [*googlepages.ALBUMS, "Pulp Fiction", "Jackie Brown", "Old Album"]
    assert _sizes(result.hits) == [(100, 100)] * 5 + [(80, 120)] * 2 + [(90, 90)]
    # Their links are Google searches: no landing page, no original; the 20x20 icon is no hit.
    assert all(h.page_url is None and h.url is None for h in result.hits)


def test_chips_of_the_2019_images_tab_are_not_results():
    """A g-scrolling-carousel of related-search chips (links without ?stick=) adds nothing."""
    chip = (
        f'<g-scrolling-carousel><a href="https://www.google.com/search?tbm=isch&amp;q=x&amp;chips=q:x">'
        f'<img id="dimg_1" src="{googlepages.data_uri(1, (60, 60))}"></a></g-scrolling-carousel>'
    )
    page = (FIXTURES / "google" / "rg_meta.html").read_text() + chip
    result = google.parse_page(page)
    assert result.matched == "rg_meta" and len(result.hits) == 3


def test_set_images_src_thumbnails_reach_data_lpage_tiles():
    """Issue 12: the reader of _setImagesSrc scripts was used only for rg_meta pages."""
    uri = googlepages.data_uri(3, (64, 64))
    page = (
        '<div data-lpage="https://shop.example.com/a">'
        f'<img id="dimg_7" src="{googlepages.PLACEHOLDER}"></div>'
        + googlepages.set_images_src(["dimg_7"], uri)
        + " " * 3000
    )
    (hit,) = google.parse_page(page).hits
    assert _sizes([hit]) == [(64, 64)] and hit.page_url == "https://shop.example.com/a"


def test_placeholder_only_tiles_and_relative_landing_pages_are_no_hits():
    page = (
        f'<div data-lpage="/search?q=x"><img src="{googlepages.PLACEHOLDER}"></div>'
        f'<div data-lpage="/search?q=y"><img src="{googlepages.data_uri(4, (50, 50))}"></div>'
    )
    (hit,) = google.parse_page(page).hits
    assert hit.page_url is None and _sizes([hit]) == [(50, 50)]


def test_google_thumbnails_and_pages_are_never_originals_or_landing_pages():
    hit = clean_hit(
        ImageHit(
            url="https://encrypted-tbn0.gstatic.com/images?q=tbn:A",
            page_url="https://www.google.com/search?q=x",
        )
    )
    assert hit is not None and (hit.url, hit.thumbnail_url, hit.page_url) == (
        None,
        "https://encrypted-tbn0.gstatic.com/images?q=tbn:A",
        None,
    )
    assert clean_hit(ImageHit(url="https://www.google.co.uk/logo.png")) is None
    assert clean_hit(ImageHit(url="http://[::1/a.jpg")) is None  # malformed: dropped, no crash
    spacer = clean_hit(
        ImageHit(
            url="https://cdn.example.com/img/spacer.gif",
            thumbnail_url="https://t.example.com/1x1.png",
        )
    )
    assert spacer is None
    kept = clean_hit(ImageHit(url="https://cdn.example.com/a.jpg", page_url="/url?q=https://x"))
    assert (
        kept is not None and kept.url == "https://cdn.example.com/a.jpg" and kept.page_url is None
    )


def test_inline_array_whose_original_is_on_gstatic_keeps_only_the_thumbnail():
    tile = (
        '["https://encrypted-tbn0.gstatic.com/images?q=tbn:T1",180,240],'
        '["https://lh3.googleusercontent.com/real.jpg",600,800]'
    )
    page = f"<html><script>var x=[0,[{tile}]];</script>{' ' * 3000}</html>"
    (hit,) = google.parse_page(page).hits
    assert (
        hit.url == "https://lh3.googleusercontent.com/real.jpg"
    )  # a user's photo on a Google host is an original
    gstatic = page.replace(
        "https://lh3.googleusercontent.com/real.jpg", "https://www.gstatic.com/real.jpg"
    )
    (hit,) = google.parse_page(gstatic).hits
    assert (hit.url, hit.thumbnail_url) == (
        None,
        "https://encrypted-tbn0.gstatic.com/images?q=tbn:T1",
    )


def test_placeholder_bytes():
    gif = googlepages.PLACEHOLDER.split(",", 1)[1]
    assert is_placeholder_data(base64.b64decode(gif)) and is_placeholder_data(b"GIF89a")
    assert is_placeholder_data(_png(1, 40)) and not is_placeholder_data(_png(3, 3))


def _png(w: int, h: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (w, h)).save(buf, "PNG")
    return buf.getvalue()


def _bing_tile(meta: dict, img: str) -> str:
    return (
        f'<div class="imgpt"><a class="iusc" m=\'{json.dumps(meta)}\' href="/images/search">'
        f"{img}</a></div>"
    )


def test_bing_thumbnail_from_mimg_when_turl_is_empty():
    """Issue 12: tiles whose m JSON had an empty turl kept no thumbnail."""
    tiles = [
        _bing_tile(
            {"murl": "https://a.example.com/1.jpg", "turl": ""},
            '<img class="mimg" src="https://tse1.mm.bing.net/th?id=OIP.X">',
        ),
        _bing_tile(
            {"murl": "https://a.example.com/2.jpg", "turl": ""},
            f'<img class="mimg" src="{googlepages.data_uri(5, (60, 40))}">',
        ),
        _bing_tile(
            {"murl": "https://a.example.com/3.jpg"},
            '<img class="mimg" src="./bing_files/OIP.3.jpg">',
        ),
    ]
    first, second, third = bing.parse_page("".join(tiles)).hits
    assert first.thumbnail_url == "https://tse1.mm.bing.net/th?id=OIP.X"
    assert _sizes([second]) == [(60, 40)]
    assert third.thumbnail_path == "./bing_files/OIP.3.jpg"


def test_icons_and_other_entities_in_a_knowledge_panel_are_no_hits():
    """A favicon without declared size, and "people also search for" entities, are not results."""
    icon = (
        f'<div data-attrid="kc:/x:y"><img src="{googlepages.data_uri(7, (18, 18))}">'
        "<span>Wikipedia</span></div>"
    )
    others = (
        '<div data-attrid="kc:/people/person:people also search for">'
        '<a href="/search?q=o&amp;stick=H">'
        f'<img src="{googlepages.data_uri(8, (90, 90))}"><div>Someone else</div></a></div>'
    )
    assert google.parse_page(icon + others + " " * 3000).hits == []


def test_inline_array_hits_borrow_the_script_thumbnail_not_the_placeholder():
    """Issue 12: on 2024 inline-array pages the tile's 1x1 GIF was attached as the thumbnail."""
    arrays = (FIXTURES / "google" / "inline_arrays.html").read_text()
    tile = (
        '<div data-lpage="https://shop.example.com/aj1-chicago">'
        f'<img id="dimg_c" src="{googlepages.PLACEHOLDER}"></div>'
        + googlepages.set_images_src(["dimg_c"], googlepages.data_uri(9, (70, 50)))
    )
    result = google.parse_page(arrays + tile)
    assert result.matched == "inline_arrays" and len(result.hits) == 3
    assert _sizes(result.hits) == [(70, 50), None, None]


def test_malformed_links_around_an_image_do_not_crash_the_parser():
    page = (
        f'<div data-lpage="http://[::1/p"><a href="http://[::1/q">'
        f'<img src="{googlepages.data_uri(10, (50, 50))}"></a></div>' + " " * 3000
    )
    (hit,) = google.parse_page(page).hits
    assert (hit.url, hit.page_url) == (None, None)


def test_images_block_without_data_lpage_items_gives_titles_per_item():
    """An "images universal" block whose items are plain divs: each item's own title."""
    items, scripts = [], []
    for i in range(3):
        items.append(
            f'<div><a href="/search?q=y&amp;tbm=isch&amp;imgrc=r{i}"><g-img><img id="dimg_u{i}" '
            f'src="{googlepages.PLACEHOLDER}"></g-img></a><div>Strip item {i}</div>'
            f'<a href="https://site{i}.example.com/p">site{i}</a></div>'
        )
        scripts.append(
            googlepages.set_images_src([f"dimg_u{i}"], googlepages.data_uri(20 + i, (90, 60)))
        )
    page = (
        f'<div data-attrid="images universal"><h3>Images</h3>{"".join(items)}</div>'
        + "".join(scripts)
        + " " * 3000
    )
    result = google.parse_page(page)
    assert [h.title for h in result.hits] == [f"Strip item {i}" for i in range(3)]
    assert _sizes(result.hits) == [(90, 60)] * 3
    # The source link beside each image is its landing page; the /search link is not.
    assert [h.page_url for h in result.hits] == [f"https://site{i}.example.com/p" for i in range(3)]


def _shared_landing_page_grid(tiles: int, per_page: int, repeated: int) -> str:
    return googlepages.images_grid(tiles, per_page, repeated)


def test_tiles_that_share_a_landing_page_are_each_a_hit():
    """Issue 26: on a 2025 Images page of 200 tiles, every tile after the first on a landing
    page was dropped (176 kept): a hit is its image, never its landing page alone."""
    result = google.parse_page(_shared_landing_page_grid(200, per_page=3, repeated=0))
    assert result.matched == "data_lpage" and len(result.hits) == 200 and result.repeats == 0
    assert len({h.key for h in result.hits}) == 200
    twice = google.parse_page(_shared_landing_page_grid(200, per_page=3, repeated=5))
    assert len(twice.hits) == 195 and twice.repeats == 5  # the same photo again is a repeat


def test_crawl_page_stores_every_tile_and_names_the_repeats(tmp_path):
    from typer.testing import CliRunner

    from catalog import open_catalog
    from crawler.cli import app

    page = tmp_path / "page.html"
    page.write_text(_shared_landing_page_grid(60, per_page=4, repeated=3), encoding="utf-8")
    args = ["--class", "Yeezy_350", "--page", str(page), "--limit", "100"]
    result = CliRunner().invoke(app, [*args, "--catalog", str(tmp_path / "catalog.db")])
    assert result.exit_code == 0, result.output
    assert "3 repeated in the results" in result.output.replace("\n", " ")
    with open_catalog(tmp_path / "catalog.db") as cat:
        assert cat.table("images").count == 57


def test_titles_are_unescaped_once_from_html_and_from_json():
    """Issue 26: `2011 &amp;amp; 2012` in a tile's alt came out as `2011 & 2012`: the HTML
    parser had unescaped it already, and the hit unescaped it again."""
    html_page = _shared_landing_page_grid(1, per_page=1, repeated=0).replace(
        'alt="photo 0"', 'alt="2011 &amp;amp; 2012"'
    )
    (hit,) = google.parse_page(html_page).hits
    assert hit.title == "2011 &amp; 2012"
    meta = {
        "ou": "https://a.example.com/x.jpg",
        "pt": "Zebra \\u0026amp; Co",
        "ru": "https://a.example.com/",
    }
    rg = f'<div class="rg_meta">{json.dumps(meta).replace(chr(92) * 2, chr(92))}</div>'
    (hit,) = google.parse_page(f"<html><body>{rg}</body></html>").hits
    assert hit.title == "Zebra & Co"


def test_no_run_again_when_every_hit_was_tried(tmp_path):
    """Issue 26: after a crawl that tried every hit, the summary still said "stopped at the
    limit ... run the same command again", and the next run found nothing new."""
    from typer.testing import CliRunner

    from crawler.cli import app

    page = tmp_path / "page.html"
    page.write_text(_shared_landing_page_grid(8, per_page=2, repeated=0), encoding="utf-8")
    args = ["--class", "Yeezy_350", "--page", str(page), "--catalog", str(tmp_path / "c.db")]
    result = CliRunner().invoke(app, [*args, "--limit", "8"])
    out = result.output.replace("\n", " ")
    assert result.exit_code == 0 and "every hit the results held has been tried" in out, out
    assert "run the same command again" not in out
    fewer = CliRunner().invoke(
        app, [*args[:-2], "--catalog", str(tmp_path / "d.db"), "--limit", "5"]
    )
    out = fewer.output.replace("\n", " ")
    assert "3 hits of the pages read were left untried" in out and "run the same command" in out
