"""What every command-line tool shares: the `--catalog` option and error translation."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

from .db import CATALOG_ENV, DEFAULT_CATALOG, Catalog, open_catalog
from .diskfull import disk_full
from .errors import CatalogError
from .text import MESSAGE_LIMIT, plain

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
    """Turn the library's known exceptions, and a full disk, into a clear message and exit code 1."""
    try:
        yield
    except (CatalogError, *known) as exc:
        raise fail(str(exc)) from None
    except (OSError, sqlite3.Error) as exc:
        full = disk_full(exc, writing)
        if full is None:
            raise
        raise fail(str(full)) from None


@contextmanager
def catalog_for_cli(path: Path, *known: type[Exception]) -> Iterator[Catalog]:
    """Open the catalog for one command, translating errors and closing it afterwards."""
    with cli_errors(*known, writing=path):
        cat = open_catalog(path)
        try:
            yield cat
        finally:
            cat.close()
