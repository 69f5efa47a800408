"""Small pieces of SQL plumbing the catalog's query modules share."""

from __future__ import annotations

import sqlite3
from collections.abc import Sized


def placeholders(values: Sized) -> str:
    """`?, ?, ?` for an `IN (...)` list of len(values) parameters."""
    return ", ".join("?" * len(values))


def row_id(value: object) -> int:
    """The rowid of the row just inserted: sqlite3 (`lastrowid`) and sqlite-utils (`last_pk`)
    type it as optional, and an INSERT that succeeded always has one."""
    if not isinstance(value, int):
        raise TypeError(f"an insert gave no integer row id: {value!r}")
    return value


def dict_rows(cur: sqlite3.Cursor) -> list[dict]:
    """The cursor's remaining rows as dicts keyed by column name."""
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]
