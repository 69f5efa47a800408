"""Google parsers on hand-written pages, one per known markup, and on the real 2019 pages."""

from __future__ import annotations

import io
import re

import pytest
from crawler_tests.crawlserver import FIXTURES
from PIL import Image

from crawler.engines import google, read_results
from crawler.errors import BlockedError, EngineParseError


def parse(name: str):
    return google.parse_page((FIXTURES / "google" / name).read_text(encoding="utf-8"))


def test_rg_meta_2019():
    result = parse("rg_meta.html")
    assert result.matched == "rg_meta" and result.counts["rg_meta"] == 3
    first, second, third = result.hits
    assert (first.url, first.width, first.height, first.page_url, first.rank) == (
        "https://images.example.com/yeezy-1.jpg",
        800,
        600,
        "https://shop.example.com/yeezy-1",
        1,
    )
    assert first.title == 'Yeezy Boost 350 V2 "Zebra"'
    assert first.thumbnail_url == "https://encrypted-tbn0.gstatic.com/images?q=tbn:AAA"
    # Inline <img src="data:..."> and the _setImagesSrc script (with \x3d escapes) both decode.
    assert Image.open(io.BytesIO(first.thumbnail_data)).size == (40, 40)
    assert Image.open(io.BytesIO(second.thumbnail_data)).size == (40, 40)
    assert second.url == "https://cdn.example.org/350/beluga.png?w=1920" and (
        second.width,
        second.height,
    ) == (1920, 1080)
    assert third.thumbnail_data is None and third.thumbnail_path == "./rg_meta_files/ccc.jpg"


def test_af_init_data_2020():
    result = parse("af_init_data.html")
    assert result.matched == "af_init_data"
    assert result.counts == {
        "rg_meta": 0,
        "af_init_data": 2,
        "inline_arrays": 0,
        "ischj": 0,
        "imgres": 0,
        "data_lpage": 0,
        "docid_tiles": 0,
        "image_blocks": 0,
    }
    assert [(h.url, h.width, h.height, h.page_url, h.title, h.rank) for h in result.hits] == [
        (
            "https://images.example.com/af-1.jpg",
            800,
            600,
            "https://shop.example.com/af-1",
            'Air Max 90 "Infrared"',
            1,
        ),
        (
            "https://cdn.example.org/am90/white.webp",
            1000,
            1000,
            "https://blog.example.org/am90",
            "Air Max 90 White",
            2,
        ),
    ]
    assert result.hits[0].thumbnail_url == "https://encrypted-tbn0.gstatic.com/images?q=tbn:ID1"


def test_inline_arrays_2023():
    result = parse("inline_arrays.html")
    assert result.matched == "inline_arrays" and result.counts["inline_arrays"] == 3
    chicago, bred, mocha = result.hits
    assert (chicago.url, chicago.width, chicago.height) == (
        "https://images.example.com/aj1/chicago.jpg",
        1200,
        1200,
    )
    assert (
        chicago.title == "Air Jordan 1 & Chicago"
        and chicago.page_url == "https://shop.example.com/aj1-chicago"
    )
    assert chicago.thumbnail_url == "https://encrypted-tbn0.gstatic.com/images?q=tbn:X1&s"
    assert (bred.width, bred.height, bred.title) == (1280, 720, "Bred Toe")
    # A tile without a "2003" dict keeps its original; it does not borrow the next tile's page.
    assert mocha.url == "https://kicks.example.net/aj1/mocha.jpg" and mocha.page_url is None


def test_ischj_json():
    result = parse("ischj.json")
    assert result.matched == "ischj"
    assert [(h.url, h.width, h.height, h.page_url, h.title) for h in result.hits] == [
        (
            "https://images.example.com/ischj-1.jpg",
            1000,
            750,
            "https://shop.example.com/ischj-1",
            "Yeezy 500 Blush",
        ),
        (
            "https://cdn.example.org/ischj-2.png",
            640,
            480,
            "https://blog.example.org/ischj-2",
            "Yeezy 500 Utility Black",
        ),
    ]


def test_imgres_links():
    result = parse("imgres.html")
    assert result.matched == "imgres"
    first, second = result.hits
    assert (first.url, first.page_url, first.width, first.height, first.title) == (
        "https://images.example.com/nmd/triple-black.jpg",
        "https://shop.example.com/nmd-1",
        640,
        480,
        "NMD R1 Triple Black",
    )
    assert first.thumbnail_data is not None
    assert second.url == "https://cdn.example.org/nmd/og.png?v=2"
    assert second.thumbnail_url == "https://encrypted-tbn0.gstatic.com/images?q=tbn:T2"


