"""`curate split` and `curate leaks`: a stratified, leak-free, stable train/test split.

Near-duplicate groups (pairs confirmed by `neardup`, the same test dedup and leaks use)
are placed as one unit, so no group straddles train and test. Images already in the split keep their
subset; new units fill each class towards the test ratio. Units are shuffled with a
generator seeded by (seed, class), so the same seed on the same catalog gives the same
split.

Example:
    >>> report = split_catalog(cat, "default", test=0.2, seed=42)   # doctest: +SKIP
    >>> leaks(cat, "default")                                       # doctest: +SKIP
    []
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field

from catalog import (
    USABLE_STATUSES,
    Catalog,
    assign_split,
    class_subset_counts,
    hashed_images,
    require_split,
    split_subsets,
)

from .errors import CurationError
from .hashing import HashReport, hash_catalog
from .neardup import DEFAULT_MAX_DISTANCE, Edge, components, confirmed_edges


@dataclass
class SplitReport:
    name: str
    assigned: int
    per_class: dict[str, dict[str, int]] = field(default_factory=dict)
    groups: int = 0
    hashing: HashReport | None = None  # its `missing` images were left out


def split_catalog(
    cat: Catalog,
    name: str = "default",
    *,
    test: float = 0.2,
    seed: int = 42,
    max_distance: int = DEFAULT_MAX_DISTANCE,
) -> SplitReport:
    """Assign every usable, unassigned image of the catalog to train or test in `name`.

    Returns:
        A SplitReport with the newly assigned count and the per-class train/test counts.
    """
    if not 0 < test < 1:
        raise CurationError(f"--test must be between 0 and 1, got {test}")
    hashing = hash_catalog(cat)
    rows = {r["id"]: r for r in hashed_images(cat, USABLE_STATUSES)}
    existing = split_subsets(cat, name)
    units = _units(rows, confirmed_edges(cat, rows, max_distance))
    assignments = _inherit(units, existing)
    counts = _class_counts(rows, existing)
    fresh = [u for u in units if not any(i in existing for i in u)]
    for class_name, class_units in sorted(_by_class(rows, fresh).items()):
        assignments += _place(
            class_units, counts[class_name], test, random.Random(f"{seed}:{class_name}")
        )
    assigned = assign_split(cat, name, assignments, seed=seed)
    per_class = class_subset_counts(cat, name, USABLE_STATUSES)
    return SplitReport(name, assigned, per_class, sum(1 for u in units if len(u) > 1), hashing)


def _units(rows: dict[int, dict], edges: list[Edge]) -> list[list[int]]:
    """Near-duplicate groups plus single images, each sorted, in order of first id."""
    ids = sorted(rows)
    grouped = components(ids, edges)
    in_group = {image_id for g in grouped for image_id in g}
    return sorted(
        grouped + [[image_id] for image_id in ids if image_id not in in_group], key=lambda u: u[0]
    )


def _inherit(units: list[list[int]], existing: dict[int, str]) -> list[tuple[int, str]]:
    """New members of a group that is partly assigned join the subset it is already in."""
    out = []
    for unit in units:
        subsets = [existing[i] for i in unit if i in existing]
        if subsets and len(subsets) < len(unit):
            subset = "test" if "test" in subsets else "train"
            out += [(i, subset) for i in unit if i not in existing]
    return out


def _class_counts(rows: dict[int, dict], existing: dict[int, str]) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = defaultdict(lambda: {"train": 0, "test": 0})
    for image_id, row in rows.items():
        counts[row["class"]]  # every class present gets an entry
        if image_id in existing:
            counts[row["class"]][existing[image_id]] += 1
    return counts


def _by_class(rows: dict[int, dict], units: list[list[int]]) -> dict[str, list[list[int]]]:
    by: dict[str, list[list[int]]] = defaultdict(list)
    for unit in units:
        by[rows[unit[0]]["class"]].append(unit)
    return by


def _place(
    units: list[list[int]], counts: dict[str, int], test: float, rng: random.Random
) -> list[tuple[int, str]]:
    """Shuffle the new units; each goes to test while it fits under the class's target.

    The target is the test share of the class's final size (assigned + new), so images
    that arrive later top test up towards the ratio without moving anyone.
    """
    units = list(units)
    rng.shuffle(units)
    total = counts["train"] + counts["test"] + sum(len(u) for u in units)
    target = round(test * total)
    out = []
    for unit in units:
        subset = "test" if counts["test"] + len(unit) <= target else "train"
        counts[subset] += len(unit)
        out += [(i, subset) for i in unit]
    return out


@dataclass(frozen=True)
class Leak:
    train_id: int
    test_id: int
    distance: int
    method: str


def leaks(cat: Catalog, name: str, *, max_distance: int = DEFAULT_MAX_DISTANCE) -> list[Leak]:
    """Train/test pairs of usable images in split `name` that are near duplicates."""
    require_split(cat, name)
    subsets = split_subsets(cat, name)
    hash_catalog(cat)  # images added since the last dedup get their hashes first
    rows = {r["id"]: r for r in hashed_images(cat, USABLE_STATUSES) if r["id"] in subsets}
    found = []
    for e in confirmed_edges(cat, rows, max_distance):
        if subsets[e.a] != subsets[e.b]:
            train, test_ = (e.a, e.b) if subsets[e.a] == "train" else (e.b, e.a)
            found.append(Leak(train, test_, e.distance, e.method))
    return found
