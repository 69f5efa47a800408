"""Crawl orchestration: result pages -> hits -> downloads -> the catalog.

Downloads (and the store's files, written to a temp file and renamed) happen on the
fetcher's worker threads; every catalog row is written here, on the calling thread, in one
transaction per batch of finished downloads: image rows first, `fetches` rows after. A
crash (even kill -9) loses at most the open batch's rows; its URLs have no fetch row, so
the re-run downloads them again, finds their files in place and adds the rows, and bytes
already in the catalog are found by sha256 and never stored twice.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from catalog import (
    MIN_STORED_SIDE,
    PAGE_MAX_BYTES,
    Catalog,
    CatalogError,
    DiskFullError,
    FetchRecord,
    ImageInfo,
    InputFileError,
    InvalidImage,
    Provenance,
    add_image,
    claim_new,
    class_names,
    counts_by,
    disk_full,
    read_input_file,
    record_fetches,
    require_class,
    sha256_of,
    stage_file,
    transaction,
    tried_urls,
)

from .download import Attempt, Outcome, download_hit
from .engines.common import count_dropped_urls, split_url
from .errors import CrawlerError
from .fetch import Fetcher
from .hits import ImageHit
from .report import CrawlReport
from .search import (
    DEFAULT_ENGINE,
    DEFAULT_MAX_PAGES,
    ExternalEngine,
    PageSource,
    ResultPage,
    SearchSettings,
    get_engine,
)

Progress = Callable[[CrawlReport], None]
BROWSER_ENGINE = "google-browser"
# Threads that write (and fsync) stored files, apart from the download workers.
FILE_WRITERS = 8
# New images per class a search stops at when --limit is not given (saved pages: all hits).
DEFAULT_LIMIT = 100


@dataclass
class CrawlOptions:
    """What to crawl and how much; `pages` are saved result pages used instead of searching.

    `limit` None: every hit of saved pages, DEFAULT_LIMIT new images for a search.
    `search_url` is the base URL of the engine named by `engine`; `search_urls` gives one per
    engine (what `auto` goes through).
    """

    limit: int | None = None
    engine: str | None = None
    query: str | None = None
    search_url: str | None = None
    pages: list[Path] = field(default_factory=list)
    filters: dict[str, str] = field(default_factory=dict)
    max_pages: int = DEFAULT_MAX_PAGES
    retry_failed: bool = False
    min_side: int = MIN_STORED_SIDE
    pages_from: PageSource | None = None
    browser_path: Path | None = None
    search_urls: dict[str, str] = field(default_factory=dict)

    def effective_limit(self) -> int:
        if self.limit is not None:
            return self.limit
        return sys.maxsize if self.pages else DEFAULT_LIMIT


@dataclass
class _Tried:
    """Hit keys tried in earlier runs (`before`) and in this one (`now`)."""

    before: set[str]
    now: set[str] = field(default_factory=set)

    def __contains__(self, key: str) -> bool:
        return key in self.before or key in self.now


def crawl_class(
    cat: Catalog,
    class_name: str,
    options: CrawlOptions,
    fetcher: Fetcher,
    progress: Progress | None = None,
) -> CrawlReport:
    """Crawl one class until the limit of new images is stored or the results run out.

    Raises:
        CrawlerError: a blocked or unparseable first page, a bad engine or filter, no network.
        UnknownClassError: the class is not in the catalog.

    Example: crawl_class(cat, "Yeezy_350", CrawlOptions(limit=50), Fetcher(requests.Session()))
    """
    for url in [options.search_url, *options.search_urls.values()]:
        _check_search_url(url)
    query = options.query or require_class(cat, class_name)["query"]
    limit = options.effective_limit()
    report = CrawlReport(
        class_name,
        engine=options.engine,
        query=query,
        limit=limit,
        limit_given=options.limit is not None,
    )
    tried = _Tried(tried_urls(cat, class_name, include_failed=not options.retry_failed))
    settings = _settings(options, wanted=len(tried.before) + 2 * limit)
    report.notes = settings.notes
    try:
        sources = _counting_dropped(_sources(fetcher, query, options, settings), report)
        for source in sources:
            report.add_page(source.engine, source.description, len(source.hits))
            report.repeats += source.repeats
            started = time.perf_counter()
            _run(cat, fetcher, source, query, options, tried, report, progress)
            report.download_seconds += time.perf_counter() - started
            if report.stored >= limit:
                report.limit_reached = True
                if not report.left:
                    report.more_results = _more_results(sources, tried)
                break
    except (CrawlerError, DiskFullError) as exc:
        if not report.pages:
            raise
        report.stopped = str(exc)
        report.disk_full = isinstance(exc, DiskFullError)
    except KeyboardInterrupt:
        # Ctrl-C: what finished is recorded (_run_with), nothing new starts, and the
        # downloads in flight are abandoned rather than waited for.
        fetcher.abort()
        report.interrupted = True
        report.stopped = "interrupted (Ctrl-C); the same command continues where this one stopped"
    report.in_catalog = next(
        (row["n"] for row in counts_by(cat, "class") if row["class"] == class_name), 0
    )
    return report


def crawl_all(
    cat: Catalog, options: CrawlOptions, fetcher: Fetcher, progress: Progress | None = None
) -> list[tuple[str, CrawlReport | None, str | None]]:
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
        except (CatalogError, CrawlerError) as exc:
            results.append((name, None, str(exc)))
        last = results[-1][1]
        if (
            last is not None
            and (last.disk_full or last.interrupted)
            or "disk full" in (results[-1][2] or "")
        ):
            break  # Ctrl-C, or a full disk that every later class would meet too
    return results


def _settings(options: CrawlOptions, wanted: int) -> SearchSettings:
    urls = dict(options.search_urls)
    if options.search_url:
        urls[_engine_name(options)] = options.search_url
    return SearchSettings(
        filters=options.filters,
        max_pages=options.max_pages,
        search_urls=urls,
        browser_path=options.browser_path,
        wanted=wanted,
    )


def _more_results(sources: Iterator[ResultPage], tried: _Tried) -> bool | None:
    """Whether the results go on past the pages read with a hit not tried yet: the page a
    re-run would read next, read now. None when that page cannot be had (a wall, no network)."""
    try:
        following = next(sources, None)
    except CrawlerError:
        return None
    return following is not None and any(hit.key not in tried for hit in following.hits)


def _counting_dropped(pages: Iterator[ResultPage], report: CrawlReport) -> Iterator[ResultPage]:
    """The pages, counting the URLs their parsers turned down (malformed, not http) in `report`."""
    while True:
        with count_dropped_urls() as dropped:
            page = next(pages, None)
        report.dropped_urls.update(dropped)
        if page is None:
            return
        yield page


def _check_search_url(url: str | None) -> None:
    """A --search-url that is not a well-formed http(s) URL is the user's error, not a traceback."""
    if url is None:
        return
    parts = split_url(url.split("=", 1)[1] if "=" in url.split("://", 1)[0] else url)
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise CrawlerError(
            f"--search-url {url[:200]!r} is not a well-formed http(s) URL with a host"
        )


