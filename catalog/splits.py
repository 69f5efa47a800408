"""Named train/test splits. An image assigned once keeps its subset."""

from __future__ import annotations

from collections.abc import Iterable

from .db import Catalog
from .errors import CatalogError
from .sql import dict_rows, placeholders
from .timeutil import now

SUBSETS = ("train", "test")
DEFAULT_SPLIT = "default"


def assign(
    cat: Catalog, name: str, assignments: Iterable[tuple[int, str]], *, seed: int | None = None
) -> int:
    """Put images into subsets of split `name`; images already in it keep their subset.

    Returns:
        How many images were newly assigned.
    """
    created = now()
    rows = []
    for image_id, subset in assignments:
        if subset not in SUBSETS:
            raise CatalogError(f"unknown subset {subset!r}; use train or test")
        rows.append(
            {
                "name": name,
                "image_id": image_id,
                "subset": subset,
                "seed": seed,
                "created_at": created,
            }
        )
    if not rows:
        return 0
    before = _count(cat, name)
    cat.table("splits").insert_all(rows, ignore=True)
    return _count(cat, name) - before


def _count(cat: Catalog, name: str) -> int:
    return cat.db.execute("SELECT count(*) FROM splits WHERE name = ?", [name]).fetchone()[0]


def split_names(cat: Catalog) -> list[str]:
    """Split names, the most recently created first."""
    sql = "SELECT name FROM splits GROUP BY name ORDER BY max(created_at) DESC, name"
    return [row[0] for row in cat.db.execute(sql).fetchall()]


def require_split(cat: Catalog, name: str) -> str:
    names = split_names(cat)
    if name not in names:
        listed = ", ".join(names) if names else "(none yet: run `curate split`)"
        raise CatalogError(f"unknown split {name!r}. Known splits: {listed}")
    return name


def default_split(cat: Catalog) -> str | None:
    """The split every stage uses when none is named: `default`, else the newest; None
    when the catalog has no split yet."""
    names = split_names(cat)
    if DEFAULT_SPLIT in names:
        return DEFAULT_SPLIT
    return names[0] if names else None


def choose_split(cat: Catalog, name: str | None) -> str | None:
    """`name` if given (it must exist: CatalogError lists the known ones), else the
    `default_split`."""
    return require_split(cat, name) if name is not None else default_split(cat)


def subsets(cat: Catalog, name: str) -> dict[int, str]:
    """image id -> subset for split `name`."""
    sql = "SELECT image_id, subset FROM splits WHERE name = ?"
    return dict(cat.db.execute(sql, [name]).fetchall())


def split_images(
    cat: Catalog, name: str, subset: str | None = None, statuses: Iterable[str] | None = None
) -> list[dict]:
    """Image rows of a split (optionally one subset, some statuses), each with its `subset`."""
    sql = "SELECT i.*, s.subset FROM splits s JOIN images i ON i.id = s.image_id WHERE s.name = ?"
    params: list[object] = [name]
    if subset is not None:
        sql += " AND s.subset = ?"
        params.append(subset)
    if statuses is not None:
        statuses = list(statuses)
        sql += f" AND i.status IN ({placeholders(statuses)})"
        params.extend(statuses)
    cur = cat.db.execute(sql + " ORDER BY i.id", params)
    return dict_rows(cur)


def class_subset_counts(
    cat: Catalog, name: str, statuses: Iterable[str] | None = None
) -> dict[str, dict[str, int]]:
    """class -> {"train": n, "test": n} for split `name`."""
    counts: dict[str, dict[str, int]] = {}
    for row in split_images(cat, name, statuses=statuses):
        per = counts.setdefault(row["class"], {s: 0 for s in SUBSETS})
        per[row["subset"]] += 1
    return counts
