"""Crawl orchestration: result pages -> hits -> downloads -> the catalog.

Downloads (and the store's files, written to a temp file and renamed) happen on the
fetcher's worker threads; every catalog row is written here, on the calling thread, in one
transaction per batch of finished downloads: image rows first, `fetches` rows after. A
crash (even kill -9) loses at most the open batch's rows; its URLs have no fetch row, so
the re-run downloads them again, finds their files in place and adds the rows, and bytes
already in the catalog are found by sha256 and never stored twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from types import ModuleType

from catalog import (
    Catalog, CatalogError, ImageInfo, InvalidImage, Provenance, add_image, class_names, require_class,
)
from catalog.diskfull import DiskFullError, disk_full
from catalog.fetches import FetchRecord, record_fetches, tried_urls
from catalog.files import PAGE_MAX_BYTES, InputFileError, read_input_file
from catalog.store import put_file, sha256_of
from catalog.tx import transaction

from .download import Attempt, Outcome, download_hit
from .engines import ENGINES, detect_engine, get_engine, read_results
from .engines.common import count_dropped_urls, split_url
from .errors import CrawlerError, EngineParseError, FetchError, UnknownEngineError
from .fetch import MB, Fetcher
from .hits import ImageHit, ParseResult
from .report import CrawlReport

Progress = Callable[[CrawlReport], None]
# Result pages from elsewhere than an engine's search URL (the google-browser engine):
# (query, how many hits are wanted) -> (description, hits) per page. It may raise a
# CrawlerError after yielding what it found, and the crawl keeps those hits.
PageSource = Callable[[str, int], Iterable[tuple[str, list[ImageHit]]]]
BROWSER_ENGINE = "google-browser"
# Threads that write (and fsync) stored files, apart from the download workers.
FILE_WRITERS = 8


@dataclass
class CrawlOptions:
    """What to crawl and how much; `pages` are saved result pages used instead of searching."""

    limit: int = 100
    engine: str | None = None
    query: str | None = None
    search_url: str | None = None
    pages: list[Path] = field(default_factory=list)
    filters: dict[str, str] = field(default_factory=dict)
    max_pages: int = 10
    retry_failed: bool = False
    min_side: int = 32
    pages_from: PageSource | None = None
    browser_path: Path | None = None


@dataclass
class _Source:
    """One page of hits, with the folder its saved thumbnails live in."""

    description: str
    hits: list[ImageHit]
    engine: str
    page_dir: Path | None = None


def crawl_class(cat: Catalog, class_name: str, options: CrawlOptions, fetcher: Fetcher,
                progress: Progress | None = None) -> CrawlReport:
    """Crawl one class until `options.limit` new images are stored or the results run out.

    Raises:
        CrawlerError: a blocked or unparseable first page, a bad engine or filter.
        UnknownClassError: the class is not in the catalog.

    Example: crawl_class(cat, "Yeezy_350", CrawlOptions(limit=50), Fetcher(requests.Session()))
    """
    _check_search_url(options.search_url)
    query = options.query or require_class(cat, class_name)["query"]
    report = CrawlReport(class_name, engine=options.engine, query=query, limit=options.limit)
    tried = tried_urls(cat, class_name, include_failed=not options.retry_failed)
    sources = _sources(fetcher, query, options, report, wanted=len(tried) + 2 * options.limit)
    try:
        for source in sources:
            report.engine = source.engine
            report.pages.append(source.description)
            report.hits += len(source.hits)
            started = time.perf_counter()
            _run(cat, fetcher, source, query, options, tried, report, progress)
            report.download_seconds += time.perf_counter() - started
            if report.stored >= options.limit:
                break
    except (CrawlerError, DiskFullError) as exc:
        if not report.pages:
            raise
        report.stopped = str(exc)
        report.disk_full = isinstance(exc, DiskFullError)
    except KeyboardInterrupt:
        # Ctrl-C: what finished is recorded (_run_with), nothing new starts, and the
        # downloads in flight are abandoned rather than waited for (issue 13).
        fetcher.abort()
        report.interrupted = True
        report.stopped = "interrupted (Ctrl-C); the same command continues where this one stopped"
    return report


def crawl_all(cat: Catalog, options: CrawlOptions, fetcher: Fetcher,
              progress: Progress | None = None) -> list[tuple[str, CrawlReport | None, str | None]]:
    """Crawl every class in turn; a class that fails is recorded and the next one runs.

    Returns:
        (class name, its report or None, the error message or None) per class.
    """
    if options.pages or options.query:
        # A saved page or a query belongs to one class; every class would get the same images.
        raise CrawlerError("--page and --query go with one --class, not with --all")
    results: list[tuple[str, CrawlReport | None, str | None]] = []
    for name in class_names(cat):
        try:
            results.append((name, crawl_class(cat, name, options, fetcher, progress), None))
        except CatalogError as exc:
            results.append((name, None, str(exc)))
        last = results[-1][1]
        if last is not None and (last.disk_full or last.interrupted) or "disk full" in (results[-1][2] or ""):
            break  # Ctrl-C, or a full disk that every later class would meet too
    return results


def _check_search_url(url: str | None) -> None:
    """A --search-url that is not a well-formed http(s) URL is the user's error, not a traceback."""
    if url is None:
        return
    parts = split_url(url)
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise CrawlerError(f"--search-url {url[:200]!r} is not a well-formed http(s) URL with a host")