def _sources(
    fetcher: Fetcher, query: str, options: CrawlOptions, settings: SearchSettings
) -> Iterator[ResultPage]:
    """Saved pages, else the pages a caller hands in, else the engine's search."""
    if options.pages:
        return _saved_pages(options)
    if options.pages_from is not None:
        return ExternalEngine(options.pages_from, options.engine).search(fetcher, query, settings)
    return get_engine(_engine_name(options)).search(fetcher, query, settings)


def _engine_name(options: CrawlOptions) -> str:
    """The engine to search: a plain --search-url without --engine is Google's base URL."""
    if options.search_url and options.engine in (None, DEFAULT_ENGINE):
        return "google"
    return options.engine or DEFAULT_ENGINE


def _saved_pages(options: CrawlOptions) -> Iterator[ResultPage]:
    engine = get_engine(options.engine)
    for path in options.pages:
        try:
            text = read_input_file(path, PAGE_MAX_BYTES).decode("utf-8", errors="replace")
        except InputFileError as exc:
            raise CrawlerError(f"cannot read saved page {path}: {exc}") from exc
        name, result = engine.read_saved(text, str(path))
        yield ResultPage(
            f"{path}: {result.describe()}", result.hits, name, path.parent, result.repeats
        )


def _run(
    cat: Catalog,
    fetcher: Fetcher,
    source: ResultPage,
    query: str,
    options: CrawlOptions,
    tried: _Tried,
    report: CrawlReport,
    progress: Progress | None,
) -> None:
    """Download a page's hits on the pool, never more in flight than the limit still needs."""
    with ThreadPoolExecutor(FILE_WRITERS, thread_name_prefix="store") as writers:
        _run_with(cat, fetcher, writers, source, query, options, tried, report, progress)


def _run_with(
    cat: Catalog,
    fetcher: Fetcher,
    writers: ThreadPoolExecutor,
    source: ResultPage,
    query: str,
    options: CrawlOptions,
    tried: _Tried,
    report: CrawlReport,
    progress: Progress | None,
) -> None:
    hits = iter(source.hits)
    pending: dict[Future[Outcome], ImageHit] = {}
    while True:
        while (
            len(pending) < 2 * fetcher.max_workers and report.stored + len(pending) < report.limit
        ):
            hit = next(hits, None)
            if hit is None:
                break
            if hit.key in tried:
                # Seen earlier in this run (the page lists it twice) or tried in an earlier run.
                report.repeats += hit.key in tried.now
                report.skipped += hit.key not in tried.now
                continue
            tried.now.add(hit.key)
            job = (
                fetcher,
                hit,
                source.page_dir,
                options.min_side,
                partial(_prestore, cat, writers),
            )
            pending[fetcher.submit(download_hit, *job)] = hit
        if not pending:
            # What the limit left of this page (nothing when the page ran out).
            report.left += len({hit.key for hit in hits if hit.key not in tried})
            return
        try:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
        except KeyboardInterrupt:
            # Record what finished; the rest is cancelled and tried again by the next run.
            for future in pending:
                future.cancel()
            _record_batch(
                cat,
                [f for f in pending if f.done() and not f.cancelled()],
                pending,
                source,
                query,
                options,
                report,
            )
            raise
        _record_batch(cat, done, pending, source, query, options, report)
        if progress:
            progress(report)


