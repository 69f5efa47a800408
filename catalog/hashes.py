"""Stored image fingerprints: pHash, dHash, decoded-pixel hash, colour signature, windows."""

from __future__ import annotations

from collections.abc import Iterable

from .db import Catalog
from .sql import dict_rows, placeholders
from .tx import transaction

HASH_COLUMNS = ("phash", "dhash", "pixel_hash", "signature", "windows")
HASHED = "phash IS NOT NULL AND signature IS NOT NULL AND windows IS NOT NULL"


def unhashed_images(cat: Catalog) -> list[dict]:
    """Rows (id, path) of images that have no hashes yet, in id order."""
    sql = f"SELECT id, path FROM images WHERE NOT ({HASHED}) ORDER BY id"
    return [{"id": i, "path": p} for i, p in cat.db.execute(sql).fetchall()]


def count_hashed(cat: Catalog) -> int:
    sql = f"SELECT count(*) FROM images WHERE {HASHED}"
    return cat.db.execute(sql).fetchone()[0]


def set_hashes(cat: Catalog, hashes: dict[int, dict[str, str]]) -> None:
    """Store fingerprints for many images in one transaction: {id: {column: hex}}."""
    sets = ", ".join(f"{c} = ?" for c in HASH_COLUMNS)
    sql = f"UPDATE images SET {sets} WHERE id = ?"
    with transaction(cat):
        for image_id, values in hashes.items():
            cat.db.execute(sql, [*(values[c] for c in HASH_COLUMNS), image_id])


def hashed_images(cat: Catalog, statuses: Iterable[str] | None = None) -> list[dict]:
    """Hashed image rows with the fields dedup and split need, in id order."""
    sql = (
        "SELECT id, class, status, path, width, height, sha256, phash, dhash, pixel_hash,"
        f" signature, windows FROM images WHERE {HASHED}"
    )
    params: list[object] = []
    if statuses is not None:
        statuses = list(statuses)
        sql += f" AND status IN ({placeholders(statuses)})"
        params.extend(statuses)
    cur = cat.db.execute(sql + " ORDER BY id", params)
    return dict_rows(cur)
