"""Image rows: adding validated images with provenance, reading and updating them."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .classes import require_class
from .db import Catalog
from .errors import CatalogError
from .owners import release
from .schema import IMAGE_STATUSES
from .sql import placeholders, row_id
from .store import absolute_path, put_file, sha256_of
from .timeutil import now
from .validate import MIN_STORED_SIDE, ImageInfo, validate_image


@dataclass
class Provenance:
    """Where an image came from. `origin` is import, download or thumbnail."""

    origin: str
    source_url: str | None = None
    page_url: str | None = None
    engine: str | None = None
    query: str | None = None
    rank: int | None = None
    title: str | None = None


@dataclass
class AddResult:
    """What `add_image` did: the image row, whether it is new, and any label conflict."""

    image: dict
    created: bool
    conflict: bool = False
    extra: dict = field(default_factory=dict)


def add_image(
    cat: Catalog,
    data: bytes,
    class_name: str,
    provenance: Provenance,
    *,
    min_side: int = MIN_STORED_SIDE,
    validated: ImageInfo | None = None,
    staged: Path | None = None,
) -> AddResult:
    """Validate `data`, store its file, then write its row.

    The same bytes added twice give one file and one row. The same bytes under another
    class are recorded as a label conflict for review, never silently dropped.

    Args:
        validated: what `validate_image` returned for these same bytes, when the caller
            has just decoded them (the crawler does, on its download threads): decoding
            is most of the cost, so it is not done twice.
        staged: a temporary file `catalog.store.stage_file` wrote with these bytes (the
            crawler's writer threads do); it is moved into the store or removed.

    Raises:
        InvalidImage: the bytes are not an acceptable image (nothing is written).
        UnknownClassError: `class_name` is not in the catalog.
    """
    require_class(cat, class_name)
    sha = sha256_of(data)
    try:
        with cat.writing():  # from the file's creation to its row's commit
            existing = get_by_sha(cat, sha)
            if existing is not None:
                return _existing(cat, existing, class_name, provenance)
            info = validated or validate_image(data, min_side=min_side)
            rel, created = put_file(cat, data, sha, info.ext, staged=staged)
            try:
                row = _row(sha, class_name, rel, info, data, provenance)
                image_id = row_id(cat.table("images").insert(row).last_pk)
            except sqlite3.IntegrityError:
                # Another process stored the same bytes between our lookup and insert.
                existing = get_by_sha(cat, sha)
                if existing is None:
                    raise
                return _existing(cat, existing, class_name, provenance)
            except BaseException:
                if created:  # no row will ever refer to it: leave no orphan behind
                    _remove_created(cat, rel)
                raise
    finally:
        if staged is not None:
            # not used: the store had the file, or the image was refused
            staged.unlink(missing_ok=True)
    return AddResult(image=get_image(cat, image_id), created=True)


def _row(
    sha: str, class_name: str, rel: str, info: ImageInfo, data: bytes, provenance: Provenance
) -> dict:
    return {
        "sha256": sha,
        "class": class_name,
        "status": "pending",
        "path": rel,
        "width": info.width,
        "height": info.height,
        "format": info.format,
        "bytes": len(data),
        "origin": safe_text(provenance.origin),
        "source_url": safe_text(provenance.source_url),
        "page_url": safe_text(provenance.page_url),
        "engine": safe_text(provenance.engine),
        "query": safe_text(provenance.query),
        "rank": provenance.rank,
        "title": safe_text(provenance.title),
        "added_at": now(),
    }


def safe_text(text: str | None) -> str | None:
    """`text` as valid UTF-8 for a TEXT column.

    A file name that is not valid UTF-8 reaches Python with surrogate escapes, which
    SQLite cannot store; its undecodable bytes are kept visible as `\\xNN`.
    """
    if text is None:
        return None
    return text.encode("utf-8", errors="surrogateescape").decode("utf-8", errors="backslashreplace")


def _remove_created(cat: Catalog, rel: str) -> None:
    absolute_path(cat, rel).unlink(missing_ok=True)
    release(cat, rel)


def _existing(cat: Catalog, image: dict, class_name: str, provenance: Provenance) -> AddResult:
    if image["class"] == class_name:
        return AddResult(image=image, created=False)
    from .conflicts import record_conflict

    record_conflict(cat, image["id"], class_name, provenance.source_url)
    return AddResult(image=image, created=False, conflict=True)


def get_image(cat: Catalog, image_id: int) -> dict:
    rows = list(cat.table("images").rows_where("id = ?", [image_id]))
    if not rows:
        raise CatalogError(f"no image with id {image_id}")
    return rows[0]


def get_by_sha(cat: Catalog, sha256: str) -> dict | None:
    rows = list(cat.table("images").rows_where("sha256 = ?", [sha256]))
    return rows[0] if rows else None


def iter_images(
    cat: Catalog,
    *,
    class_name: str | None = None,
    statuses: Iterable[str] | None = None,
    ids: Iterable[int] | None = None,
) -> Iterator[dict]:
    """Image rows in id order, optionally limited to a class, statuses or ids."""
    where: list[str] = []
    params: list[object] = []
    if class_name is not None:
        where.append("class = ?")
        params.append(class_name)
    if statuses is not None:
        statuses = list(statuses)
        where.append(f"status IN ({placeholders(statuses)})")
        params.extend(statuses)
    if ids is not None:
        ids = list(ids)
        where.append(f"id IN ({placeholders(ids)})")
        params.extend(ids)
    yield from cat.table("images").rows_where(" AND ".join(where) or None, params, order_by="id")


def image_file(cat: Catalog, image: dict) -> Path:
    """The absolute path of an image row's file in the store."""
    return absolute_path(cat, image["path"])


def update_image(cat: Catalog, image_id: int, **changes: object) -> dict:
    """Change columns of one image row and return the new row.

    `status` is checked against the known statuses and `class` against the classes;
    `flags` may be given as a list and is stored as JSON.
    """
    if "status" in changes and changes["status"] not in IMAGE_STATUSES:
        raise CatalogError(
            f"unknown status {changes['status']!r}; use one of {', '.join(IMAGE_STATUSES)}"
        )
    if "class" in changes:
        require_class(cat, str(changes["class"]))
    if isinstance(changes.get("flags"), list):
        changes["flags"] = json.dumps(changes["flags"]) if changes["flags"] else None
    cat.table("images").update(image_id, changes)
    return get_image(cat, image_id)


def image_flags(image: dict) -> list[str]:
    """The quality flags of an image row, as a list."""
    return json.loads(image["flags"]) if image.get("flags") else []


def counts_by(cat: Catalog, *columns: str) -> list[dict]:
    """Image counts grouped by the given columns (e.g. "class", "status")."""
    allowed = {"class", "status", "origin", "engine", "format"}
    bad = set(columns) - allowed
    if bad:
        raise CatalogError(f"cannot group by {sorted(bad)}; use {sorted(allowed)}")
    cols = ", ".join(f'"{c}"' for c in columns)
    sql = f"SELECT {cols}, count(*) AS n FROM images GROUP BY {cols} ORDER BY {cols}"
    return [dict(zip([*columns, "n"], row, strict=True)) for row in cat.db.execute(sql).fetchall()]
