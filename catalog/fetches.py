"""The `fetches` table: every URL the crawler tried for a class, with its outcome.

A re-run reads it to skip what was done; reports read it to say why each failure happened.
All SQL for the table lives here.
"""

from __future__ import annotations

from dataclasses import dataclass

from .db import Catalog
from .sql import dict_rows
from .timeutil import now
from .tx import transaction

# stored: new image; duplicate: bytes already in this class; conflict: bytes already in
# another class (recorded for review); failed: see `error` (a short reason code first).
FETCH_STATUSES = ("stored", "duplicate", "conflict", "failed")


@dataclass
class FetchRecord:
    """One attempt to turn a URL into an image of `class_name`."""

    url: str
    class_name: str
    status: str
    engine: str | None = None
    query: str | None = None
    rank: int | None = None
    http_status: int | None = None
    error: str | None = None
    sha256: str | None = None


_UPSERT = """
    INSERT INTO fetches
        (url, class, engine, query, rank, status, http_status, error, sha256, attempted_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (class, url) DO UPDATE SET
        engine = excluded.engine, query = excluded.query, rank = excluded.rank,
        status = excluded.status, http_status = excluded.http_status, error = excluded.error,
        sha256 = excluded.sha256, attempted_at = excluded.attempted_at
"""


def record_fetch(cat: Catalog, record: FetchRecord) -> None:
    """Insert or replace the row for (class, url): the latest attempt is the one kept."""
    record_fetches(cat, [record])


def record_fetches(cat: Catalog, records: list[FetchRecord]) -> None:
    """Write several fetch rows in one transaction, in order (one commit, not one each)."""
    for record in records:
        if record.status not in FETCH_STATUSES:
            raise ValueError(
                f"unknown fetch status {record.status!r}; use one of {', '.join(FETCH_STATUSES)}"
            )
    if not records:
        return
    at = now()
    with transaction(cat):
        for r in records:
            cat.db.execute(
                _UPSERT,
                [
                    r.url,
                    r.class_name,
                    r.engine,
                    r.query,
                    r.rank,
                    r.status,
                    r.http_status,
                    r.error,
                    r.sha256,
                    at,
                ],
            )


def tried_urls(cat: Catalog, class_name: str, *, include_failed: bool = True) -> set[str]:
    """URLs already tried for a class; with include_failed=False, failed ones are left out."""
    sql = "SELECT url FROM fetches WHERE class = ?"
    if not include_failed:
        sql += " AND status != 'failed'"
    return {row[0] for row in cat.db.execute(sql, [class_name]).fetchall()}


def fetch_rows(cat: Catalog, class_name: str | None = None) -> list[dict]:
    """Fetch rows (all, or one class's) in the order they were first recorded."""
    sql, params = "SELECT * FROM fetches", []
    if class_name is not None:
        sql, params = sql + " WHERE class = ?", [class_name]
    cur = cat.db.execute(sql + " ORDER BY id", params)
    return dict_rows(cur)


def failure_counts(cat: Catalog, class_name: str | None = None) -> dict[str, int]:
    """Failed fetches grouped by reason (the error's code before the first ':')."""
    counts: dict[str, int] = {}
    for row in fetch_rows(cat, class_name):
        if row["status"] == "failed":
            reason = (row["error"] or "unknown").split(":", 1)[0]
            counts[reason] = counts.get(reason, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
