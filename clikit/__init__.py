"""What every command-line tool shares: the `--catalog` option, plain printing, and the
translation of library errors into one line and exit code 1.

The CLI plumbing lives here, not in `catalog`, so the data layer depends on neither typer
nor rich. Each CLI names its own package's error base; the catalog's
`CatalogError` (and a full disk) are always translated.

Example:
    >>> with catalog_for_cli(path, CurationError) as cat:  # doctest: +SKIP
    ...     report = dedup(cat)
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

from catalog import (
    CATALOG_ENV,
    DEFAULT_CATALOG,
    Catalog,
    CatalogError,
    ReadOnlyCatalog,
    disk_full,
    open_catalog,
)

from .text import MESSAGE_LIMIT, VALUE_LIMIT, plain

CatalogOption = Annotated[
    Path,
    typer.Option(
        "--catalog",
        envvar=CATALOG_ENV,
        help=f"The catalog's SQLite file (its images live beside it). Also ${CATALOG_ENV}.",
        dir_okay=False,
    ),
]
DEFAULT_CATALOG_PATH = Path(DEFAULT_CATALOG)

err_console = Console(stderr=True)
out_console = Console()

# A part of a message: text, or (text, Rich style) for a coloured word.
Part = str | tuple[str, str]


def say(*parts: Part, console: Console | None = None) -> None:
    """Print a message as plain text: never Rich markup or emoji codes, controls made visible.

    Example: say(("failed", "red"), f" {path}: {reason}")
    """
    text = Text.assemble(
        *(
            (plain(p[0], MESSAGE_LIMIT, newlines=True), p[1])
            if isinstance(p, tuple)
            else plain(p, MESSAGE_LIMIT, newlines=True)
            for p in parts
        )
    )
    (console or out_console).print(text, highlight=False, soft_wrap=True)


def fail(message: str) -> typer.Exit:
    """Print `message` as an error and return the Exit(1) to raise."""
    say(("error:", "bold red"), " ", message, console=err_console)
    return typer.Exit(code=1)


@contextmanager
def cli_errors(*known: type[Exception], writing: object = "the catalog") -> Iterator[None]:
    """Turn CatalogError, the `known` library exceptions (a stage's error base) and a full
    disk into a clear one-line message and exit code 1."""
    translated: tuple[type[Exception], ...] = (CatalogError, *known)
    try:
        yield
    except translated as exc:
        raise fail(str(exc)) from None
    except (OSError, sqlite3.Error) as exc:
        if isinstance(exc, sqlite3.OperationalError) and "readonly database" in str(exc):
            raise fail(str(ReadOnlyCatalog(Path(str(writing))))) from None
        full = disk_full(exc, writing)
        if full is None:
            raise
        raise fail(str(full)) from None


@contextmanager
def catalog_for_cli(path: Path, *known: type[Exception]) -> Iterator[Catalog]:
    """Open the catalog for one command, translating errors (CatalogError and `known`, see
    `cli_errors`) and closing it afterwards."""
    with cli_errors(*known, writing=path):
        cat = open_catalog(path)
        try:
            yield cat
        finally:
            cat.close()


CatalogOpener = Callable[[Path], AbstractContextManager[Catalog]]


def catalog_opener(*known: type[Exception]) -> CatalogOpener:
    """`catalog_for_cli` for one CLI, translating its package's error base(s) too.

    Each CLI binds it once, so a command added later cannot forget its package's errors.

    Example:
        >>> catalog_for_cli = catalog_opener(CurationError)  # in curation's CLI modules
    """
    if not known:
        raise TypeError("name the CLI's own error base: catalog_opener(CurationError)")

    def open_for_cli(path: Path) -> AbstractContextManager[Catalog]:
        return catalog_for_cli(path, *known)

    return open_for_cli


__all__ = [
    "DEFAULT_CATALOG_PATH",
    "MESSAGE_LIMIT",
    "VALUE_LIMIT",
    "CatalogOpener",
    "CatalogOption",
    "Part",
    "catalog_for_cli",
    "catalog_opener",
    "cli_errors",
    "err_console",
    "fail",
    "out_console",
    "plain",
    "say",
]
