"""`curate stats`: per-class counts for a split, and counts by status."""

from __future__ import annotations

from typing import Any

from catalog import (
    IMAGE_STATUSES,
    USABLE_STATUSES,
    Catalog,
    choose_split,
    class_names,
    class_subset_counts,
    counts_by,
    open_conflicts,
)


def catalog_stats(cat: Catalog, split: str | None = None) -> dict:
    """Per-class train/test counts (usable images only) and status counts.

    Returns a JSON-ready dict: `split`, `classes` (one row per class: class, train, test,
    unsplit, and a count per status), `totals` and `open_conflicts`.
    """
    split = choose_split(cat, split)
    subset_counts = class_subset_counts(cat, split, USABLE_STATUSES) if split else {}
    by_status: dict[str, dict[str, int]] = {}
    for row in counts_by(cat, "class", "status"):
        by_status.setdefault(row["class"], {})[row["status"]] = row["n"]
    rows: list[dict[str, Any]] = []
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
