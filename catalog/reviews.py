"""Review decisions: each changes an image and appends an audit row in one transaction.

The `reviews` table is append-only: an undo writes a new row and points the undone one at
it (`undone_by`), so the full history of every image stays readable.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from .classes import require_class
from .conflicts import resolve_conflicts
from .db import Catalog
from .errors import CatalogError
from .schema import IMAGE_STATUSES
from .sql import placeholders, row_id
from .timeutil import now
from .tx import transaction

# The image columns a review may change, and so what an audit row records.
REVIEWED = ("status", "class", "reason")


def _state(cat: Catalog, image_id: int) -> dict:
    row = cat.db.execute(
        "SELECT status, class, reason FROM images WHERE id = ?", [image_id]
    ).fetchone()
    if row is None:
        raise CatalogError(f"no image with id {image_id}")
    return dict(zip(REVIEWED, row, strict=True))


def _check(cat: Catalog, changes: dict) -> None:
    if set(changes) - set(REVIEWED):
        raise CatalogError(f"a review may only change {', '.join(REVIEWED)}")
    if "status" in changes and changes["status"] not in IMAGE_STATUSES:
        raise CatalogError(
            f"unknown status {changes['status']!r}; use one of {', '.join(IMAGE_STATUSES)}"
        )
    if "class" in changes:
        require_class(cat, str(changes["class"]))


def _write(cat: Catalog, image_id: int, action: str, before: dict, after: dict) -> int:
    sets = ", ".join(f'"{col}" = ?' for col in REVIEWED)
    cat.db.execute(
        f"UPDATE images SET {sets} WHERE id = ?", [*(after[c] for c in REVIEWED), image_id]
    )
    cur = cat.db.execute(
        "INSERT INTO reviews (image_id, action, before, after, at) VALUES (?, ?, ?, ?, ?)",
        [image_id, action, json.dumps(before), json.dumps(after), now()],
    )
    return row_id(cur.lastrowid)


def record_review(
    cat: Catalog, image_id: int, action: str, changes: dict, *, resolve: bool = False
) -> dict:
    """Apply `changes` to an image and append the audit row, atomically.

    Args:
        resolve: also mark the image's open label conflicts resolved (a human decided).

    Returns:
        The review row as a dict (id, image_id, action, before, after).
    """
    _check(cat, changes)
    with transaction(cat):
        before = _state(cat, image_id)
        after = {**before, **changes}
        review_id = _write(cat, image_id, action, before, after)
        if resolve:
            resolve_conflicts(cat, image_id)
    return {
        "id": review_id,
        "image_id": image_id,
        "action": action,
        "before": before,
        "after": after,
    }


def last_review(cat: Catalog, image_id: int | None = None) -> dict | None:
    """The newest decision not yet undone (of one image, or of any)."""
    sql = (
        "SELECT id, image_id, action, before, after FROM reviews WHERE undone_by IS NULL AND "
        "action != 'undo'"
    )
    params: list[object] = []
    if image_id is not None:
        sql += " AND image_id = ?"
        params.append(image_id)
    row = cat.db.execute(sql + " ORDER BY id DESC LIMIT 1", params).fetchone()
    if row is None:
        return None
    return {
        "id": row[0],
        "image_id": row[1],
        "action": row[2],
        "before": json.loads(row[3]),
        "after": json.loads(row[4]),
    }


def undo_review(cat: Catalog, review: dict) -> dict:
    """Restore the state before `review` and record the undo, atomically."""
    with transaction(cat):
        current = _state(cat, review["image_id"])
        undo_id = _write(cat, review["image_id"], "undo", current, review["before"])
        cat.db.execute("UPDATE reviews SET undone_by = ? WHERE id = ?", [undo_id, review["id"]])
    return {
        "id": undo_id,
        "image_id": review["image_id"],
        "action": "undo",
        "before": current,
        "after": review["before"],
    }


def review_history(cat: Catalog, image_id: int) -> list[dict]:
    """Every audit row of an image, oldest first."""
    sql = (
        "SELECT id, action, before, after, undone_by, at FROM reviews"
        " WHERE image_id = ? ORDER BY id"
    )
    cols = ["id", "action", "before", "after", "undone_by", "at"]
    return [dict(zip(cols, row, strict=True)) for row in cat.db.execute(sql, [image_id]).fetchall()]


def reviewed_ids(cat: Catalog, ids: Iterable[int]) -> set[int]:
    """Which of `ids` carry a decision that has not been undone."""
    ids = list(ids)
    found: set[int] = set()
    for start in range(0, len(ids), 500):
        part = ids[start : start + 500]
        sql = (
            "SELECT DISTINCT image_id FROM reviews WHERE undone_by IS NULL AND action != 'undo'"
            f" AND image_id IN ({placeholders(part)})"
        )
        found |= {row[0] for row in cat.db.execute(sql, part).fetchall()}
    return found


def conflicted_ids(cat: Catalog) -> list[int]:
    """Images with an open label conflict, in id order."""
    sql = "SELECT DISTINCT image_id FROM conflicts WHERE resolved_at IS NULL ORDER BY image_id"
    return [row[0] for row in cat.db.execute(sql).fetchall()]
