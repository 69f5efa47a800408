"""Reads for a screen that browses the catalog: pages of images under filters, the values
those filters can take, one page of a run's predictions, an image's review history, and
thumbnails cached beside the catalog.

A page is read with LIMIT/OFFSET and counted with the same filter, so a grid of 50,000
images costs one indexed query per page, never a walk over every row in Python.

Example:
    >>> page = gallery_page(cat, GalleryFilter(class_name="Yeezy_350", status="pending"))
    >>> [row["id"] for row in page.rows][:3]        # doctest: +SKIP
    [12, 13, 17]
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from PIL import Image, ImageOps

from .atomic import atomic_write
from .db import Catalog
from .errors import CatalogError
from .images import get_by_sha
from .integrity import CACHE_DIR
from .reviews import review_history
from .schema import IMAGE_STATUSES
from .store import absolute_path

# The columns a grid cell shows (never `path`: a screen names images by sha256 only).
CELL_COLUMNS = (
    "id",
    "sha256",
    "class",
    "status",
    "reason",
    "flags",
    "width",
    "height",
    "format",
    "origin",
    "engine",
    "query",
)
MAX_PAGE = 500  # rows a single page may ask for
THUMBS_FOLDER = "thumbs"  # under cache/ beside the catalog: cache/thumbs/<aa>/<sha256>.jpg
THUMB_SIDE = 192
_SHA256 = re.compile(r"[0-9a-f]{64}")
UNSPLIT = "none"  # the subset filter's value for images the split has not assigned


@dataclass(frozen=True)
class GalleryFilter:
    """Which images a gallery page shows; None means any.

    `flag` is a quality flag's name, or "any" for images with at least one flag; `source`
    is an engine (google, bing, ...) or, for images that came without one, their origin
    (import); `subset` is train, test or "none" within `split`.
    """

    class_name: str | None = None
    status: str | None = None
    flag: str | None = None
    source: str | None = None
    query: str | None = None
    split: str | None = None
    subset: str | None = None


@dataclass
class GalleryPage:
    """One page of image rows (`CELL_COLUMNS`, flags decoded) and how many match in all."""

    rows: list[dict]
    total: int
    offset: int
    limit: int
    filters: GalleryFilter = field(default_factory=GalleryFilter)

    @property
    def has_more(self) -> bool:
        return self.offset + len(self.rows) < self.total


def _where(f: GalleryFilter) -> tuple[str, list[object], str]:
    """(WHERE clause, parameters, JOIN) for a filter."""
    where: list[str] = []
    params: list[object] = []
    join = ""
    if f.class_name is not None:
        where.append("i.class = ?")
        params.append(f.class_name)
    if f.status is not None:
        if f.status not in IMAGE_STATUSES:
            raise CatalogError(
                f"unknown status {f.status!r}; use one of {', '.join(IMAGE_STATUSES)}"
            )
        where.append("i.status = ?")
        params.append(f.status)
    if f.flag == "any":
        where.append("i.flags IS NOT NULL AND i.flags != '[]'")
    elif f.flag is not None:
        where.append("EXISTS (SELECT 1 FROM json_each(i.flags) WHERE json_each.value = ?)")
        params.append(f.flag)
    if f.source is not None:
        where.append("coalesce(i.engine, i.origin) = ?")
        params.append(f.source)
    if f.query is not None:
        where.append("i.query = ?")
        params.append(f.query)
    if f.subset is not None:
        if f.split is None:
            raise CatalogError("a subset filter needs the split it belongs to")
        join = "LEFT JOIN splits s ON s.image_id = i.id AND s.name = ?"
        params.insert(0, f.split)
        if f.subset == UNSPLIT:
            where.append("s.subset IS NULL")
        elif f.subset in ("train", "test"):
            where.append("s.subset = ?")
            params.append(f.subset)
        else:
            raise CatalogError(f"unknown subset {f.subset!r}; use train, test or {UNSPLIT}")
    return (" WHERE " + " AND ".join(where)) if where else "", params, join


def gallery_page(
    cat: Catalog, filters: GalleryFilter | None = None, *, offset: int = 0, limit: int = 100
) -> GalleryPage:
    """The images matching `filters`, ordered by class then id, `limit` from `offset`.

    Raises:
        CatalogError: an unknown status or subset, or a page larger than `MAX_PAGE`.
    """
    f = filters or GalleryFilter()
    if not 1 <= limit <= MAX_PAGE or offset < 0:
        raise CatalogError(f"a page holds 1 to {MAX_PAGE} images from offset 0 or more")
    where, params, join = _where(f)
    per_class = cat.db.execute(
        f"SELECT i.class, count(*) FROM images i {join}{where} GROUP BY i.class ORDER BY i.class",
        params,
    ).fetchall()
    rows: list[dict] = []
    start = 0  # the position of the class's first image in the whole ordering
    for class_name, count in per_class:
        # Each class the page overlaps is read on its own, in id order: a sort of one class,
        # where ORDER BY class, id over the whole table sorted every image for every page.
        skip = max(0, offset + len(rows) - start)
        if skip < count and len(rows) < limit:
            rows += _class_rows(cat, f, class_name, skip, limit - len(rows))
        start += count
        if start >= offset + limit:
            break
    total = sum(count for _, count in per_class)
    return GalleryPage(rows=rows, total=total, offset=offset, limit=limit, filters=f)


def _class_rows(cat: Catalog, f: GalleryFilter, class_name: str, skip: int, take: int) -> list:
    where, params, join = _where(replace(f, class_name=class_name))
    cols = ", ".join(f'i."{c}"' for c in CELL_COLUMNS)
    cur = cat.db.execute(
        f"SELECT {cols} FROM images i {join}{where} ORDER BY i.id LIMIT ? OFFSET ?",
        [*params, take, skip],
    )
    return [_cell(row) for row in cur.fetchall()]


def _cell(values: tuple) -> dict:
    row = dict(zip(CELL_COLUMNS, values, strict=True))
    row["flags"] = json.loads(row["flags"]) if row["flags"] else []
    return row


def image_cells(cat: Catalog, ids: list[int]) -> list[dict]:
    """The grid columns of the images `ids`, in the order given (unknown ids left out)."""
    if not ids:
        return []
    cols = ", ".join(f'"{c}"' for c in CELL_COLUMNS)
    found: dict[int, dict] = {}
    for start in range(0, len(ids), 500):
        part = ids[start : start + 500]
        marks = ", ".join("?" * len(part))
        cur = cat.db.execute(f"SELECT {cols} FROM images WHERE id IN ({marks})", part)
        found.update((row["id"], row) for row in map(_cell, cur.fetchall()))
    return [found[i] for i in ids if i in found]


def gallery_facets(cat: Catalog, *, max_values: int = 200) -> dict[str, list[str]]:
    """The values each filter can take in this catalog: flags, sources, queries (the
    `max_values` most common) and split names."""

    def column(sql: str) -> list[str]:
        return [row[0] for row in cat.db.execute(sql, [max_values]).fetchall()]

    return {
        "flags": column(
            "SELECT j.value FROM images, json_each(images.flags) j WHERE images.flags IS NOT NULL"
            " GROUP BY j.value ORDER BY j.value LIMIT ?"
        ),
        "sources": column(
            "SELECT coalesce(engine, origin) AS s FROM images GROUP BY s ORDER BY s LIMIT ?"
        ),
        "queries": column(
            "SELECT query FROM images WHERE query IS NOT NULL GROUP BY query"
            " ORDER BY count(*) DESC, query LIMIT ?"
        ),
        "splits": column(
            "SELECT name FROM splits GROUP BY name ORDER BY max(created_at) DESC, name LIMIT ?"
        ),
    }


def image_history(cat: Catalog, image_id: int) -> list[dict]:
    """Every review row of an image, oldest first, `before`/`after` decoded."""
    return [
        {**row, "before": json.loads(row["before"]), "after": json.loads(row["after"])}
        for row in review_history(cat, image_id)
    ]


@dataclass
class PredictionPage:
    """One page of a run's test predictions, mistakes first, and how many match in all."""

    rows: list[dict]
    total: int
    offset: int
    limit: int

    @property
    def has_more(self) -> bool:
        return self.offset + len(self.rows) < self.total


