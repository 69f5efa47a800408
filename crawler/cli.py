"""`crawl`: search the web for a class's images and store them in the catalog."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import requests
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from catalog import MIN_STORED_SIDE
from clikit import (
    DEFAULT_CATALOG_PATH,
    CatalogOption,
    catalog_opener,
    err_console,
    fail,
    plain,
    say,
)

from .crawl import BROWSER_ENGINE, DEFAULT_LIMIT, CrawlOptions, crawl_all, crawl_class
from .engines.filters import parse_filter_args
from .errors import CrawlerError
from .fetch import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_PER_HOST,
    DEFAULT_PER_HOST_DELAY,
    DEFAULT_READ_TIMEOUT,
    DEFAULT_WORKERS,
    Fetcher,
)
from .netguard import parse_allowed_host
from .report import CrawlReport
from .search import DEFAULT_ENGINE, DEFAULT_MAX_PAGES, ENGINES, parse_search_urls

app = typer.Typer(help="Crawl image search engines (or saved result pages) into the catalog.")
# CatalogError and the crawler's errors become one line and exit code 1.
catalog_for_cli = catalog_opener(CrawlerError)


@app.command()
def crawl(
    class_name: Annotated[str | None, typer.Option("--class", help="The class to crawl.")] = None,
    all_classes: Annotated[bool, typer.Option("--all", help="Crawl every class in turn.")] = False,
    limit: Annotated[
        int | None,
        typer.Option(
            min=1,
            help=f"Stop after this many new images per class (default {DEFAULT_LIMIT}; "
            "saved pages: all their hits).",
        ),
    ] = None,
    engine: Annotated[
        str | None,
        typer.Option(
            help=f"One of {', '.join(ENGINES)} (default {DEFAULT_ENGINE}: Google, then Google in "
            "a browser, Bing, DuckDuckGo; saved pages: detected)."
        ),
    ] = None,
    query: Annotated[
        str | None, typer.Option(help="Search for this instead of the class's query.")
    ] = None,
    search_url: Annotated[
        list[str] | None,
        typer.Option(
            help="The engine's base URL (a mirror or a test server), or ENGINE=URL; repeatable."
        ),
    ] = None,
    page: Annotated[
        list[Path] | None,
        typer.Option(
            exists=True,
            dir_okay=False,
            help="A result page saved from a browser; repeatable. No search is made.",
        ),
    ] = None,
    filter_: Annotated[
        list[str] | None, typer.Option("--filter", help="NAME=VALUE, e.g. size=large; repeatable.")
    ] = None,
    max_pages: Annotated[
        int, typer.Option(min=1, help="Result pages to read at most.")
    ] = DEFAULT_MAX_PAGES,
    retry_failed: Annotated[
        bool, typer.Option(help="Try again URLs that failed in earlier runs.")
    ] = False,
    workers: Annotated[
        int, typer.Option(min=1, help="Downloads in flight at once.")
    ] = DEFAULT_WORKERS,
    per_host: Annotated[
        int, typer.Option(min=1, help="Downloads in flight to one host at once.")
    ] = DEFAULT_PER_HOST,
    delay: Annotated[
        float, typer.Option(min=0, help="Seconds between requests to one host.")
    ] = DEFAULT_PER_HOST_DELAY,
    timeout: Annotated[
        float,
        typer.Option(
            min=0.1,
            help="Seconds to wait for data from a server before a read fails (see also "
            "--connect-timeout).",
        ),
    ] = DEFAULT_READ_TIMEOUT,
    connect_timeout: Annotated[
        float, typer.Option(min=0.1, help="Seconds to wait for a connection to a server.")
    ] = DEFAULT_CONNECT_TIMEOUT,
    allow_private: Annotated[
        list[str] | None,
        typer.Option(
            metavar="HOST",
            help="A private/loopback host or address that may be fetched (a local test server); "
            "repeatable. Every other private address stays refused.",
        ),
    ] = None,
    min_side: Annotated[
        int,
        typer.Option(
            min=1, help="Images whose shorter side is below this many pixels are not stored."
        ),
    ] = MIN_STORED_SIDE,
    browser: Annotated[
        Path | None, typer.Option(help=f"The Chromium that --engine {BROWSER_ENGINE} drives.")
    ] = None,
    catalog: CatalogOption = DEFAULT_CATALOG_PATH,
) -> None:
    """Search for a class's images, download and validate them, store them in the catalog.

    Example: crawl --class Yeezy_350 (--engine auto: Google, Google in a browser, Bing, DuckDuckGo)
    Example: crawl --class Yeezy_350 --limit 150 --engine bing
    Example: crawl --class Yeezy_350 --page saved/Yeezy_350.html
    Example: crawl --class Yeezy_350 --engine google-browser
    Example: crawl --all
    """
    if (class_name is None) == (not all_classes):
        raise fail("give exactly one of --class NAME or --all")
    try:
        allow_private = [parse_allowed_host(host) for host in allow_private or []]
    except ValueError as exc:
        raise fail(str(exc)) from None
    fetcher = Fetcher(
        requests.Session(),
        max_workers=workers,
        per_host=per_host,
        per_host_delay=delay,
        timeout=(connect_timeout, timeout),
        allow_private=allow_private or False,
    )
    with _ctrl_c():
        with catalog_for_cli(catalog) as cat, fetcher, _progress() as progress:
            base, bases = parse_search_urls(search_url or [])
            options = CrawlOptions(
                limit=limit,
                engine=engine,
                query=query,
                search_url=base,
                search_urls=bases,
                pages=page or [],
                filters=parse_filter_args(filter_ or []),
                max_pages=max_pages,
                retry_failed=retry_failed,
                min_side=min_side,
                browser_path=browser,
            )
            results: list[tuple[str, CrawlReport | None, str | None]]
            if class_name is not None:
                results = [
                    (class_name, crawl_class(cat, class_name, options, fetcher, progress), None)
                ]
            else:
                results = crawl_all(cat, options, fetcher, progress)
        _print_results(results)


@contextmanager
def _ctrl_c() -> Iterator[None]:
    """First Ctrl-C: stop, record what finished, print a line, exit 130 without waiting for
    the downloads in flight, which against slow hosts could take minutes. Second Ctrl-C:
    exit at once.

    The rows are written in transactions and the files under temporary names, so leaving
    with threads still downloading is as safe as kill -9, which the catalog is built for.
    """
    presses = 0

    def on_sigint(signum: int, frame: object) -> None:
        nonlocal presses
        presses += 1
        if presses > 1:
            os.write(2, b"\ninterrupted again: exiting now\n")
            os._exit(130)
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGINT, on_sigint)
    except ValueError:  # not the main thread (an embedding program): leave Ctrl-C alone
        yield
        return
    try:
        yield
    except (KeyboardInterrupt, typer.Exit) as exc:
        if presses == 0:
            raise
        if isinstance(exc, KeyboardInterrupt):  # came before any report: nothing to summarise
            say(
                ("interrupted (Ctrl-C)", "yellow"),
                ": nothing recorded beyond what finished",
                console=err_console,
            )
        _exit_now(130)
    finally:
        signal.signal(signal.SIGINT, previous)
    if presses:
        _exit_now(130)


def _exit_now(code: int) -> None:
    """Exit without joining the download threads still blocked on slow hosts."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


