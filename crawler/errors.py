"""Exceptions raised by the crawler; `crawl` turns them into a message and exit code 1.

`CrawlerError` is the crawler's own base, not a `CatalogError`, so the catalog's errors and
the crawler's stay apart: the CLI names it to `clikit.catalog_for_cli`, and code that records
per-class failures catches both.
"""


class CrawlerError(Exception):
    """A crawl could not be done; the message says why and what to try."""


class UnknownEngineError(CrawlerError):
    """An engine name that is not registered."""

    def __init__(self, name: str, known: list[str]):
        self.name = name
        super().__init__(f"unknown engine {name!r}; choose one of: {', '.join(known)}")


class InvalidFilterError(CrawlerError):
    """A search filter the engine does not support, or an unknown value for it."""


class EngineParseError(CrawlerError):
    """A result page that parses to no hits in any known format."""


class BlockedError(CrawlerError):
    """The engine answered with a captcha, consent form or JavaScript wall."""

    def __init__(self, engine: str, why: str):
        self.engine = engine
        self.why = why
        browser = (
            ""
            if engine == "google-browser"
            else (
                "Try --engine google-browser (a real headless browser: "
                "pip install 'imageset[browser]' "
                "and apt-get install chromium), "
            )
        )
        super().__init__(
            f"{engine} blocked the search ({why}). {browser or 'Try '}another engine "
            "(--engine bing or duckduckgo), or save the result page from a browser and crawl "
            "it with --page saved.html"
        )


class FetchError(CrawlerError):
    """A search page could not be downloaded; `reason` is a short code (dns, timeout, ...)."""

    def __init__(self, url: str, reason: str, detail: str = ""):
        self.url = url
        self.reason = reason
        hint = ""
        if reason in ("dns", "refused", "timeout", "reset", "connection", "tls"):
            hint = (
                ". Check the network, or crawl a result page saved from a browser with "
                "--page saved.html"
            )
        elif reason == "private-address":
            hint = (
                ". The crawler refuses private and loopback addresses; for a local test server "
                "give --allow-private HOST"
            )
        super().__init__(
            f"cannot fetch {url}: {reason}" + (f" ({detail})" if detail else "") + hint
        )
