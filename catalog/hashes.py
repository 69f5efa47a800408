"""Stored image fingerprints: pHash, dHash, decoded-pixel hash and colour signature."""

from __future__ import annotations

from collections.abc import Iterable

from .db import Catalog
from .sql import dict_rows, placeholders
from .tx import transaction

HASH_COLUMNS = ("phash", "dhash", "pixel_hash", "signature")


def unhashed_images(cat: Catalog) -> list[dict]:
    """Rows (id, path) of images that have no hashes yet, in id order."""
    sql = "SELECT id, path FROM images WHERE phash IS NULL OR signature IS NULL ORDER BY id"
    return [{"id": i, "path": p} for i, p in cat.db.execute(sql).fetchall()]


def count_hashed(cat: Catalog) -> int:
    sql = "SELECT count(*) FROM images WHERE phash IS NOT NULL AND signature IS NOT NULL"
    return cat.db.execute(sql).fetchone()[0]


def set_hashes(cat: Catalog, hashes: dict[int, dict[str, str]]) -> None:
    """Store fingerprints for many images in one transaction: {id: {column: hex}}."""
    sql = "UPDATE images SET phash = ?, dhash = ?, pixel_hash = ?, signature = ? WHERE id = ?"
    with transaction(cat):
        for image_id, values in hashes.items():
            cat.db.execute(sql, [*(values[c] for c in HASH_COLUMNS), image_id])


def hashed_images(cat: Catalog, statuses: Iterable[str] | None = None) -> list[dict]:
    """Hashed image rows with the fields dedup and split need, in id order."""
    sql = (
        "SELECT id, class, status, path, width, height, sha256, phash, dhash, pixel_hash, signature"
        " FROM images WHERE phash IS NOT NULL AND signature IS NOT NULL"
    )
    params: list[object] = []
    if statuses is not None:
        statuses = list(statuses)
        sql += f" AND status IN ({placeholders(statuses)})"
        params.extend(statuses)
    cur = cat.db.execute(sql + " ORDER BY id", params)
    return dict_rows(cur)
