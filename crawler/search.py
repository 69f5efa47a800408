"""Search engines as one kind of thing: each produces result pages for the crawl.

An `Engine` turns a query into `ResultPage`s (from plain HTTP searches, a headless
browser, or several engines in turn) and reads a page saved from a browser. `ENGINES`
is the one registry the CLI and the crawl use: google, google-browser, bing, duckduckgo
and auto (the default: plain Google, else Google in a browser, else Bing, else DuckDuckGo).
The parsers themselves are the pure modules of `crawler.engines`.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from . import engines as parsers
from .engines import detect_engine, read_results
from .engines.kinds import page_kind
from .errors import BlockedError, CrawlerError, EngineParseError, FetchError, UnknownEngineError
from .fetch import MB, Fetcher
from .hits import ImageHit, ParseResult

# Fetch failures that mean "no network here", not "this engine is unwell".
NETWORK_REASONS = ("dns", "refused", "connection", "reset", "timeout", "tls")
# Result pages from elsewhere than a search URL (tests, other tools): (query, hits wanted)
# -> (description, hits) per page; it may raise a CrawlerError after yielding some.
PageSource = Callable[[str, int], Iterable[tuple[str, list[ImageHit]]]]
# Result pages read at most per search (a search also stops at a page with nothing new).
DEFAULT_MAX_PAGES = 10


@dataclass
class ResultPage:
    """One page of hits, the engine that produced them, and the folder of its saved thumbnails."""

    description: str
    hits: list[ImageHit]
    engine: str
    page_dir: Path | None = None
    repeats: int = 0  # results the parser left out as repeats of an image on the page


@dataclass
class SearchSettings:
    """How to search: filters, pages, base URLs per engine (mirrors, test servers), the browser."""

    filters: dict[str, str] = field(default_factory=dict)
    max_pages: int = DEFAULT_MAX_PAGES
    search_urls: dict[str, str] = field(default_factory=dict)
    browser_path: Path | None = None
    wanted: int = 200  # hits to ask of a browser (it starts from the first result every time)
    notes: list[str] = field(default_factory=list)  # why an engine was left, for the summary


class Engine:
    """An entry of the registry; subclasses say where result pages come from."""

    name = ""

    def search(
        self, fetcher: Fetcher, query: str, settings: SearchSettings
    ) -> Iterator[ResultPage]:
        raise NotImplementedError

    def read_saved(self, text: str, where: str) -> tuple[str, ParseResult]:
        """(the engine of the page, its hits) for a page saved from a browser."""
        return _read_saved(parsers.get_engine("google"), text, where)


class HttpEngine(Engine):
    """An engine searched over plain HTTP: its parser module builds URLs and reads pages."""

    def __init__(self, module: ModuleType):
        self.module, self.name = module, module.NAME

    def search(
        self, fetcher: Fetcher, query: str, settings: SearchSettings
    ) -> Iterator[ResultPage]:
        """Result pages until one brings no hit not seen before."""
        engine, base = self.module, settings.search_urls.get(self.name)
        token = {}
        if getattr(engine, "NEEDS_TOKEN", False):
            text, _ = _get_page(fetcher, engine.token_url(query, base))
            token = {"token": engine.parse_token(text)}
        seen: set[str] = set()
        for page in range(settings.max_pages):
            url = engine.build_search_url(query, page, settings.filters, base, **token)
            text, status = _get_page(fetcher, url, engine)
            if page == 0:
                result = read_results(engine, text, url, status)
            else:
                result = engine.parse_page(text)
                if not result.hits:
                    engine.check_blocked(
                        text, url, status
                    )  # a wall, or just the end of the results
            fresh = [hit for hit in result.hits if hit.key not in seen]
            if not fresh:
                return
            seen.update(hit.key for hit in fresh)
            yield ResultPage(
                f"{page + 1} ({url}): {result.describe()}", fresh, self.name, None, result.repeats
            )

    def read_saved(self, text: str, where: str) -> tuple[str, ParseResult]:
        return _read_saved(self.module, text, where)


class BrowserEngine(Engine):
    """Google Images rendered in a headless Chromium (the `browser` extra)."""

    name = "google-browser"

    def search(
        self, fetcher: Fetcher, query: str, settings: SearchSettings
    ) -> Iterator[ResultPage]:
        from .browser import result_pages  # imports Playwright only when asked for

        # A mirror (or test server) given for plain Google serves the browser too.
        base = settings.search_urls.get(self.name) or settings.search_urls.get("google")
        for description, hits in result_pages(
            query,
            limit=settings.wanted,
            search_url=base,
            browser_path=settings.browser_path,
            allow_private=fetcher.allow_private,
        ):
            # The rendered page's in-page repeats (`browser.merge.PageHits`), as --page names them.
            yield ResultPage(description, hits, self.name, None, getattr(hits, "repeats", 0))


class ExternalEngine(Engine):
    """Result pages handed in by the caller (`CrawlOptions.pages_from`)."""

    def __init__(self, source: PageSource, name: str | None):
        self.source, self.name = source, name or "external"

    def search(
        self, fetcher: Fetcher, query: str, settings: SearchSettings
    ) -> Iterator[ResultPage]:
        for description, hits in self.source(query, settings.wanted):
            yield ResultPage(
                description, hits, next((h.engine for h in hits if h.engine), self.name)
            )


class AutoEngine(Engine):
    """Plain Google; on a wall, Google in a browser when one is installed; then Bing, DuckDuckGo.

    It also moves on when an engine's results run out before the crawl has enough. Every
    move is noted (`SearchSettings.notes`) for the summary.
    """

    name = "auto"
    ORDER = ("google", "google-browser", "bing", "duckduckgo")

    def search(
        self, fetcher: Fetcher, query: str, settings: SearchSettings
    ) -> Iterator[ResultPage]:
        failures: dict[str, CrawlerError] = {}
        gave = False
        for name in self.ORDER:
            why_not = _skip_reason(name, settings, failures)
            if why_not:
                settings.notes.append(f"{name}: skipped, {why_not}")
                continue
            pages = 0
            try:
                for page in ENGINES[name].search(fetcher, query, settings):
                    pages, gave = pages + 1, True
                    yield page
            except CrawlerError as exc:
                failures[name] = exc
                settings.notes.append(f"{name}: {_short(exc)}; moved on")
                continue
            settings.notes.append(
                f"{name}: results ran out after {pages} page(s)" if pages else f"{name}: no results"
            )
        if not gave:
            raise _all_failed(failures)

    def read_saved(self, text: str, where: str) -> tuple[str, ParseResult]:
        found = detect_engine(text)
        if found is None:
            return _read_saved(
                parsers.get_engine("google"), text, where
            )  # raises with the formats tried
        return found[0].NAME, found[1]


def _skip_reason(
    name: str, settings: SearchSettings, failures: dict[str, CrawlerError]
) -> str | None:
    """Why auto does not try `name` now, or None: the browser goes only where plain Google hit a
    wall."""
    if name != "google-browser":
        return None
    if "google" not in failures:
        return "plain Google was not blocked"
    if _offline(failures.values()):
        return "the network is unreachable"
    return browser_missing(settings.browser_path)


def browser_missing(browser_path: Path | None = None) -> str | None:
    """What google-browser lacks here (Playwright, a Chromium), or None when it can run."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright is not installed (pip install 'imageset[browser]')"
    from .browser import find_browser

    try:
        if find_browser(browser_path):
            return None
    except CrawlerError as exc:
        return str(exc)
    if _playwright_chromium():
        return None
    return (
        "no Chromium found (Debian/Ubuntu: apt-get install chromium; "
        "or: playwright install chromium)"
    )


