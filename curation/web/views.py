"""What each page shows, read from the catalog: near-duplicate groups with why one is
kept, label conflicts beside the other class, an audit's flags worst first, runs with
their confusion matrix and training curves. Plain data for the templates; no HTML here.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import groupby

from catalog import (
    Catalog,
    DuplicateMark,
    audit_flags,
    duplicate_marks,
    get_audit,
    get_image,
    image_cells,
    open_conflicts,
    open_flag_ids,
)

from ..companion import companion_of


@dataclass
class Paged:
    """A page of items out of `total`, from `offset`."""

    items: list
    total: int
    offset: int
    limit: int

    @property
    def has_more(self) -> bool:
        return self.offset + len(self.items) < self.total


def duplicate_groups(cat: Catalog, offset: int, limit: int) -> Paged:
    """Near-duplicate groups, kept image first: each {keeper, why, members: [(row, mark)]}."""
    by_keeper = [
        (keeper, list(marks))
        for keeper, marks in groupby(duplicate_marks(cat), key=lambda m: m.duplicate_of)
    ]
    page = by_keeper[offset : offset + limit]
    ids = [k for k, _ in page] + [m.image_id for _, marks in page for m in marks]
    rows = {r["id"]: r for r in image_cells(cat, ids)}
    groups = []
    for keeper, marks in page:
        if keeper not in rows:
            continue
        members = [(rows[m.image_id], m) for m in marks if m.image_id in rows]
        groups.append(
            {"keeper": rows[keeper], "why": keep_reason(rows[keeper], members), "members": members}
        )
    return Paged(groups, len(by_keeper), offset, limit)


def keep_reason(keeper: dict, members: list[tuple[dict, DuplicateMark]]) -> str:
    """Why dedup kept this one, by its rule: the largest image, then the earliest."""
    area = keeper["width"] * keeper["height"]
    size = f"{keeper['width']}×{keeper['height']}"
    others = [r["width"] * r["height"] for r, _ in members]
    if all(area > a for a in others):
        return f"kept: the largest ({size})"
    if all(area >= a for a in others):
        return f"kept: the largest ({size}), and the earliest of those as large"
    return f"kept by dedup ({size}; its rule: the largest, then the earliest)"


def conflicts(cat: Catalog, offset: int, limit: int) -> Paged:
    """Open label conflicts: each {row, other_class, other (the look-alike's row or None)}."""
    open_ = open_conflicts(cat)
    image_ids = list(dict.fromkeys(c["image_id"] for c in open_))
    page_ids = image_ids[offset : offset + limit]
    items = []
    for row in image_cells(cat, page_ids):
        companion = companion_of(cat, get_image(cat, row["id"]))
        if companion is None or companion.role != "other class":
            continue
        other = image_cells(cat, [companion.image_id]) if companion.image_id else []
        items.append(
            {"row": row, "other_class": companion.class_name, "other": other[0] if other else None}
        )
    return Paged(items, len(image_ids), offset, limit)


def audit_page(cat: Catalog, audit_id: int | None, offset: int, limit: int) -> dict:
    """An audit's flags worst first, a page of them with their images and whether each is
    still open (nobody decided it since the audit)."""
    audit = get_audit(cat, audit_id)
    flags = audit_flags(cat, audit["id"])
    still_open = set(open_flag_ids(cat, audit["id"]))
    page = flags[offset : offset + limit]
    rows = {r["id"]: r for r in image_cells(cat, [f.image_id for f in page])}
    items = [
        {"row": rows[f.image_id], "flag": f, "open": f.image_id in still_open}
        for f in page
        if f.image_id in rows
    ]
    return {
        "audit": audit,
        "open": len(still_open),
        "page": Paged(items, len(flags), offset, limit),
    }


def confusion_grid(metrics: dict) -> dict | None:
    """The confusion matrix as rows of cells {count, share, shade 0..9} (share of the true
    class's images), or None when the run has none."""
    confusion = metrics.get("confusion")
    if not isinstance(confusion, dict) or "classes" not in confusion:
        return None
    classes, matrix = confusion["classes"], confusion["matrix"]
    rows = []
    for true, counts in zip(classes, matrix, strict=True):
        total = sum(counts) or 1
        cells = [
            {
                "predicted": predicted,
                "count": n,
                "share": n / total,
                "shade": min(9, int(n / total * 10)) if n else -1,
            }
            for predicted, n in zip(classes, counts, strict=True)
        ]
        rows.append({"true": true, "cells": cells, "total": sum(counts)})
    return {"classes": classes, "rows": rows}


def curves(metrics: dict, width: int = 560, height: int = 180) -> list[dict]:
    """Training curves as SVG polylines, one chart per phase: `metrics["history"]` is
    {phase: {metric: [value per epoch]}} (what the trainer records, when it does)."""
    history = metrics.get("history")
    if not isinstance(history, dict):
        return []
    charts = []
    for phase, series in history.items():
        if not isinstance(series, dict):
            continue
        lines = {
            name: [float(v) for v in values]
            for name, values in series.items()
            if isinstance(values, list) and values and all(_number(v) for v in values)
        }
        if lines:
            charts.append(_chart(str(phase), lines, width, height))
    return charts


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _chart(phase: str, lines: dict[str, list[float]], width: int, height: int) -> dict:
    top = max(max(v) for v in lines.values())
    bottom = min(0.0, min(min(v) for v in lines.values()))
    span = (top - bottom) or 1.0
    epochs = max(len(v) for v in lines.values())
    pad = 28

    def point(i: int, value: float) -> str:
        x = pad + (width - 2 * pad) * (i / max(epochs - 1, 1))
        y = height - pad - (height - 2 * pad) * ((value - bottom) / span)
        return f"{x:.1f},{y:.1f}"

    series = [
        {
            "name": name,
            "points": " ".join(point(i, v) for i, v in enumerate(values)),
            "last": values[-1],
            "style": k % 6,
        }
        for k, (name, values) in enumerate(sorted(lines.items()))
    ]
    return {
        "phase": phase,
        "series": series,
        "width": width,
        "height": height,
        "top": top,
        "bottom": bottom,
        "epochs": epochs,
        "pad": pad,
    }
