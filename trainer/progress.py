"""Progress bars for the trainer's long phases: counts, rate and time left, on stderr.

Quiet when stderr is not a terminal (tests, logs, pipes): a bar there would only fill the
log with redraws. Keras prints its own epoch lines for `fit`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)

Advance = Callable[[int], None]


@contextlib.contextmanager
def bar(description: str, total: int, *, unit: str = "images") -> Iterator[Advance]:
    """`with bar("features pass 2", n) as advance: ... advance(len(batch))`.

    The description is our own text (a phase name), never a file name, so markup is off.
    """
    console = Console(stderr=True, markup=False)
    if not console.is_terminal or total <= 0:
        yield lambda n: None
        return
    columns = (
        TextColumn(description),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task(description, total=total, rate="")

        def advance(n: int) -> None:
            progress.advance(task, n)
            speed = progress.tasks[0].speed
            progress.update(task, rate=f"{speed:,.1f} {unit}/s" if speed else "")

        yield advance
