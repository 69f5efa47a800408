"""Search engines: one module of pure functions each, registered by name.

Every engine module has `NAME`, `BASE_URL`, `FILTERS`, `build_search_url(query, page,
filters, base_url)`, `parse_page(text) -> ParseResult` and `check_blocked(text, url,
status)`. Engines with `NEEDS_TOKEN` also have `token_url` and `parse_token` (DuckDuckGo);
`HEADERS`, when present, go with every result-page request. `images.py` says what may be
a thumbnail, an original or a landing page (placeholders and the engine's own hosts never
are). The engines a crawl searches with (auto, google-browser and these) are registered in
`crawler.search`.
"""

from __future__ import annotations

from types import ModuleType

from ..errors import EngineParseError, UnknownEngineError
from ..hits import ParseResult
from . import bing, duckduckgo, google

ENGINES: dict[str, ModuleType] = {"google": google, "bing": bing, "duckduckgo": duckduckgo}


def get_engine(name: str) -> ModuleType:
    """The engine module called `name`; UnknownEngineError lists the known ones."""
    try:
        return ENGINES[name]
    except KeyError:
        raise UnknownEngineError(name, list(ENGINES)) from None


def read_results(
    engine: ModuleType, text: str, url: str | None = None, status: int | None = None
) -> ParseResult:
    """Parse a result page; a page without hits raises BlockedError or EngineParseError.

    A page that parses to nothing is never an empty success: either it looks like a wall
    (captcha, consent, JavaScript-required, tiny) or the engine's markup changed.
    """
    result = engine.parse_page(text)
    if result.hits:
        return result
    engine.check_blocked(text, url, status)
    tried = ", ".join(result.counts) or "none"
    where = f" at {url}" if url else ""
    raise EngineParseError(
        f"{engine.NAME}: the result page{where} ({len(text)} characters) has no image results "
        "in any "
        f"known format (tried: {tried}). The markup may have changed: save the page and report it, "
        "or try --engine google-browser (renders the page in a headless Chromium) or another engine"
    )


def detect_engine(text: str) -> tuple[ModuleType, ParseResult] | None:
    """The first engine whose parser finds hits in a saved page, with its result."""
    for engine in ENGINES.values():
        result = engine.parse_page(text)
        if result.hits:
            return engine, result
    return None
