"""Helpers every engine parser shares: data URIs, JS strings, blocked-page signals."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from urllib.parse import SplitResult, urlsplit

from bs4 import BeautifulSoup
from bs4.builder._htmlparser import BeautifulSoupHTMLParser, HTMLParserTreeBuilder

from ..errors import BlockedError

_DATA_URI = re.compile(r"^data:image/[\w.+-]+;base64,(?P<b64>.+)$", re.S)

# Pages under this size that parse to nothing are walls, not result pages.
TINY_PAGE = 2048


class _ClosedVoidTags:
    """What bs4's html.parser builder keeps in a list: void tags (`<img>`) it has already
    closed, so that a later `</img>` is ignored. The list grew by one per `<img>` and every
    end tag scanned it: parsing was quadratic in the number of images, far too slow for a
    large saved page (bench/RESULTS.md). The same multiset, with O(1) operations."""

    def __init__(self) -> None:
        self._count: Counter[str] = Counter()

    def append(self, tag: str) -> None:
        self._count[tag] += 1

    def __contains__(self, tag: object) -> bool:
        return self._count[tag] > 0 if isinstance(tag, str) else False

    def remove(self, tag: str) -> None:
        self._count[tag] -= 1


class _LinearHTMLParser(BeautifulSoupHTMLParser):
    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.already_closed_empty_element = _ClosedVoidTags()  # type: ignore[assignment]


class _LinearTreeBuilder(HTMLParserTreeBuilder):
    def feed(self, markup, _parser_class=_LinearHTMLParser):  # type: ignore[no-untyped-def, override]
        super().feed(markup, _parser_class=_parser_class)


def parse_html(text: str) -> BeautifulSoup:
    """`BeautifulSoup(text, "html.parser")` in time linear in the page's size."""
    return BeautifulSoup(text, builder=_LinearTreeBuilder())


def decode_data_uri(value: str | None) -> bytes | None:
    """The bytes of a `data:image/...;base64,...` URI, or None for anything else."""
    if not value:
        return None
    match = _DATA_URI.match(value.strip())
    if not match:
        return None
    b64 = match.group("b64").replace("\\x3d", "=").replace("\\u003d", "=")
    try:
        return base64.b64decode(b64 + "=" * (-len(b64) % 4))
    except (binascii.Error, ValueError):
        return None


def js_string(raw: str) -> str:
    """Decode the body of a double-quoted JSON/JS string literal (\\u003d, \\/ ...)."""
    try:
        return json.loads(f'"{raw}"')
    except json.JSONDecodeError:
        return raw


def to_int(value: object) -> int | None:
    """An int from JSON numbers or digit strings; None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def first_param(query: Mapping[str, list[str]], key: str) -> str | None:
    """The first value of `key` in a `parse_qs` result, or None when it is absent."""
    values = query.get(key)
    return values[0] if values else None


def split_url(value: object) -> SplitResult | None:
    """`urlsplit(value)`, or None for a value that is not a string or not a well-formed URL.

    `urlsplit` raises ValueError on an unclosed IPv6 bracket (`http://[::1/a.jpg`) and
    `.port` on a port that is not a number below 65536: one such URL in a result page
    would abort the whole crawl. Every URL read from a page goes through here.
    """
    if not isinstance(value, str):
        return None
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        return None
    return parts


# A string that names a scheme ("ftp:", "javascript:") or a network path ("//host"): a URL,
# as opposed to any other string a parser probes (a title, a number in a JSON array).
_LOOKS_LIKE_URL = re.compile(r"^\s*(?:[a-zA-Z][a-zA-Z0-9+.-]{0,15}:|//)")
# Distinct URLs a parser turned down, by reason; set while `count_dropped_urls` runs.
_DROPPED: ContextVar[dict[str, set[str]] | None] = ContextVar("dropped_urls", default=None)
_MAX_DROPPED = 10_000  # distinct URLs remembered per page; more are not counted


def is_http_url(value: object) -> bool:
    """True for a well-formed http(s) URL with a host; the rest is counted as dropped (below)."""
    parts = split_url(value)
    if parts is not None and parts.scheme in ("http", "https") and parts.hostname:
        return True
    if (
        isinstance(value, str)
        and _LOOKS_LIKE_URL.match(value)
        and not value.lstrip().startswith("data:")
    ):
        _note_dropped(
            "malformed-url"
            if parts is None or parts.scheme in ("http", "https")
            else "non-http-url",
            value,
        )
    return False


def _note_dropped(reason: str, url: str) -> None:
    dropped = _DROPPED.get()
    if dropped is not None and sum(map(len, dropped.values())) < _MAX_DROPPED:
        dropped.setdefault(reason, set()).add(url[:2000])


@contextmanager
def count_dropped_urls() -> Iterator[Counter[str]]:
    """Count the distinct URLs that parsers run inside the block turned down, by reason.

    The counter fills when the block ends: malformed-url (`http://[::1/a.jpg`) and
    non-http-url (`ftp:`, `javascript:`, `file:`); inline `data:` thumbnails are not counted.
    A URL seen by several of Google's format parsers counts once.
    """
    counts: Counter[str] = Counter()
    token = _DROPPED.set({})
    try:
        yield counts
    finally:
        dropped = _DROPPED.get() or {}
        _DROPPED.reset(token)
        counts.update({reason: len(urls) for reason, urls in dropped.items()})


# (signal, what it means). Matched case-insensitively against the body.
_WALL_SIGNALS = [
    ('id="captcha-form"', "a captcha form"),
    ("g-recaptcha", "a reCAPTCHA"),
    ("our systems have detected unusual traffic", "an unusual-traffic captcha"),
    ('action="https://consent.', "a cookie consent form"),
    ("before you continue to google", "a cookie consent page"),
    ("turn on javascript to keep searching", "a JavaScript-required page"),
    ('please click <a href="/httpservice/retry/enablejs', "a JavaScript-required page"),
    ("enablejs?sei=", "a JavaScript-required page"),
    ("solve the challenge", "a challenge page"),
    ('class="captcha', "a captcha"),
    ("anomaly-modal", "a bot-detection page"),
]


def blocked_reason(text: str, url: str | None = None, status: int | None = None) -> str | None:
    """Why a page that gave no hits looks like a wall rather than an empty result, or None."""
    parts = split_url(url) if url else None
    if parts is not None:
        if parts.hostname and parts.hostname.startswith("sorry.") or "/sorry/" in parts.path:
            return f"redirected to the captcha page {parts.netloc}{parts.path}"
    lowered = text[:200_000].lower()
    for signal, meaning in _WALL_SIGNALS:
        if signal in lowered:
            return meaning
    if status in (403, 429):
        return f"HTTP {status}"
    if len(text.strip()) < TINY_PAGE:
        return f"a {len(text.strip())}-byte page with no results"
    return None


def check_blocked(
    engine: str, text: str, url: str | None = None, status: int | None = None
) -> None:
    """Raise BlockedError when the page is a captcha, consent form or JavaScript wall."""
    why = blocked_reason(text, url, status)
    if why:
        raise BlockedError(engine, why)
