"""Keep a training run's heartbeat fresh while this process trains it.

A background thread writes `heartbeat_at` every `HEARTBEAT_EVERY_S` seconds through its own
catalog connection (SQLite connections belong to one thread). It needs no call inside the
training loops, so long steps without epochs (feature extraction) still beat; when the
kernel kills the process the thread dies with it and `train runs` shows the run as died.

Call site (trainer/train.py, `train()`): wrap the work between `update_run(..., "running")`
and the final `update_run(..., "finished")` in `with beating(cat, run["id"]):`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from catalog import HEARTBEAT_EVERY_S, Catalog, CatalogError, heartbeat, open_catalog


@contextmanager
def beating(cat: Catalog, run_id: int, *, every: float = HEARTBEAT_EVERY_S) -> Iterator[None]:
    """Beat for run `run_id` until the block ends (however it ends)."""
    stop = threading.Event()
    thread = threading.Thread(
        target=_beat_until,
        args=(cat.path, run_id, every, stop),
        name=f"heartbeat-{run_id}",
        daemon=True,
    )
    heartbeat(cat, run_id)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)


def _beat_until(path, run_id: int, every: float, stop: threading.Event) -> None:
    try:
        own = open_catalog(path)
    except CatalogError:
        return  # no heartbeat is better than a crashed training; the pid still tells
    with own:
        while not stop.wait(every):
            try:
                heartbeat(own, run_id)
            except Exception:
                continue