def test_data_lpage_tiles_fall_back_to_thumbnails():
    result = parse("data_lpage.html")
    assert (
        result.matched == "data_lpage" and len(result.hits) == 2
    )  # the tile without a thumbnail is skipped
    hit = result.hits[0]
    assert hit.url is None and hit.page_url == "https://shop.example.com/ub4-core-black"
    assert hit.title == "Ultra Boost 4.0 Core Black"
    assert Image.open(io.BytesIO(hit.thumbnail_data)).size == (40, 40)
    assert hit.key.startswith("thumbnail:sha256:")


@pytest.mark.parametrize(
    "name, why",
    [
        ("sorry.html", "a captcha form"),
        ("consent.html", "a cookie consent form"),
        ("jswall.html", "a JavaScript-required page"),
    ],
)
def test_blocked_pages_raise_a_clear_error(name, why):
    with pytest.raises(BlockedError) as info:
        read_results(google, (FIXTURES / "google" / name).read_text())
    message = str(info.value)
    assert why in message and "google" in message and "--engine" in message and "--page" in message


def test_redirect_to_sorry_is_blocked_even_with_a_plain_body():
    with pytest.raises(BlockedError, match="captcha page"):
        read_results(
            google,
            "<html>" + "x" * 5000 + "</html>",
            "https://www.google.com/sorry/index?continue=x",
            429,
        )


def test_tiny_page_is_blocked():
    with pytest.raises(BlockedError, match="13-byte page"):
        read_results(google, "<html></html>")


def test_page_without_results_is_an_error_naming_the_formats_tried():
    with pytest.raises(EngineParseError) as info:
        read_results(google, (FIXTURES / "google" / "no_results.html").read_text())
    formats = "rg_meta, af_init_data, inline_arrays, ischj, imgres, data_lpage, docid_tiles"
    assert formats + ", image_blocks" in str(info.value)


@pytest.mark.slow  # real pages from ../shared
def test_real_2019_pages_parse_to_their_rg_meta_count(shared_dir):
    """Each saved page in ../shared/fixtures/google-2019 gives one hit per rg_meta object."""
    pages = sorted((shared_dir / "fixtures" / "google-2019").glob("*.html"))
    assert len(pages) == 10
    for path in pages:
        text = path.read_text(encoding="utf-8")
        expected = len(re.findall(r'<div class="rg_meta', text))
        result = google.parse_page(text)
        assert result.matched == "rg_meta", path.name
        assert len(result.hits) == expected and 100 <= expected <= 300, path.name
        for hit in result.hits:
            assert hit.url.startswith("http") and hit.page_url.startswith("http"), (path.name, hit)
            assert hit.width > 0 and hit.height > 0 and hit.title, (path.name, hit)
        # Every page inlines the first 20 thumbnails.
        assert sum(hit.thumbnail_data is not None for hit in result.hits) >= 20, path.name


def test_thumbnails_borrowed_only_for_the_same_image():
    """A rendered tile's inline thumbnail goes to the array hit with the same landing page,
    unless that page has several results (then nobody can tell which image it shows)."""
    arrays = (FIXTURES / "google" / "inline_arrays.html").read_text()
    thumb = re.search(
        r'src="(data:image/jpeg;base64,[^"]+)"',
        (FIXTURES / "google" / "data_lpage.html").read_text(),
    )[1]
    tiles = (
        f'<div data-lpage="https://shop.example.com/aj1-chicago"><img src="{thumb}"></div>'
        f'<div data-lpage="https://blog.example.org/bred"><img src="{thumb}"></div>'
    )
    result = google.parse_page(arrays + tiles)
    assert result.matched == "inline_arrays" and result.counts["data_lpage"] == 2
    assert [h.thumbnail_data is not None for h in result.hits] == [True, True, False]

    shared_page = arrays.replace(
        "https://blog.example.org/bred", "https://shop.example.com/aj1-chicago"
    )
    result = google.parse_page(shared_page + tiles)
    assert [h.thumbnail_data is not None for h in result.hits[:3]] == [False, False, False]
    # The tile no array explains is a result of its own (issue 12), after the grid's.
    assert result.matched == "inline_arrays+data_lpage" and len(result.hits) == 4
    assert (result.hits[3].url, result.hits[3].page_url) == (None, "https://blog.example.org/bred")
