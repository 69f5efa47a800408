"""Label conflicts: the same image bytes claimed by more than one class."""

from __future__ import annotations

from .db import Catalog
from .timeutil import now


def record_conflict(cat: Catalog, image_id: int, class_name: str, source: str | None) -> bool:
    """Record that `image_id` was also found under `class_name`; True if newly recorded."""
    cat.table("conflicts").insert(
        {"image_id": image_id, "class": class_name, "source": source, "created_at": now()},
        ignore=True,
    )
    return cat.db.execute("SELECT changes()").fetchone()[0] == 1


def open_conflicts(cat: Catalog) -> list[dict]:
    """Unresolved conflicts, each with the image's current class, oldest first."""
    sql = """
        SELECT c.id, c.image_id, i.class AS image_class, c.class AS other_class, c.source,
               c.created_at
        FROM conflicts c JOIN images i ON i.id = c.image_id
        WHERE c.resolved_at IS NULL ORDER BY c.id
    """
    cols = ["id", "image_id", "image_class", "other_class", "source", "created_at"]
    return [dict(zip(cols, row, strict=True)) for row in cat.db.execute(sql).fetchall()]


def resolve_conflicts(cat: Catalog, image_id: int) -> int:
    """Mark every open conflict of an image resolved (after review decided its label)."""
    cur = cat.db.execute(
        "UPDATE conflicts SET resolved_at = ? WHERE image_id = ? AND resolved_at IS NULL",
        [now(), image_id],
    )
    return cur.rowcount
