"""What `curate dedup` prints: counts per class, and the groups themselves only on request.

Ids are labelled as ids and a distance as a distance, so that no number reads as a count
(`image 61 kept; duplicates: image 239 (square-crop, distance 4)`), and each label conflict
is listed once, not once from each side.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from .dedup import DedupResult, Group


@dataclass(frozen=True)
class Conflict:
    """Two images that look alike but are filed under different classes."""

    image_id: int
    class_name: str
    other_id: int
    other_class: str


def conflict_pairs(result: DedupResult) -> list[Conflict]:
    """Each cross-class look-alike once (the result lists both directions)."""
    class_of = {other: other_class for _, other_class, other in result.conflicts}
    seen: set[frozenset[int]] = set()
    pairs = []
    for keep, other_class, other in result.conflicts:
        if frozenset((keep, other)) in seen:
            continue
        seen.add(frozenset((keep, other)))
        pairs.append(Conflict(keep, class_of.get(keep, "?"), other, other_class))
    return pairs


def per_class(result: DedupResult) -> dict[str, Counter]:
    """{class: Counter(kept=, duplicates=, spared=, conflicts=)} for the classes with any."""
    counts: dict[str, Counter] = {}
    for group in result.groups:
        c = counts.setdefault(group.class_name, Counter())
        c["kept"] += 1
        c["duplicates"] += len(group.members)
        c["spared"] += len(group.spared)
    for conflict in conflict_pairs(result):
        for name in (conflict.class_name, conflict.other_class):
            counts.setdefault(name, Counter())["conflicts"] += 1
    return counts


def class_lines(result: DedupResult) -> list[str]:
    """One line per class: `Air_Force_1: 3 kept, 5 duplicates, 1 label conflict`."""
    verb = "would be marked" if result.dry_run else "marked"
    lines = []
    for name, c in sorted(per_class(result).items()):
        parts = (
            [f"{c['kept']} kept", f"{_n(c['duplicates'], 'duplicate')} {verb}"] if c["kept"] else []
        )
        if c["spared"]:
            parts.append(f"{c['spared']} accepted by a reviewer, left alone")
        if c["conflicts"]:
            parts.append(_n(c["conflicts"], "label conflict"))
        lines.append(f"  {name}: {', '.join(parts)}")
    return lines


def group_line(group: Group) -> str:
    """`Air_Force_1: image 61 kept; duplicates: image 239 (square-crop, distance 4)`."""
    dups = ", ".join(
        f"image {m.image_id} ({m.method}, distance {m.distance})" for m in group.members
    )
    line = f"  {group.class_name}: image {group.keep} kept; duplicates: {dups or 'none'}"
    if group.spared:
        line += "; accepted by a reviewer, left alone: " + ", ".join(
            f"image {i}" for i in group.spared
        )
    return line


def conflict_line(conflict: Conflict) -> str:
    return (
        f" image {conflict.image_id} ({conflict.class_name}) looks like "
        f"image {conflict.other_id} ({conflict.other_class})"
    )


def total_line(result: DedupResult) -> str:
    pairs = len(conflict_pairs(result))
    if result.dry_run:
        done = f"would mark {_n(result.duplicates, 'duplicate')}; dry run: nothing written"
    else:
        done = f"marked {_n(result.marked, 'duplicate')}"
    return f"{_n(len(result.groups), 'group')}: {done}, {_n(pairs, 'label conflict')}"


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"