def prediction_page(
    cat: Catalog,
    run_id: int,
    *,
    true_class: str | None = None,
    predicted: str | None = None,
    offset: int = 0,
    limit: int = 100,
) -> PredictionPage:
    """A run's predictions (optionally one cell of its confusion matrix), mistakes first,
    then by true class, least confident first; each row has the image's grid columns plus
    `true_class`, `predicted` and `top_k` [(class, probability), ...]."""
    if not 1 <= limit <= MAX_PAGE or offset < 0:
        raise CatalogError(f"a page holds 1 to {MAX_PAGE} predictions from offset 0 or more")
    where: list[str] = ["p.run_id = ?"]
    params: list[object] = [run_id]
    for column, value in (("true_class", true_class), ("predicted", predicted)):
        if value is not None:
            where.append(f"p.{column} = ?")
            params.append(value)
    clause = " AND ".join(where)
    total = cat.db.execute(f"SELECT count(*) FROM predictions p WHERE {clause}", params).fetchone()[
        0
    ]
    cols = ", ".join(f'i."{c}"' for c in CELL_COLUMNS)
    cur = cat.db.execute(
        f"SELECT {cols}, p.true_class, p.predicted, p.top_k FROM predictions p"
        f" JOIN images i ON i.id = p.image_id WHERE {clause}"
        " ORDER BY p.predicted = p.true_class, p.true_class,"
        " json_extract(p.top_k, '$[0][1]'), p.image_id LIMIT ? OFFSET ?",
        [*params, limit, offset],
    )
    rows = []
    for values in cur.fetchall():
        row = _cell(values[: len(CELL_COLUMNS)])
        true, guess, top_k = values[len(CELL_COLUMNS) :]
        row.update(true_class=true, predicted=guess, top_k=[tuple(p) for p in json.loads(top_k)])
        rows.append(row)
    return PredictionPage(rows=rows, total=total, offset=offset, limit=limit)


