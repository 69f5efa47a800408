"""`curate dedup`: exact and near duplicates, grouped, one kept per group, none deleted.

Exact duplicates by sha256 are already one row (the store is content-addressed); the same
picture re-encoded shares a decoded-pixel hash. Near duplicates are pHash (or dHash) pairs
within `max_distance` confirmed by aligned colour thumbnails (see `verify`), plus small square
thumbnails that repeat a window of a larger result (search-page "related" chips). Groups
are connected components; the keep rule is the largest area, then the lowest id. Images a
reviewer accepted are never marked. A group spanning classes is a label conflict for
review, not a duplicate to drop.

Example:
    >>> result = dedup(cat, max_distance=10, dry_run=True)   # doctest: +SKIP
    >>> [(g.keep, [m.image_id for m in g.members]) for g in result.groups]   # doctest: +SKIP
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from catalog import Catalog, image_file
from catalog.conflicts import record_conflict
from catalog.duplicates import DuplicateMark, mark_duplicates
from catalog.hashes import hashed_images
from catalog.schema import USABLE_STATUSES

from .hashing import HashReport, hash_catalog, open_reduced, signature_array
from .search import find_groups, groups_from_pairs, near_pairs, to_codes
from .verify import Views, confirm, confirm_square, square_views_of, views_of

__all__ = ["DEFAULT_MAX_DISTANCE", "DedupResult", "Edge", "Group", "confirmed_edges", "dedup", "find_groups"]

DEFAULT_MAX_DISTANCE = 10
# Square thumbnails this much smaller (by area) than another image may be a chip of it.
SQUARE_AREA_RATIO = 0.8
MAX_SIGNATURE_DIFF = 24.0


@dataclass(frozen=True)
class Edge:
    a: int
    b: int
    distance: int
    method: str  # pixels, phash, dhash or square-crop


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


def dedup(cat: Catalog, *, max_distance: int = DEFAULT_MAX_DISTANCE, dry_run: bool = False, squares: bool = True) -> DedupResult:
    """Hash new images, find duplicate groups among usable images and mark them.

    Args:
        max_distance: the largest pHash Hamming distance for a near-duplicate candidate.
        dry_run: find and return the groups without changing the catalog.
        squares: also match square thumbnails against windows of larger images.
    """
    hashing = hash_catalog(cat)
    rows = {r["id"]: r for r in hashed_images(cat, USABLE_STATUSES)}
    edges = confirmed_edges(cat, rows, max_distance, squares=squares)
    groups, conflicts = _decide(rows, edges)
    marked = 0
    if not dry_run:
        marked = mark_duplicates(cat, [m for g in groups for m in g.members])
        for keep, other_class, other in conflicts:
            record_conflict(cat, keep, other_class, f"near duplicate of image {other}")
    return DedupResult(hashing, groups, conflicts, marked, dry_run)


def confirmed_edges(cat: Catalog, rows: dict[int, dict], max_distance: int, *, squares: bool = True) -> list[Edge]:
    """Pairs of images that are the same picture: equal pixels, or confirmed near matches."""
    edges = _pixel_edges(rows)
    ids = list(rows)
    codes = to_codes(rows[i]["phash"] for i in ids)
    loader = _ViewCache(cat, rows)
    for i, j, d, method in _candidates(rows, ids, codes, max_distance):
        a, b = ids[i], ids[j]
        if rows[a]["pixel_hash"] == rows[b]["pixel_hash"] or not _signatures_close(rows[a], rows[b]):
            continue
        va, vb = loader.views(a), loader.views(b)
        if va is not None and vb is not None and confirm(va, vb).same:
            edges.append(Edge(a, b, d, method))
    if squares:
        edges += _square_edges(rows, loader, codes, ids)
    return edges


def _candidates(rows: dict[int, dict], ids: list[int], codes: np.ndarray, max_distance: int):
    """Index pairs within `max_distance` by pHash, or failing that by dHash.

    pHash moves by up to 16 bits under a 5% crop of a smooth picture while dHash barely
    moves; a resized or re-encoded copy is close in both. Yields (i, j, pHash distance,
    method).
    """
    seen = set()
    ii, jj, dd = near_pairs(codes, max_distance)
    for i, j, d in zip(ii.tolist(), jj.tolist(), dd.tolist()):
        seen.add((i, j))
        yield i, j, d, "phash"
    dcodes = to_codes(rows[k]["dhash"] for k in ids)
    ii, jj, _ = near_pairs(dcodes, max_distance)
    for i, j in zip(ii.tolist(), jj.tolist()):
        if (i, j) not in seen:
            yield i, j, int(np.bitwise_count(codes[i] ^ codes[j])), "dhash"


def _signatures_close(a: dict, b: dict) -> bool:
    # The stored 8x8 colour thumbnails reject most pHash look-alikes (a red shoe and a
    # black one) without decoding either file; true copies, even 5% crops, differ by < 16.
    diff = np.abs(signature_array(a["signature"]) - signature_array(b["signature"])).mean()
    return bool(diff <= MAX_SIGNATURE_DIFF)


def _pixel_edges(rows: dict[int, dict]) -> list[Edge]:
    by_pixels: dict[str, list[int]] = defaultdict(list)
    for image_id, row in rows.items():
        by_pixels[row["pixel_hash"]].append(image_id)
    return [Edge(ids[0], other, 0, "pixels") for ids in by_pixels.values() for other in ids[1:]]


def _square_edges(rows: dict[int, dict], loader: _ViewCache, codes: np.ndarray, ids: list[int]) -> list[Edge]:
    # Within a class only: a chip of another class's result is found as a conflict by
    # the pHash pass when it is close enough; an all-pairs window search would not scale.
    index = {image_id: k for k, image_id in enumerate(ids)}
    edges = []
    for square_id, row in rows.items():
        if row["width"] != row["height"]:
            continue
        area = row["width"] * row["height"]
        for other_id, other in rows.items():
            if other_id == square_id or other["class"] != row["class"]:
                continue
            if other["width"] * other["height"] * SQUARE_AREA_RATIO < area:
                continue
            square, windows = loader.views(square_id), loader.squares(other_id)
            if square is not None and windows is not None and confirm_square(square, windows).same:
                d = int(np.bitwise_count(codes[index[square_id]] ^ codes[index[other_id]]))
                edges.append(Edge(min(square_id, other_id), max(square_id, other_id), d, "square-crop"))
    return edges


class _ViewCache:
    """Thumbnails decoded once per image, only for images that some candidate needs.

    A file that cannot be read (deleted from the store by hand) confirms nothing; its
    id is kept in `unreadable` rather than stopping the whole run.
    """

    def __init__(self, cat: Catalog, rows: dict[int, dict]):
        self.cat, self.rows = cat, rows
        self._cache: dict[tuple[int, bool], Views | None] = {}
        self.unreadable: set[int] = set()

    def _get(self, image_id: int, squares: bool) -> Views | None:
        key = (image_id, squares)
        if key not in self._cache:
            try:
                with open_reduced(image_file(self.cat, self.rows[image_id])) as img:
                    self._cache[key] = square_views_of(img) if squares else views_of(img)
            except (OSError, ValueError):
                self.unreadable.add(image_id)
                self._cache[key] = None
        return self._cache[key]

    def views(self, image_id: int) -> Views | None:
        return self._get(image_id, False)

    def squares(self, image_id: int) -> Views | None:
        return self._get(image_id, True)


def _decide(rows: dict[int, dict], edges: list[Edge]) -> tuple[list[Group], list[tuple[int, str, int]]]:
    ids = sorted({e.a for e in edges} | {e.b for e in edges})
    pos = {image_id: k for k, image_id in enumerate(ids)}
    i = np.array([pos[e.a] for e in edges], dtype=np.int64)
    j = np.array([pos[e.b] for e in edges], dtype=np.int64)
    incident: dict[int, Edge] = {}
    for e in sorted(edges, key=lambda e: (e.method != "pixels", e.distance)):
        incident.setdefault(e.a, e)
        incident.setdefault(e.b, e)
    groups, conflicts = [], []
    for component in groups_from_pairs(len(ids), i, j):
        by_class: dict[str, list[int]] = defaultdict(list)
        for k in component.tolist():
            by_class[rows[ids[k]]["class"]].append(ids[k])
        keepers = {}
        for class_name, members in sorted(by_class.items()):
            group = _keep_one(rows, class_name, members, incident)
            keepers[class_name] = group.keep
            if group.members or group.spared:
                groups.append(group)
        conflicts += _cross_class(keepers)
    return sorted(groups, key=lambda g: g.keep), conflicts


def _keep_one(rows: dict[int, dict], class_name: str, members: list[int], incident: dict[int, Edge]) -> Group:
    # Largest area first, then the lowest id: independent of row or dict order.
    keep = min(members, key=lambda m: (-rows[m]["width"] * rows[m]["height"], m))
    keep_code = int(rows[keep]["phash"], 16)
    group = Group(keep=keep, class_name=class_name)
    for m in sorted(members):
        if m == keep:
            continue
        if rows[m]["status"] == "accepted":
            group.spared.append(m)
            continue
        distance = (keep_code ^ int(rows[m]["phash"], 16)).bit_count()
        method = incident[m].method if m in incident else "phash"
        group.members.append(DuplicateMark(m, keep, distance, method))
    return group


def _cross_class(keepers: dict[str, int]) -> list[tuple[int, str, int]]:
    conflicts = []
    for class_name, keep in keepers.items():
        for other_class, other in keepers.items():
            if other_class != class_name:
                conflicts.append((keep, other_class, other))
    return conflicts
