"""Search URLs, filter tables, Bing and DuckDuckGo parsers, engine lookup."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from crawler_tests.crawlserver import FIXTURES

from crawler.engines import (
    ENGINES,
    bing,
    detect_engine,
    duckduckgo,
    get_engine,
    google,
    read_results,
)
from crawler.engines.filters import parse_filter_args
from crawler.errors import BlockedError, InvalidFilterError, UnknownEngineError


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def test_google_url_pages_and_filters():
    url = google.build_search_url(
        "Yeezy 350 sneaker", 2, {"size": "large", "type": "photo", "time": "year"}
    )
    assert url.startswith("https://www.google.com/search?")
    assert query_of(url) == {
        "q": "Yeezy 350 sneaker",
        "tbm": "isch",
        "udm": "2",
        "ijn": "2",
        "start": "200",
        "tbs": "isz:l,itp:photo,qdr:y",
    }


def test_search_url_base_can_point_elsewhere():
    url = google.build_search_url("x", 0, None, "http://127.0.0.1:9/search")
    assert url.startswith("http://127.0.0.1:9/search?q=x&")


def test_bing_url_pages_and_filters():
    url = bing.build_search_url(
        "Air Force 1", 1, {"color": "grayscale", "license": "creative_commons"}
    )
    assert query_of(url) == {
        "q": "Air Force 1",
        "first": "36",
        "count": "35",
        "mmasync": "1",
        "qft": "+filterui:color2-bw+filterui:licenseType-Any",
    }


def test_duckduckgo_token_then_results_url():
    assert (
        duckduckgo.token_url("Yeezy 500")
        == "https://duckduckgo.com/?q=Yeezy+500&iax=images&ia=images"
    )
    token = duckduckgo.parse_token((FIXTURES / "duckduckgo" / "token.html").read_text())
    url = duckduckgo.build_search_url("Yeezy 500", 1, {"size": "large"}, token=token)
    assert url.startswith("https://duckduckgo.com/i.js?")
    assert query_of(url)["vqd"] == "4-211735460987716523812398471234567890"
    assert query_of(url)["s"] == "100" and query_of(url)["f"] == "size:Large"


def test_duckduckgo_without_token_is_blocked():
    with pytest.raises(BlockedError, match="duckduckgo.*vqd"):
        duckduckgo.parse_token("<html>nothing here</html>")


@pytest.mark.parametrize(
    "engine, filters, message",
    [
        (
            "google",
            {"colour": "red"},
            "google has no filter 'colour'; valid filters: size, type, color, license, time",
        ),
        (
            "google",
            {"size": "huge"},
            "google filter size='huge' is not valid; choose one of: large, medium, icon",
        ),
        (
            "duckduckgo",
            {"time": "day"},
            "duckduckgo has no filter 'time'; valid filters: size, type, color, license",
        ),
        (
            "bing",
            {"type": "vector"},
            "choose one of: photo, clipart, lineart, animated, transparent",
        ),
    ],
)
def test_bad_filters_list_the_valid_choices(engine, filters, message):
    module = get_engine(engine)
    with pytest.raises(InvalidFilterError) as info:
        module.build_search_url(
            "q", 0, filters, **({"token": "t"} if engine == "duckduckgo" else {})
        )
    assert message in str(info.value)


def test_filter_arguments_parse():
    assert parse_filter_args(["size=Large", " type = photo "]) == {"size": "large", "type": "photo"}
    with pytest.raises(InvalidFilterError, match="NAME=VALUE"):
        parse_filter_args(["large"])


def test_unknown_engine_lists_the_known_ones():
    with pytest.raises(UnknownEngineError, match="choose one of: google, bing, duckduckgo"):
        get_engine("altavista")


def test_bing_parser():
    result = bing.parse_page((FIXTURES / "bing" / "iusc.html").read_text())
    assert [
        (h.url, h.page_url, h.thumbnail_url, h.title, h.width, h.height, h.rank)
        for h in result.hits
    ] == [
        (
            "https://images.example.com/af1/white.jpg",
            "https://shop.example.com/af1-white",
            "https://tse1.mm.bing.net/th?id=OIP.AAA",
            "Air Force 1 '07 White",
            1200,
            800,
            1,
        ),
        (
            "https://cdn.example.org/af1/black.png",
            "https://blog.example.org/af1-black",
            "https://tse2.mm.bing.net/th?id=OIP.BBB",
            "Air Force 1 Black",
            None,
            None,
            2,
        ),
    ]


def test_duckduckgo_parser():
    hits = duckduckgo.parse_page((FIXTURES / "duckduckgo" / "i.js.json").read_text()).hits
    assert [(h.url, h.page_url, h.width, h.height, h.title) for h in hits] == [
        (
            "https://images.example.com/y500/blush.jpg",
            "https://shop.example.com/y500-blush",
            1920,
            1080,
            "Yeezy 500 Blush",
        ),
        (
            "https://cdn.example.org/y500/utility.png",
            "https://blog.example.org/y500",
            800,
            600,
            "Yeezy 500 Utility Black",
        ),
    ]


def test_engines_parse_nothing_of_each_other():
    """A Bing page is not a Google page: detection picks the engine whose parser finds hits."""
    engine, result = detect_engine((FIXTURES / "bing" / "iusc.html").read_text())
    assert engine is bing and len(result.hits) == 2
    assert google.parse_page((FIXTURES / "duckduckgo" / "i.js.json").read_text()).hits == []
    assert set(ENGINES) == {"google", "bing", "duckduckgo"}


def test_each_engine_checks_for_walls():
    sorry = (FIXTURES / "google" / "sorry.html").read_text()
    for engine, text, status in ((google, sorry, None), (bing, sorry, None), (duckduckgo, "", 403)):
        with pytest.raises(BlockedError, match=f"{engine.NAME} blocked the search"):
            engine.check_blocked(text, None, status)
    google.check_blocked((FIXTURES / "google" / "no_results.html").read_text())  # no wall


def test_bing_empty_answer_is_blocked_not_empty():
    with pytest.raises(BlockedError, match="bing blocked the search"):
        read_results(bing, "<html><body></body></html>")


@pytest.mark.parametrize(
    "engine, text",
    [
        (
            google,
            "<script>AF_initDataCallback({key: 'ds:1', data:" + "[" * 100_000 + "]});</script>",
        ),
        (google, '{"ischj": {"metadata": [1, null, "x", {"original_image": "nope"}]}}'),
        (google, '{"ischj": []}'),
        (google, '{"ischj": {"metadata": 5}}'),
        (google, '<div class="rg_bx"><div class="rg_meta">["not", "a", "dict"]</div></div>'),
        (google, '<a href="/imgres?imgurl=javascript:alert(1)&w=x">x</a><div data-lpage="">'),
        (duckduckgo, '{"results": [1, "two", null, {"image": "file:///etc/passwd"}]}'),
        (duckduckgo, "[" * 100_000),
        (duckduckgo, '{"results": 7}'),
        (bing, """<a class="iusc" m='["a list"]'></a><a class="iusc" m='{"murl": 5}'></a>"""),
    ],
)
def test_hostile_pages_parse_to_nothing_without_crashing(engine, text):
    assert engine.parse_page(text).hits == []


def test_wrong_json_types_become_none():
    (hit,) = duckduckgo.parse_page(
        '{"results": [{"image": "https://a.example/1.jpg", "title": 5, "url": ["x"], '
        '"width": "640"}]}'
    ).hits
    assert (hit.url, hit.title, hit.page_url, hit.width) == (
        "https://a.example/1.jpg",
        None,
        None,
        640,
    )
