"""Stored near-duplicate verdicts: the structural check's answer for each pair it judged.

A verdict depends only on the two pictures (a stored file never changes) and on the check
itself, so it is kept under the check's version: dedup judges a pair once and split and
leaks read its answer. A new version of the check clears the old verdicts on first use.
"""

from __future__ import annotations

from collections.abc import Iterable

from .db import Catalog
from .timeutil import now
from .tx import transaction

VERSION_KEY = "near_check_version"  # in `settings`


def _stored_version(cat: Catalog) -> str | None:
    row = cat.db.execute("SELECT value FROM settings WHERE key = ?", [VERSION_KEY]).fetchone()
    return row[0] if row else None


def near_verdicts(cat: Catalog, version: str) -> dict[tuple[int, int, str], bool]:
    """{(a, b, method): same} judged by check `version` (empty when another version judged)."""
    if _stored_version(cat) != version:
        return {}
    cur = cat.db.execute("SELECT a, b, method, same FROM near_verdicts")
    return {(a, b, method): bool(same) for a, b, method, same in cur}


def record_near_verdicts(
    cat: Catalog, version: str, verdicts: Iterable[tuple[int, int, str, bool]]
) -> None:
    """Store verdicts of check `version`, dropping those of any other version first."""
    with transaction(cat):
        if _stored_version(cat) != version:
            cat.db.execute("DELETE FROM near_verdicts")
            cat.db.execute(
                "INSERT OR REPLACE INTO settings (key, value, set_at) VALUES (?, ?, ?)",
                [VERSION_KEY, version, now()],
            )
        cat.db.conn.executemany(
            "INSERT OR REPLACE INTO near_verdicts (a, b, method, same) VALUES (?, ?, ?, ?)",
            ((a, b, method, int(same)) for a, b, method, same in verdicts),
        )