@contextmanager
def _progress() -> Iterator:
    """A callback that shows stored/limit for the class being crawled."""
    console = Console(stderr=True)
    bar = Progress(
        TextColumn("{task.description}", markup=False),  # a class name, shown as it is
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        # Off where stderr is no terminal: a log would get its redraws, and its closing
        # newline put an empty line before every message.
        disable=not console.is_terminal,
    )
    tasks: dict[str, TaskID] = {}

    def update(report: CrawlReport) -> None:
        if report.class_name not in tasks:
            name = plain(report.class_name)
            tasks[report.class_name] = bar.add_task(name, total=None, info="")
        failed = sum(report.failures.values())
        # A saved page's crawl has no limit: its bar counts up to the hits read.
        total = report.limit if report.limit < sys.maxsize else max(report.hits, 1)
        bar.update(
            tasks[report.class_name],
            total=total,
            completed=report.stored,
            info=f"tried {report.tried}, failed {failed}, already {report.duplicates}",
        )

    with bar:
        yield update


def _print_results(results: list[tuple[str, CrawlReport | None, str | None]]) -> None:
    """Print each class's summary; exit 1 when a class stopped early or has no image at all."""
    failed, empty = False, []
    for name, report, error in results:
        if report is not None and report.interrupted:
            say((report.one_line(), "yellow"))
        elif report is not None:
            say(report.summary())
            failed |= report.stopped is not None
            if report.got_nothing and not report.interrupted:
                say((report.got_nothing, "red"))
                empty.append(name)
        else:
            say((f"{name}: {error}", "red"))
            empty.append(name)
    if len(results) > 1 and empty:
        say((f"{len(empty)} of {len(results)} classes got no image: {', '.join(empty)}", "red"))
    if failed or empty:
        raise typer.Exit(code=1)
