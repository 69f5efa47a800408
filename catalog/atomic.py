"""Writing a file so that nobody ever sees half of it: a temporary name, then one rename.

Every stage writes its derived files this way (a manifest, a contact sheet, a cache
file, a run's record): a crash, a full disk or Ctrl-C leaves the old file (or none) and
no temporary file, and two processes filling a cache at once each publish a whole file.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any


def temp_name(path: Path, prefix: str | None = None, suffix: str = ".tmp") -> Path:
    """A fresh name beside `path` for its temporary file: `<prefix><pid>-<random><suffix>`.

    The writer's pid comes first after the prefix, so a sweep can tell a dead writer's
    leftovers from a file a live process is still writing (`store.stale_temp_files`).
    The default prefix is `.<name>.`, which hides the file from `ls`.
    """
    prefix = f".{path.name}." if prefix is None else prefix
    return path.with_name(f"{prefix}{os.getpid()}-{secrets.token_hex(4)}{suffix}")


class AtomicFile:
    """An open temporary file beside `path` that becomes `path` by one rename, or goes away.

    For a writer that streams over time (`trainer.arrays.NpyWriter`); a block of code
    uses `atomic_write`. The temporary file is created new ("x" mode), so it gets the
    permissions the umask gives any new file.
    """

    def __init__(
        self,
        path: Path,
        mode: str = "wb",
        *,
        prefix: str | None = None,
        suffix: str = ".tmp",
        **open_kwargs: Any,
    ) -> None:
        if not mode.startswith("w"):
            raise ValueError(f"an atomic file is opened for writing; received mode={mode!r}")
        self.path = Path(path)
        self.tmp = temp_name(self.path, prefix, suffix)
        self.file: IO[Any] = open(self.tmp, "x" + mode[1:], **open_kwargs)

    def close(self, *, fsync: bool = False) -> Path:
        """Close the temporary file, leaving it in place to be renamed later; returns its path.

        Args:
            fsync: flush the bytes to the disk first (a file whose catalog row follows).
        """
        try:
            if fsync:
                self.file.flush()
                os.fsync(self.file.fileno())
            self.file.close()
        except BaseException:
            self.discard()
            raise
        return self.tmp

    def commit(self, *, fsync: bool = False) -> Path:
        """Close the temporary file and rename it to `path`; returns `path`."""
        self.close(fsync=fsync)
        try:
            os.replace(self.tmp, self.path)
        except BaseException:
            self.discard()
            raise
        return self.path

    def discard(self) -> None:
        """Close and remove the temporary file; `path` is left as it was."""
        self.file.close()
        self.tmp.unlink(missing_ok=True)


@contextmanager
def atomic_write(
    path: Path,
    mode: str = "wb",
    *,
    prefix: str | None = None,
    suffix: str = ".tmp",
    fsync: bool = False,
    **open_kwargs: Any,
) -> Iterator[IO[Any]]:
    """Open a temporary file beside `path`; rename it to `path` when the block ends without
    an error, remove it when the block raises.

    Args:
        mode: "wb" or "w" (then `encoding=`, `newline=` as for `open`).
        prefix, suffix: the temporary file's name (see `temp_name`); a cache that proves
            ownership of its files by name passes its own.
        fsync: flush to disk before the rename.

    Example:
        >>> with atomic_write(dest / "manifest.csv", "w", newline="") as fh:  # doctest: +SKIP
        ...     csv.writer(fh).writerows(rows)
    """
    out = AtomicFile(path, mode, prefix=prefix, suffix=suffix, **open_kwargs)
    try:
        yield out.file
    except BaseException:
        out.discard()
        raise
    out.commit(fsync=fsync)


def write_text_atomic(path: Path, text: str, **kwargs: Any) -> Path:
    """`path.write_text(text)`, atomically (see `atomic_write`); UTF-8 unless told."""
    kwargs.setdefault("encoding", "utf-8")
    with atomic_write(path, "w", **kwargs) as fh:
        fh.write(text)
    return path
