"""Issue 26: Google markups read on fixtures built from the element shape of real pages.

Each fixture names, in its first line, the real page its shape was taken from.
"""

from __future__ import annotations

import io

from crawler_tests import googlepages
from crawler_tests.crawlserver import FIXTURES
from PIL import Image

from crawler.engines import google


def _size(data: bytes | None) -> tuple[int, int] | None:
    return Image.open(io.BytesIO(data)).size if data else None


def test_all_page_2025_strip_tiles_known_only_by_docid_are_read():
    """The 2025 strip tiles carry data-docid but no data-lpage and no data-attrid: the
    crawler read none of them (it kept a 38x56 book cover from the knowledge panel)."""
    text = (FIXTURES / "google" / "all_page_2025.html").read_text(encoding="utf-8")
    assert text.startswith("<!-- Element shape:")
    result = google.parse_page(text)
    assert result.matched == "docid_tiles" and result.counts["docid_tiles"] == 3
    assert [h.title for h in result.hits] == [
        "Yeezy Boost 350 V2 & friends",
        "adidas Yeezy 350 review",
        "Yeezy 350 on feet",
    ]
    assert [h.page_url for h in result.hits] == [
        f"https://shop{i}.example.com/yeezy-350" for i in range(3)
    ]
    # Two inline thumbnails and one set by _setImagesSrc; the 16px favicons are no hits.
    assert [_size(h.thumbnail_data) for h in result.hits] == [(204, 192), (180, 192), (204, 153)]
    assert all(h.url is None for h in result.hits)


def test_crawl_page_stores_the_2025_strip_and_nothing_under_min_side(tmp_path):
    from typer.testing import CliRunner

    from catalog import open_catalog
    from crawler.cli import app

    page = tmp_path / "all.html"
    page.write_text(googlepages.all_page_2025(small_tile=True), encoding="utf-8")
    args = ["--class", "Yeezy_350", "--page", str(page), "--min-side", "100"]
    result = CliRunner().invoke(app, [*args, "--catalog", str(tmp_path / "catalog.db")])
    assert result.exit_code == 0, result.output
    with open_catalog(tmp_path / "catalog.db") as cat:
        rows = sorted(cat.table("images").rows, key=lambda r: r["rank"])
    assert [(r["width"], r["height"]) for r in rows] == [(204, 192), (180, 192), (204, 153)]
    assert all(r["title"] for r in rows)


def test_2015_script_thumbnails_reach_their_hits_by_img_name():
    """2015 pages keep the first thumbnails in `var data=[[["<tbnid>:","data:..."]]]`; they
    were not attached, so those hits had no fallback when the original was gone."""
    text = (FIXTURES / "google" / "images_2015.html").read_text(encoding="utf-8")
    assert text.startswith("<!-- Element shape:")
    result = google.parse_page(text)
    assert result.matched == "rg_meta"
    assert [_size(h.thumbnail_data) for h in result.hits] == [(201, 251), (201, 251), None]
    assert [h.url for h in result.hits] == [f"https://img{i}.example.com/{i}.jpg" for i in range(3)]


def test_2015_script_thumbnails_reach_imgres_hits_without_rg_meta():
    result = google.parse_page(googlepages.images_2015(rg_meta=False, scripted=3))
    assert result.matched == "imgres"
    assert [_size(h.thumbnail_data) for h in result.hits] == [(201, 251)] * 3
    # Each thumbnail is its own tile's: the script's order is not the tiles' order.
    reordered = googlepages.images_2015(rg_meta=False, scripted=3)
    first, second = googlepages.IMAGES_2015_TBNIDS[:2]
    reordered = reordered.replace(f'["{first}"', '["SWAP"').replace(f'["{second}"', f'["{first}"')
    reordered = reordered.replace('["SWAP"', f'["{second}"')
    hits = google.parse_page(reordered).hits
    assert hits[0].thumbnail_data == result.hits[1].thumbnail_data
    assert hits[1].thumbnail_data == result.hits[0].thumbnail_data
