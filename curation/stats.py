"""`curate stats`: per-class counts for a split, and counts by status."""

from __future__ import annotations

from catalog import Catalog, class_names
from catalog import splits as catalog_splits
from catalog.conflicts import open_conflicts
from catalog.images import counts_by
from catalog.schema import IMAGE_STATUSES, USABLE_STATUSES


def default_split(cat: Catalog) -> str | None:
    """The split stats and training use when none is named: `default`, else the newest."""
    names = catalog_splits.split_names(cat)
    if "default" in names:
        return "default"
    return names[0] if names else None


def catalog_stats(cat: Catalog, split: str | None = None) -> dict:
    """Per-class train/test counts (usable images only) and status counts.

    Returns a JSON-ready dict: `split`, `classes` (one row per class: class, train, test,
    unsplit, and a count per status), `totals` and `open_conflicts`.
    """
    if split is not None:
        catalog_splits.require_split(cat, split)
    else:
        split = default_split(cat)
    subset_counts = catalog_splits.class_subset_counts(cat, split, USABLE_STATUSES) if split else {}
    by_status: dict[str, dict[str, int]] = {}
    for row in counts_by(cat, "class", "status"):
        by_status.setdefault(row["class"], {})[row["status"]] = row["n"]
    rows = []
    for name in class_names(cat):
        statuses = {s: by_status.get(name, {}).get(s, 0) for s in IMAGE_STATUSES}
        usable = sum(statuses[s] for s in USABLE_STATUSES)
        train = subset_counts.get(name, {}).get("train", 0)
        test = subset_counts.get(name, {}).get("test", 0)
        rows.append(
            {
                "class": name,
                "train": train,
                "test": test,
                "unsplit": usable - train - test,
                **statuses,
            }
        )
    totals = {
        key: sum(r[key] for r in rows) for key in ("train", "test", "unsplit", *IMAGE_STATUSES)
    }
    return {
        "split": split,
        "classes": rows,
        "totals": totals,
        "open_conflicts": len(open_conflicts(cat)),
    }
