"""Duplicate marks: an image set to status `duplicate` with the image it repeats."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .db import Catalog
from .tx import transaction


@dataclass(frozen=True)
class DuplicateMark:
    image_id: int
    duplicate_of: int
    distance: int
    method: str


def mark_duplicates(cat: Catalog, marks: Iterable[DuplicateMark]) -> int:
    """Set each image's status to `duplicate` and record what it repeats, all at once.

    Returns:
        How many images were marked.
    """
    marks = list(marks)
    with transaction(cat):
        for m in marks:
            reason = f"{m.method} duplicate of image {m.duplicate_of} (distance {m.distance})"
            cat.db.execute(
                "UPDATE images SET status = 'duplicate', reason = ? WHERE id = ?",
                [reason, m.image_id],
            )
            cat.db.execute(
                "INSERT OR REPLACE INTO duplicates (image_id, duplicate_of, distance, method) "
                "VALUES (?, ?, ?, ?)",
                [m.image_id, m.duplicate_of, m.distance, m.method],
            )
    return len(marks)


def duplicate_marks(cat: Catalog) -> list[DuplicateMark]:
    """Every recorded duplicate, ordered by kept image then duplicate."""
    sql = (
        "SELECT image_id, duplicate_of, distance, method FROM duplicates"
        " ORDER BY duplicate_of, image_id"
    )
    return [DuplicateMark(*row) for row in cat.db.execute(sql).fetchall()]


def duplicate_group(cat: Catalog, image_id: int) -> list[int]:
    """The ids of the group an image belongs to: the kept image first, then its duplicates."""
    row = cat.db.execute(
        "SELECT duplicate_of FROM duplicates WHERE image_id = ?", [image_id]
    ).fetchone()
    keeper = row[0] if row else image_id
    sql = "SELECT image_id FROM duplicates WHERE duplicate_of = ? ORDER BY image_id"
    members = [r[0] for r in cat.db.execute(sql, [keeper]).fetchall()]
    return [keeper, *members] if members else []
