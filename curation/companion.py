"""The image a review decision is about besides the one on screen.

A duplicate is shown beside the image it duplicates; a label conflict beside the image of
the other class that looks the same (dedup), or with just the other class's name when the
same file was filed under two classes (import). `curate review` draws both side by side.

Example:
    >>> companion_of(cat, get_image(cat, 239))   # doctest: +SKIP
    Companion(image_id=61, class_name='Air_Force_1', role='kept image')
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from catalog import Catalog, duplicate_group, get_image, open_conflicts

# How `dedup` records the other image of a cross-class look-alike in `conflicts.source`.
_NEAR_DUPLICATE_SOURCE = re.compile(r"near duplicate of image (\d+)$")


@dataclass(frozen=True)
class Companion:
    """The other side: an image (None when there is only a class name) and its class."""

    image_id: int | None
    class_name: str
    role: str  # what it is to the image on screen: "kept image" or "other class"


def companion_of(cat: Catalog, row: dict) -> Companion | None:
    """The duplicate's kept image, or the conflict's other class (and image); else None."""
    if row["status"] == "duplicate":
        group = duplicate_group(cat, row["id"])
        if group and group[0] != row["id"]:
            return Companion(group[0], get_image(cat, group[0])["class"], "kept image")
    for conflict in open_conflicts(cat):
        if conflict["image_id"] == row["id"]:
            match = _NEAR_DUPLICATE_SOURCE.search(conflict["source"] or "")
            return Companion(
                int(match.group(1)) if match else None, conflict["other_class"], "other class"
            )
    return None


def describe(companion: Companion) -> str:
    """One short line for the info panel: `vs     #61 Air_Force_1` (the role is on the other
    panel)."""
    who = f"#{companion.image_id} " if companion.image_id is not None else "same file in "
    return f"vs     {who}{companion.class_name}"
