"""`curate dedup`: exact and near duplicates, grouped, one kept per group, none deleted.

Exact duplicates by sha256 are already one row (the store is content-addressed); the same
picture re-encoded shares a decoded-pixel hash. Near duplicates come from `neardup`: pHash
(or dHash) candidates within `max_distance` confirmed by structure (ORB keypoints + RANSAC,
then foreground colours once aligned), plus small square thumbnails that repeat a window of
a larger result (search-page "related" chips). Groups never chain: each member is confirmed
against the group's kept image (largest area, then the lowest id). Images a reviewer
accepted are never marked. A group spanning classes is a label conflict for review, not a
duplicate to drop.

Example:
    >>> result = dedup(cat, max_distance=10, dry_run=True)   # doctest: +SKIP
    >>> [(g.keep, [m.image_id for m in g.members]) for g in result.groups]   # doctest: +SKIP
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from catalog import (
    USABLE_STATUSES,
    Catalog,
    DuplicateMark,
    hashed_images,
    mark_duplicates,
    record_conflict,
)

from .hashing import HashReport, hash_catalog
from .neardup import DEFAULT_MAX_DISTANCE, Edge, confirmed_edges, keep_order
from .neardup import groups as neardup_groups
from .search import find_groups

__all__ = [
    "DEFAULT_MAX_DISTANCE",
    "DedupResult",
    "Edge",
    "Group",
    "confirmed_edges",
    "dedup",
    "find_groups",
]


@dataclass
class Group:
    keep: int
    class_name: str
    members: list[DuplicateMark] = field(default_factory=list)
    spared: list[int] = field(default_factory=list)  # accepted by a reviewer: left alone


@dataclass
class DedupResult:
    hashing: HashReport
    groups: list[Group]
    conflicts: list[tuple[int, str, int]]  # (kept image, other class, the other class's image)
    marked: int
    dry_run: bool

    @property
    def duplicates(self) -> int:
        return sum(len(g.members) for g in self.groups)


def dedup(
    cat: Catalog,
    *,
    max_distance: int = DEFAULT_MAX_DISTANCE,
    dry_run: bool = False,
    squares: bool = True,
) -> DedupResult:
    """Hash new images, find duplicate groups among usable images and mark them.

    Args:
        max_distance: the largest pHash Hamming distance for a near-duplicate candidate.
        dry_run: find and return the groups without changing the catalog.
        squares: also match square thumbnails against windows of larger images.
    """
    hashing, rows = _hash_and_load(cat, dry_run)
    edges = confirmed_edges(cat, rows, max_distance, squares=squares, remember=not dry_run)
    groups, conflicts = _decide(rows, edges)
    marked = 0
    if not dry_run:
        marked = mark_duplicates(cat, [m for g in groups for m in g.members])
        for keep, other_class, other in conflicts:
            record_conflict(cat, keep, other_class, f"near duplicate of image {other}")
    return DedupResult(hashing, groups, conflicts, marked, dry_run)


def _hash_and_load(cat: Catalog, dry_run: bool) -> tuple[HashReport, dict[int, dict]]:
    """Hash new images and load the usable hashed rows; a dry run keeps no hashes.

    The hashes are computed in a transaction that a dry run rolls back once the rows are in
    memory, so `--dry-run` writes nothing and holds the write lock only while hashing.
    """
    conn = cat.db.conn
    if dry_run:
        conn.execute("BEGIN")
    try:
        hashing = hash_catalog(cat)
        rows = {r["id"]: r for r in hashed_images(cat, USABLE_STATUSES)}
    finally:
        if dry_run and conn.in_transaction:
            conn.execute("ROLLBACK")
    return hashing, rows


def _decide(
    rows: dict[int, dict], edges: list[Edge]
) -> tuple[list[Group], list[tuple[int, str, int]]]:
    """Groups without chaining (see `neardup.groups`), then one kept image per class.

    A group that spans classes keeps one image per class; a member of another class than
    the group's kept image is marked only when it is also confirmed against its own
    class's kept image, and the classes' kept images are recorded as conflicts.
    """
    confirmed = {frozenset((e.a, e.b)): e for e in edges}
    groups, conflicts = [], []
    for star in neardup_groups(rows, edges):
        by_class: dict[str, list[int]] = defaultdict(list)
        for image_id in star:
            by_class[rows[image_id]["class"]].append(image_id)
        keepers = {}
        for class_name, members in sorted(by_class.items()):
            group = _keep_one(rows, class_name, members, confirmed)
            keepers[class_name] = group.keep
            if group.members or group.spared:
                groups.append(group)
        conflicts += _cross_class(keepers)
    return sorted(groups, key=lambda g: g.keep), conflicts


def _keep_one(
    rows: dict[int, dict], class_name: str, members: list[int], confirmed: dict[frozenset, Edge]
) -> Group:
    # Largest area first, then the lowest id: independent of row or dict order.
    keep = min(members, key=lambda m: keep_order(rows, m))
    keep_code = int(rows[keep]["phash"], 16)
    group = Group(keep=keep, class_name=class_name)
    for m in sorted(members):
        edge = confirmed.get(frozenset((m, keep)))
        if m == keep or edge is None:
            continue
        if rows[m]["status"] == "accepted":
            group.spared.append(m)
            continue
        distance = (keep_code ^ int(rows[m]["phash"], 16)).bit_count()
        group.members.append(DuplicateMark(m, keep, distance, edge.method))
    return group


def _cross_class(keepers: dict[str, int]) -> list[tuple[int, str, int]]:
    conflicts = []
    for class_name, keep in keepers.items():
        for other_class, other in keepers.items():
            if other_class != class_name:
                conflicts.append((keep, other_class, other))
    return conflicts