def _sources(fetcher: Fetcher, query: str, options: CrawlOptions, report: CrawlReport, wanted: int) -> Iterator[_Source]:
    """Saved pages, else a page source (the browser engine), else the engine's search pages.

    `wanted` hits are asked of a page source: enough for the limit after skipping the ones
    already tried, since a rendered page starts from its first result every time.
    """
    if options.pages:
        return _saved_pages(options, report)
    source = options.pages_from
    if source is None and options.engine == BROWSER_ENGINE:
        source = _browser_pages(options)
    if source is not None:
        return _external(source, query, wanted, options.engine)
    return _search(fetcher, query, options, report)


def _browser_pages(options: CrawlOptions) -> PageSource:
    from .browser import result_pages  # imports Playwright only when asked for

    return lambda query, wanted: result_pages(query, limit=wanted, search_url=options.search_url,
                                              browser_path=options.browser_path)


def _external(source: PageSource, query: str, wanted: int, engine: str | None) -> Iterator[_Source]:
    for description, hits in source(query, wanted):
        name = next((hit.engine for hit in hits if hit.engine), engine or "external")
        yield _Source(description, hits, name)


def _saved_pages(options: CrawlOptions, report: CrawlReport) -> Iterator[_Source]:
    for path in options.pages:
        try:
            text = read_input_file(path, PAGE_MAX_BYTES).decode("utf-8", errors="replace")
        except InputFileError as exc:
            raise CrawlerError(f"cannot read saved page {path}: {exc}") from exc
        with count_dropped_urls() as dropped:
            engine, result = _parse_saved(path, text, options.engine)
        report.dropped_urls.update(dropped)
        yield _Source(f"{path}: {result.describe()}", result.hits, engine.NAME, path.parent)


def _parse_saved(path: Path, text: str, engine_name: str | None) -> tuple[ModuleType, ParseResult]:
    if engine_name:
        engine = get_engine(engine_name)
        return engine, read_results(engine, text, str(path))
    found = detect_engine(text)
    if found is None:
        read_results(get_engine("google"), text, str(path))  # raises with the formats tried
        raise EngineParseError(f"{path}: no engine recognises this page")
    return found


def _search(fetcher: Fetcher, query: str, options: CrawlOptions, report: CrawlReport) -> Iterator[_Source]:
    """Result pages from the engine, until one brings no hit not seen before."""
    try:
        engine = get_engine(options.engine or "google")
    except UnknownEngineError:
        raise UnknownEngineError(str(options.engine), [*ENGINES, BROWSER_ENGINE]) from None
    report.engine = engine.NAME
    token = {}
    if getattr(engine, "NEEDS_TOKEN", False):
        text, _ = _get_page(fetcher, engine.token_url(query, options.search_url))
        token = {"token": engine.parse_token(text)}
    seen: set[str] = set()
    for page in range(options.max_pages):
        url = engine.build_search_url(query, page, options.filters, options.search_url, **token)
        text, status = _get_page(fetcher, url, engine)
        with count_dropped_urls() as dropped:
            result = read_results(engine, text, url, status) if page == 0 else engine.parse_page(text)
        report.dropped_urls.update(dropped)
        if page > 0 and not result.hits:
            engine.check_blocked(text, url, status)  # a wall, or just the end of the results
        fresh = [hit for hit in result.hits if hit.key not in seen]
        if not fresh:
            return
        seen.update(hit.key for hit in fresh)
        yield _Source(f"{page + 1} ({url}): {result.describe()}", fresh, engine.NAME)


def _get_page(fetcher: Fetcher, url: str, engine: ModuleType | None = None) -> tuple[str, int | None]:
    result = fetcher.get(url, max_bytes=20 * MB, headers=getattr(engine, "HEADERS", None))
    text = (result.data or b"").decode("utf-8", errors="replace")
    if not result.ok:
        if engine is not None and result.http_status in (403, 429):
            engine.check_blocked(text, result.final_url, result.http_status)
        raise FetchError(url, result.reason or "error", result.detail)
    return text, result.http_status


def _run(cat: Catalog, fetcher: Fetcher, source: _Source, query: str, options: CrawlOptions,
         tried: set[str], report: CrawlReport, progress: Progress | None) -> None:
    """Download a page's hits on the pool, never more in flight than the limit still needs."""
    with ThreadPoolExecutor(FILE_WRITERS, thread_name_prefix="store") as writers:
        _run_with(cat, fetcher, writers, source, query, options, tried, report, progress)


