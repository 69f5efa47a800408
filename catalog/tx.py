"""One explicit write transaction for several statements that must land together."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from .db import Catalog


@contextmanager
def transaction(cat: Catalog) -> Iterator[None]:
    """Run the block in BEGIN IMMEDIATE ... COMMIT; roll back on any exception.

    The connection is in autocommit mode, so without this each statement commits on its
    own and a crash between two of them would leave, say, a status changed without its
    audit row. sqlite-utils 4 table methods called inside the block nest as savepoints
    and roll back with it. Nested use joins the outer one.
    """
    conn = cat.db.conn
    if conn.in_transaction:
        yield
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        # SQLite rolls back by itself after some errors (a full disk): rolling back again
        # would raise "no transaction is active" and hide the real error.
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