def _playwright_chromium() -> bool:
    """True when `playwright install chromium` has put a browser in its cache."""
    roots = [
        os.environ.get("PLAYWRIGHT_BROWSERS_PATH", ""),
        "~/.cache/ms-playwright",
        "~/Library/Caches/ms-playwright",
        os.path.join(os.environ.get("LOCALAPPDATA", "~"), "ms-playwright"),
    ]
    return any(
        glob.glob(os.path.join(os.path.expanduser(root), "chromium*")) for root in roots if root
    )


def _offline(failures: Iterable[CrawlerError]) -> bool:
    return any(isinstance(exc, FetchError) and exc.reason in NETWORK_REASONS for exc in failures)


def _short(exc: CrawlerError) -> str:
    if isinstance(exc, BlockedError):
        return f"blocked ({exc.why})"
    if isinstance(exc, FetchError):
        return f"unreachable ({exc.reason})"
    return str(exc).split(". ")[0].removeprefix("google-browser: ")


def _all_failed(failures: dict[str, CrawlerError]) -> CrawlerError:
    if failures and all(
        isinstance(e, FetchError) and e.reason in NETWORK_REASONS for e in failures.values()
    ):
        first = next(iter(failures.values()))
        return CrawlerError(
            f"no network: cannot reach {', '.join(failures)} ({str(first).split('. Check')[0]}). "
            "Check the connection, or crawl a result page saved from a browser with "
            "--page saved.html"
        )
    reasons = "; ".join(f"{name}: {_short(exc)}" for name, exc in failures.items())
    return CrawlerError(
        f"every engine failed ({reasons or 'no engine gave results'}). "
        "Save a result page from a browser and crawl it with --page saved.html"
    )


