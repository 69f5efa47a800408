"""The store's writer lock: writers share it, `curate check --fix` takes it alone.

A writer holds the lock (shared) from the moment it creates a file in `images/` until the
row that refers to it is committed, so a sweep holding it exclusively never sees a file
whose row is still on its way. The lock files live beside the store (`store_control`), so
every catalog that shares a folder (and so its `images/`) shares the lock, and the store
itself holds only images.

flock(2) gives no priority to a waiting exclusive lock: a busy writer re-taking its shared
lock could starve the sweep. A second "gate" file fixes that: writers pass the gate (shared,
briefly) before taking the lock; the sweep holds the gate exclusively while it waits, so
new writers queue behind it.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LOCK_NAME = ".images-writers.lock"
GATE_NAME = ".images-writers.gate"


def store_control(store_dir: Path, name: str) -> Path:
    """A control file of the store: beside it, in the folder its real path is in.

    An `images/` that is a link to a store elsewhere is controlled where that store is.
    """
    return store_dir.resolve().parent / name


class WriterLock:
    """One process's hold on a store's writer lock; re-entrant across threads and nesting."""

    def __init__(self, store_dir: Path):
        self.store_dir = store_dir
        self._mutex = threading.Lock()
        self._depth = 0
        self._fd: int | None = None

    @contextmanager
    def shared(self) -> Iterator[None]:
        """Hold the lock as one of many writers for the block."""
        with self._mutex:
            if self._depth == 0:
                self._fd = _acquire_shared(self.store_dir)
            self._depth += 1
        try:
            yield
        finally:
            with self._mutex:
                self._depth -= 1
                if self._depth == 0 and self._fd is not None:
                    os.close(self._fd)  # closing drops the flock
                    self._fd = None


def _open(path: Path) -> int:
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)


def _acquire_shared(store_dir: Path) -> int:
    gate = _open(store_control(store_dir, GATE_NAME))
    try:
        fcntl.flock(gate, fcntl.LOCK_SH)
        fd = _open(store_control(store_dir, LOCK_NAME))
        fcntl.flock(fd, fcntl.LOCK_SH)
    finally:
        os.close(gate)
    return fd


@contextmanager
def exclusive(store_dir: Path) -> Iterator[None]:
    """Hold the writer lock alone: wait for running writers, keep new ones out."""
    gate = _open(store_control(store_dir, GATE_NAME))
    try:
        fcntl.flock(gate, fcntl.LOCK_EX)
        fd = _open(store_control(store_dir, LOCK_NAME))
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)
    finally:
        os.close(gate)
