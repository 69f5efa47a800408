"""Label audits and the images they flagged: all the SQL for `audits` and `audit_flags`.

An audit records findings only, never decisions. A flag counts as open until the image
gets a review decision after the audit was made; `train --exclude-flagged` leaves out the
open flags of a split's newest audit.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from .db import Catalog
from .errors import CatalogError
from .sql import dict_rows, row_id
from .timeutil import now
from .tx import transaction

FLAG_KINDS = ("label", "off_topic")


@dataclass(frozen=True)
class Flag:
    """One flagged image: `score` is its label quality (0 worst .. 1 best)."""

    image_id: int
    given_class: str
    suggested_class: str | None
    score: float
    kind: str


def record_audit(
    cat: Catalog, split: str, backbone: str, params: dict, flags: Iterable[Flag]
) -> int:
    """Store an audit and its flags in one transaction; returns the audit id."""
    with transaction(cat):
        cur = cat.db.execute(
            "INSERT INTO audits (split, backbone, params, created_at) VALUES (?, ?, ?, ?)",
            [split, backbone, json.dumps(params), now()],
        )
        audit_id = row_id(cur.lastrowid)
        cat.db.conn.executemany(
            "INSERT INTO audit_flags (audit_id, image_id, given_class, suggested_class, score, "
            "kind) VALUES (?, ?, ?, ?, ?, ?)",
            [
                (audit_id, f.image_id, f.given_class, f.suggested_class, float(f.score), f.kind)
                for f in flags
            ],
        )
    return audit_id


def get_audit(cat: Catalog, audit_id: int | None = None, split: str | None = None) -> dict:
    """An audit row (`params` decoded): by id, else the newest (of `split`, if given)."""
    if audit_id is not None:
        rows = dict_rows(cat.db.execute("SELECT * FROM audits WHERE id = ?", [audit_id]))
    else:
        where, params = ("WHERE split = ?", [split]) if split is not None else ("", [])
        rows = dict_rows(
            cat.db.execute(f"SELECT * FROM audits {where} ORDER BY id DESC LIMIT 1", params)
        )
    if not rows:
        which = (
            f"id {audit_id}"
            if audit_id is not None
            else f"split {split!r}"
            if split
            else "this catalog"
        )
        raise CatalogError(f"no audit for {which}; run `train audit` first")
    return {**rows[0], "params": json.loads(rows[0]["params"])}


def audit_flags(cat: Catalog, audit_id: int) -> list[Flag]:
    """The flags of an audit, worst (lowest score) first."""
    sql = (
        "SELECT image_id, given_class, suggested_class, score, kind FROM audit_flags"
        " WHERE audit_id = ? ORDER BY score, image_id"
    )
    return [Flag(*row) for row in cat.db.execute(sql, [audit_id]).fetchall()]


def open_flag_ids(cat: Catalog, audit_id: int) -> list[int]:
    """Flagged images of an audit without a (not undone) review decision since it was made."""
    sql = """
        SELECT f.image_id FROM audit_flags f JOIN audits a ON a.id = f.audit_id
        WHERE f.audit_id = ? AND NOT EXISTS (
            SELECT 1 FROM reviews r WHERE r.image_id = f.image_id AND r.undone_by IS NULL
            AND r.action != 'undo' AND r.at >= a.created_at)
        ORDER BY f.score, f.image_id"""
    return [row[0] for row in cat.db.execute(sql, [audit_id]).fetchall()]


def latest_open_flags(cat: Catalog, split: str) -> set[int]:
    """The open flags of `split`'s newest audit; empty when it has none."""
    row = cat.db.execute("SELECT max(id) FROM audits WHERE split = ?", [split]).fetchone()
    return set(open_flag_ids(cat, row[0])) if row[0] is not None else set()


def without_flagged(cat: Catalog, split: str, rows: list[dict]) -> list[dict]:
    """`rows` less the train images among the open flags of `split`'s newest audit.

    For `train --exclude-flagged`. Test images stay, so the run's score compares with
    runs on all images.

    Raises:
        CatalogError: the split was never audited (excluding nothing would mislead).
    """
    if cat.db.execute("SELECT 1 FROM audits WHERE split = ?", [split]).fetchone() is None:
        raise CatalogError(
            f"split {split!r} has no audit to exclude flagged images from; run `train audit "
            f"--split {split}` first"
        )
    flagged = latest_open_flags(cat, split)
    return [r for r in rows if r["id"] not in flagged or r.get("subset") != "train"]