def is_sha256(text: str) -> bool:
    """Whether `text` is a sha256 as the catalog writes it (64 lowercase hex digits)."""
    return bool(_SHA256.fullmatch(text))


def image_by_sha(cat: Catalog, sha256: str) -> tuple[dict, Path] | None:
    """(row, file) of the image with this sha256, or None: anything that is not a sha256
    (a path, `..`) finds nothing, so a request can only name a stored image."""
    if not is_sha256(sha256):
        return None
    row = get_by_sha(cat, sha256)
    if row is None:
        return None
    return row, absolute_path(cat, row["path"])


def thumbnail_file(
    cat: Catalog, sha256: str, side: int = THUMB_SIDE, *, make: bool = True
) -> Path | None:
    """The JPEG thumbnail (at most `side` px) of the image with this sha256, made once with
    Pillow and cached under `cache/thumbs/` beside the catalog; None for an unknown sha256,
    and, with `make=False`, for one whose thumbnail is not cached yet (nothing is decoded).

    Raises:
        OSError: the image's file cannot be read or decoded (missing from the store).
    """
    if not is_sha256(sha256):
        return None
    # Only the existence of the row: a grid asks for a hundred of these at once.
    known = cat.db.execute("SELECT path FROM images WHERE sha256 = ?", [sha256]).fetchone()
    if known is None:
        return None
    path = cat.root / CACHE_DIR / THUMBS_FOLDER / sha256[:2] / f"{sha256}-{side}.jpg"
    if path.is_file():
        return path
    if not make:
        return None
    source = absolute_path(cat, known[0])
    with Image.open(source) as img:
        if img.format == "JPEG":
            img.draft("RGB", (side * 2, side * 2))  # decode at reduced size: much faster
        img.load()
        small = ImageOps.exif_transpose(img)
        small.thumbnail((side, side))
        if small.mode in ("RGBA", "LA", "P"):
            background = Image.new("RGB", small.size, "white")
            rgba = small.convert("RGBA")
            background.paste(rgba, mask=rgba.getchannel("A"))
            small = background
        small = small.convert("RGB")
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as fh:  # two requests for one thumbnail each publish a whole file
        small.save(fh, "JPEG", quality=82)
    return path
