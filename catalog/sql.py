"""Two small pieces of SQL plumbing the catalog's query modules share."""

from __future__ import annotations

import sqlite3
from collections.abc import Sized


def placeholders(values: Sized) -> str:
    """`?, ?, ?` for an `IN (...)` list of len(values) parameters."""
    return ", ".join("?" * len(values))


def dict_rows(cur: sqlite3.Cursor) -> list[dict]:
    """The cursor's remaining rows as dicts keyed by column name."""
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, row)) for row in cur.fetchall()]
