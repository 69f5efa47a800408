"""Progress bars, in one place for every tool: counts, rate and time left, on stderr.

Quiet when stderr is not a terminal (tests, logs, pipes): a bar there would only fill the
log with redraws, and its closing newline would put an empty line before every message.
Descriptions are shown as plain text (never Rich markup), so a class or file name in one
prints as itself.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)

from .text import plain


class Bar:
    """One bar: call it with a count of finished items, or `set(done, total)`."""

    def __init__(self, progress: Progress | None, unit: str) -> None:
        self._progress, self._unit = progress, unit

    def __call__(self, n: int) -> None:
        if self._progress is not None:
            self._progress.advance(self._progress.task_ids[0], n)
            self._show_rate()

    def set(self, done: int, total: int | None) -> None:
        if self._progress is not None:
            self._progress.update(self._progress.task_ids[0], completed=done, total=total)
            self._show_rate()

    def _show_rate(self) -> None:
        assert self._progress is not None
        task = self._progress.tasks[0]
        rate = f"{task.speed:,.1f} {self._unit}/s" if task.speed else ""
        self._progress.update(task.id, rate=rate)


@contextlib.contextmanager
def bar(
    description: str, total: int | None, *, unit: str = "images", transient: bool = False
) -> Iterator[Bar]:
    """`with bar("features pass 2", n) as advance: ... advance(len(batch))`; a total of
    None is unknown until `advance.set(done, total)` says it.

    Example:
        >>> with bar("classifying", len(files), transient=True) as advance:  # doctest: +SKIP
        ...     advance(1)
    """
    console = Console(stderr=True, markup=False, highlight=False)
    if not console.is_terminal or (total is not None and total <= 0):
        yield Bar(None, unit)
        return
    columns = (
        TextColumn(plain(description), markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=transient) as progress:
        progress.add_task(description, total=total, rate="")
        yield Bar(progress, unit)