def _run_with(cat: Catalog, fetcher: Fetcher, writers: ThreadPoolExecutor, source: _Source, query: str,
              options: CrawlOptions, tried: set[str], report: CrawlReport, progress: Progress | None) -> None:
    hits = iter(source.hits)
    pending: dict[Future[Outcome], ImageHit] = {}
    while True:
        while len(pending) < 2 * fetcher.max_workers and report.stored + len(pending) < options.limit:
            hit = next(hits, None)
            if hit is None:
                break
            if hit.key in tried:
                report.skipped += 1
                continue
            tried.add(hit.key)
            job = (fetcher, hit, source.page_dir, options.min_side, partial(_prestore, cat, writers))
            pending[fetcher.submit(download_hit, *job)] = hit
        if not pending:
            return
        try:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
        except KeyboardInterrupt:
            # Record what finished; the rest is cancelled and tried again by the next run.
            for future in pending:
                future.cancel()
            _record_batch(cat, [f for f in pending if f.done() and not f.cancelled()], pending, source, query,
                          options, report)
            raise
        _record_batch(cat, done, pending, source, query, options, report)
        if progress:
            progress(report)


def _record_batch(cat: Catalog, done: Iterable[Future[Outcome]], pending: dict[Future[Outcome], ImageHit],
                  source: _Source, query: str, options: CrawlOptions, report: CrawlReport) -> None:
    """One transaction (one commit) per batch: its image rows, then its fetch rows."""
    with transaction(cat):
        records: list[FetchRecord] = []
        for future in done:
            records += _record(cat, _outcome(future, pending.pop(future)), source.engine, query, options, report)
        record_fetches(cat, records)


def _outcome(future: Future[Outcome], hit: ImageHit) -> Outcome:
    """The download's outcome; a bug in one download is that hit's failure, not the crawl's."""
    try:
        return future.result()
    except Exception as exc:  # noqa: BLE001 - recorded with its type, the crawl goes on
        return Outcome(hit, [Attempt(hit.key, "download", reason="crawler-error", detail=f"{type(exc).__name__}: {exc}")])


def _prestore(cat: Catalog, writers: ThreadPoolExecutor, data: bytes, info: ImageInfo) -> Future[str]:
    """Start writing a validated image's file on a writer thread (fsync is the slow part),
    so download workers go back to downloading.

    `add_image` then finds the file in place and only writes the row. A file whose row
    never comes (a crash) is an orphan that `catalog.integrity` reports; the re-run that
    downloads the URL again adds the row for it.
    """
    return writers.submit(put_file, cat, data, sha256_of(data), info.ext)


def _record(cat: Catalog, outcome: Outcome, engine: str, query: str, options: CrawlOptions,
            report: CrawlReport) -> list[FetchRecord]:
    """Store the chosen bytes (the image row), and return a fetch row per attempt to write after."""
    hit, chosen = outcome.hit, outcome.chosen
    report.tried += 1
    report.fetched += outcome.fetched
    status = "failed"
    if chosen is not None and chosen.data is not None:
        status = _store(cat, hit, chosen, engine, query, options, report)
    first = outcome.attempts[0] if outcome.attempts else None
    if status == "failed":
        report.failures[first.reason if first and first.reason else "no-source"] += 1
    elif chosen is not first and first is not None and first.origin == "download":
        report.thumbnail_fallbacks[first.reason or "unknown"] += 1
    # The first attempt is the hit's key (what a re-run skips): it goes last.
    return [_fetch_record(report.class_name, hit, attempt, status if attempt is chosen else "failed", engine, query)
            for attempt in reversed(outcome.attempts)]


def _store(cat: Catalog, hit: ImageHit, chosen: Attempt, engine: str, query: str, options: CrawlOptions,
           report: CrawlReport) -> str:
    provenance = Provenance(
        origin=chosen.origin, source_url=hit.url or (chosen.url if chosen.url.startswith("http") else None),
        page_url=hit.page_url, engine=engine, query=query, rank=hit.rank, title=hit.title,
    )
    try:
        if chosen.file is not None:
            chosen.file.result()  # the file first; add_image would write it itself otherwise
        result = add_image(cat, chosen.data or b"", report.class_name, provenance, min_side=options.min_side,
                           validated=chosen.info)
    except InvalidImage as exc:
        chosen.reason, chosen.detail = exc.reason, exc.detail
        return "failed"
    except OSError as exc:  # disk full, permissions: no later image would fare better
        raise disk_full(exc, cat.store_dir) or CrawlerError(f"cannot write to the image store {cat.store_dir}: {exc}") from exc
    chosen.sha256 = result.image["sha256"]
    if result.created:
        report.stored += 1
        report.thumbnails += chosen.origin == "thumbnail"
        return "stored"
    if result.conflict:
        report.conflicts += 1
        return "conflict"
    if result.image.get("source_url") == provenance.source_url:
        # This URL stored the image in a run killed before its fetch row was written.
        return "stored"
    report.duplicates += 1
    return "duplicate"


def _fetch_record(class_name: str, hit: ImageHit, attempt: Attempt, status: str, engine: str,
                  query: str) -> FetchRecord:
    return FetchRecord(
        url=attempt.url, class_name=class_name, status=status, engine=engine, query=query, rank=hit.rank,
        http_status=attempt.http_status, error=attempt.error if status == "failed" else None,
        sha256=attempt.sha256 if status != "failed" else None,
    )
