"""A full disk (or quota, or read-only file system) is one clear line, never a traceback.

Files are written to a temporary name and renamed, and rows go in transactions, so a
write that fails for lack of space leaves nothing half-written: the command stops, and
running it again after making space continues where it stopped.
"""

from __future__ import annotations

import errno
import sqlite3

from .errors import CatalogError

NO_SPACE = {errno.ENOSPC, errno.EDQUOT}
READ_ONLY = {errno.EROFS}


class DiskFullError(CatalogError):
    """No space (or quota) left, or a read-only file system, while writing `where`."""


def disk_full(exc: BaseException, where: object) -> DiskFullError | None:
    """The DiskFullError that `exc` amounts to, or None when it is another error.

    Args:
        exc: an OSError (ENOSPC, EDQUOT, EROFS) or SQLite's "database or disk is full".
        where: what was being written (a file, the catalog), for the message; an
            OSError's own file name wins.
    """
    code = getattr(exc, "errno", None)
    if isinstance(exc, OSError) and code in NO_SPACE | READ_ONLY:
        target = exc.filename or where
        if code in READ_ONLY:
            return DiskFullError(
                f"read-only file system while writing {target}: nothing was written; "
                "re-run after making it writable"
            )
        return DiskFullError(
            f"disk full while writing {target}: freed nothing, re-run after making space"
        )
    if isinstance(exc, sqlite3.OperationalError) and (
        getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL
        or "database or disk is full" in str(exc)
    ):
        return DiskFullError(
            f"disk full while writing {where}: freed nothing, re-run after making space"
        )
    return None