def _record_batch(
    cat: Catalog,
    done: Iterable[Future[Outcome]],
    pending: dict[Future[Outcome], ImageHit],
    source: ResultPage,
    query: str,
    options: CrawlOptions,
    report: CrawlReport,
) -> None:
    """One transaction (one commit) per batch: its image rows, then its fetch rows.

    The store's writer lock spans it, so `check --fix` never sees a file before its row.
    """
    outcomes = [_outcome(future, pending.pop(future)) for future in list(done)]
    with cat.writing():
        _claim_new_files(cat, outcomes)
        with transaction(cat):
            records: list[FetchRecord] = []
            for outcome in outcomes:
                records += _record(cat, outcome, source.engine, query, options, report)
            record_fetches(cat, records)


def _outcome(future: Future[Outcome], hit: ImageHit) -> Outcome:
    """The download's outcome; a bug in one download is that hit's failure, not the crawl's."""
    try:
        return future.result()
    except Exception as exc:  # recorded with its type, the crawl goes on
        return Outcome(
            hit,
            [
                Attempt(
                    hit.key,
                    "download",
                    reason="crawler-error",
                    detail=f"{type(exc).__name__}: {exc}",
                )
            ],
        )


def _claim_new_files(cat: Catalog, outcomes: list[Outcome]) -> None:
    """Record the files this batch will create, committed before they are renamed into place.

    Inside the batch's transaction the record would be rolled back by a crash after the
    rename, leaving a file `check --fix` cannot prove is this catalog's.
    """
    for outcome in outcomes:
        chosen = outcome.chosen
        if (
            chosen is not None
            and chosen.file is not None
            and chosen.info is not None
            and chosen.data
        ):
            claim_new(cat, sha256_of(chosen.data), chosen.info.ext)


def _prestore(
    cat: Catalog, writers: ThreadPoolExecutor, data: bytes, info: ImageInfo
) -> Future[Path]:
    """Start writing a validated image's file on a writer thread (fsync is the slow part),
    so download workers go back to downloading.

    The file is staged under a temporary name; `add_image` renames it into the store
    under the writer lock, with its row. A crash leaves only a temporary file
    of a dead process, which the next open of the catalog sweeps.
    """
    return writers.submit(stage_file, cat.store_dir, data, sha256_of(data), info.ext)


def _record(
    cat: Catalog,
    outcome: Outcome,
    engine: str,
    query: str,
    options: CrawlOptions,
    report: CrawlReport,
) -> list[FetchRecord]:
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
    records = [
        _fetch_record(
            report.class_name,
            hit,
            attempt,
            status if attempt is chosen else "failed",
            engine,
            query,
        )
        for attempt in reversed(outcome.attempts)
    ]
    if hit.key not in {attempt.url for attempt in outcome.attempts}:
        # The hit's key is what a re-run skips (one definition: `ImageHit.key`).
        key = Attempt(
            hit.key,
            "key",
            reason=first.reason if first else "no-source",
            detail=first.detail if first else "",
        )
        if chosen is not None and status != "failed":
            key.sha256, key.reason = chosen.sha256, None
        records.append(_fetch_record(report.class_name, hit, key, status, engine, query))
    # The key row (the first attempt's, or the key's own) goes last: the latest row wins.
    return records


def _store(
    cat: Catalog,
    hit: ImageHit,
    chosen: Attempt,
    engine: str,
    query: str,
    options: CrawlOptions,
    report: CrawlReport,
) -> str:
    provenance = Provenance(
        origin=chosen.origin,
        source_url=hit.url or (chosen.url if chosen.url.startswith("http") else None),
        page_url=hit.page_url,
        engine=engine,
        query=query,
        rank=hit.rank,
        title=hit.title,
    )
    try:
        staged = chosen.file.result() if chosen.file is not None else None
        result = add_image(
            cat,
            chosen.data or b"",
            report.class_name,
            provenance,
            min_side=options.min_side,
            validated=chosen.info,
            staged=staged,
        )
    except InvalidImage as exc:
        chosen.reason, chosen.detail = exc.reason, exc.detail
        return "failed"
    except OSError as exc:  # disk full, permissions: no later image would fare better
        raise disk_full(exc, cat.store_dir) or CrawlerError(
            f"cannot write to the image store {cat.store_dir}: {exc}"
        ) from exc
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


def _fetch_record(
    class_name: str, hit: ImageHit, attempt: Attempt, status: str, engine: str, query: str
) -> FetchRecord:
    return FetchRecord(
        url=attempt.url,
        class_name=class_name,
        status=status,
        engine=engine,
        query=query,
        rank=hit.rank,
        http_status=attempt.http_status,
        error=attempt.error if status == "failed" else None,
        sha256=attempt.sha256 if status != "failed" else None,
    )