def _get_page(
    fetcher: Fetcher, url: str, engine: ModuleType | None = None
) -> tuple[str, int | None]:
    result = fetcher.get(url, max_bytes=20 * MB, headers=getattr(engine, "HEADERS", None))
    text = (result.data or b"").decode("utf-8", errors="replace")
    if not result.ok:
        if engine is not None and result.http_status in (403, 429):
            engine.check_blocked(text, result.final_url, result.http_status)
        raise FetchError(url, result.reason or "error", result.detail)
    return text, result.http_status


def _read_saved(engine: ModuleType, text: str, where: str) -> tuple[str, ParseResult]:
    """Parse a saved page with `engine`; the errors say what the page really is."""
    try:
        return engine.NAME, read_results(engine, text, where)
    except (BlockedError, EngineParseError) as exc:
        kind = page_kind(text) if detect_engine(text) is None else None
        if kind and " web " in kind:
            raise EngineParseError(
                f"{where} is {kind}, which lists pages, not images: open the engine's Images "
                "tab, wait for the images, save that page and crawl it"
            ) from None
        if not isinstance(exc, BlockedError):
            _raise_other_engine(engine, text, where)
            raise
        raise CrawlerError(
            f"{where} is not a result page but {exc.why}: open the search in a browser, "
            "get past it "
            "(solve the captcha, accept the form), wait for the images, then save the page again "
            '("Web page, complete") and crawl that file'
        ) from None


def _raise_other_engine(engine: ModuleType, text: str, where: str) -> None:
    """Raise when another engine's parser reads the page: it is that engine's page."""
    found = detect_engine(text)
    if found is not None:
        raise EngineParseError(
            f"{where} is a {found[0].NAME} result page, not a {engine.NAME} one: "
            "leave out --engine "
            f"(saved pages are recognised) or give --engine {found[0].NAME}"
        ) from None


ENGINES: dict[str, Engine] = {
    "auto": AutoEngine(),
    "google": HttpEngine(parsers.google),
    "google-browser": BrowserEngine(),
    "bing": HttpEngine(parsers.bing),
    "duckduckgo": HttpEngine(parsers.duckduckgo),
}
DEFAULT_ENGINE = "auto"


def parse_search_urls(values: list[str]) -> tuple[str | None, dict[str, str]]:
    """`--search-url` values: (a plain URL, for the engine chosen; {engine: URL} for ENGINE=URL).

    Raises:
        CrawlerError: an unknown engine name, or two plain URLs.
    """
    plain: list[str] = []
    named: dict[str, str] = {}
    for value in values:
        name, sep, url = value.partition("=")
        if sep and "://" not in name:
            get_engine(name)  # an unknown name lists the choices
            named[name] = url
        else:
            plain.append(value)
    if len(plain) > 1:
        raise CrawlerError("give one plain --search-url, or one ENGINE=URL per engine")
    return (plain[0] if plain else None), named


def get_engine(name: str | None) -> Engine:
    """The registered engine `name` (default auto); UnknownEngineError lists the choices."""
    try:
        return ENGINES[name or DEFAULT_ENGINE]
    except KeyError:
        raise UnknownEngineError(str(name), list(ENGINES)) from None
