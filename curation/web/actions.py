"""What the browser's keys and buttons do: the same `curation.review` decisions as the
terminal app, so the review rows and history are the same and both can work on one
catalog at once.

A decision on several images is one transaction (all or none), each image audited on
its own. Undo is per browser tab: the tab sends back the review rows it wrote, and each
is undone only while it is still that image's newest decision, so undoing in one tab
never takes back what another tab (or `curate review`) decided since.

Example:
    >>> decide(cat, Decision("relabel", [12, 13], class_name="Yeezy_500"))  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass, field

from catalog import (
    Catalog,
    get_image,
    image_cells,
    last_review,
    transaction,
    undo_review,
)

from .. import review as review_lib
from ..companion import companion_of
from ..errors import CurationError

ACTIONS = ("accept", "reject", "relabel", "move", "suggest")
MAX_IDS = 2000  # images one request may decide


@dataclass
class Decision:
    """One request: `action` on `ids` (relabel needs `class_name`, suggest `audit_id`)."""

    action: str
    ids: list[int]
    class_name: str | None = None
    reason: str | None = None
    audit_id: int | None = None


@dataclass
class Outcome:
    """What a decision or an undo did: the images' new state, the review rows written
    ([review id, image id] pairs, for the tab's undo), and a line for the status bar."""

    rows: list[dict]
    reviews: list[list[int]] = field(default_factory=list)
    message: str = ""
    refused: list[str] = field(default_factory=list)


def parse_decision(data: object) -> Decision:
    """A `Decision` from a request's JSON, checked; CurationError says what is wrong."""
    if not isinstance(data, dict):
        raise CurationError("a decision is a JSON object")
    action, ids = data.get("action"), data.get("ids")
    if action not in ACTIONS:
        raise CurationError(f"unknown action {action!r}; use one of {', '.join(ACTIONS)}")
    if not isinstance(ids, list) or not ids or not all(_is_id(i) for i in ids):
        raise CurationError("ids: a non-empty list of image ids")
    if len(ids) > MAX_IDS:
        raise CurationError(f"at most {MAX_IDS} images per decision; got {len(ids)}")
    class_name, reason, audit_id = data.get("class"), data.get("reason"), data.get("audit")
    if action == "relabel" and not isinstance(class_name, str):
        raise CurationError("relabel needs the class to move the images to")
    if action == "suggest" and not _is_id(audit_id):
        raise CurationError("taking a suggestion needs the audit's id")
    if reason is not None and not isinstance(reason, str):
        raise CurationError("reason: a string")
    return Decision(
        action,
        list(dict.fromkeys(ids)),
        class_name if isinstance(class_name, str) else None,
        reason[:500] if isinstance(reason, str) else None,
        audit_id if _is_id(audit_id) else None,
    )


def _is_id(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**63


def decide(cat: Catalog, d: Decision) -> Outcome:
    """Apply a decision to every image of `d.ids`, all or none.

    Raises:
        CatalogError, CurationError: an unknown image or class, a move of an image without
            a label conflict, or a suggestion for an image the audit did not flag.
    """
    with transaction(cat):
        reviews = [_one(cat, d, image_id) for image_id in d.ids]
    verb = {"accept": "accepted", "reject": "rejected", "relabel": f"relabelled to {d.class_name}"}
    done = verb.get(d.action, "moved" if d.action == "move" else "decided as the audit suggests")
    return Outcome(
        rows=image_cells(cat, d.ids),
        reviews=[[r["id"], r["image_id"]] for r in reviews],
        message=f"{len(reviews)} {'image' if len(reviews) == 1 else 'images'} {done}",
    )


def _one(cat: Catalog, d: Decision, image_id: int) -> dict:
    if d.action == "accept":
        return review_lib.accept(cat, image_id)
    if d.action == "reject":
        return review_lib.reject(cat, image_id, d.reason)
    if d.action == "relabel":
        assert d.class_name is not None, "parse_decision requires it"
        return review_lib.relabel(cat, image_id, d.class_name)
    if d.action == "move":
        other = companion_of(cat, get_image(cat, image_id))
        if other is None or other.role != "other class":
            raise CurationError(f"image {image_id} has no open label conflict to move it by")
        return review_lib.relabel(cat, image_id, other.class_name)
    assert d.audit_id is not None, "parse_decision requires it"
    _, flags = review_lib.audit_queue(cat, d.audit_id)
    flag = next((f for f in flags if f.image_id == image_id), None)
    if flag is None:
        raise CurationError(f"audit {d.audit_id} did not flag image {image_id}")
    return review_lib.take_suggestion(cat, flag, d.audit_id)


def parse_undo(data: object) -> list[tuple[int, int]]:
    """The [review id, image id] pairs of an undo request, checked."""
    pairs = data.get("reviews") if isinstance(data, dict) else None
    if (
        not isinstance(pairs, list)
        or not pairs
        or len(pairs) > MAX_IDS
        or not all(
            isinstance(p, list) and len(p) == 2 and _is_id(p[0]) and _is_id(p[1]) for p in pairs
        )
    ):
        raise CurationError(f"reviews: a list of 1 to {MAX_IDS} [review id, image id] pairs")
    return [(p[0], p[1]) for p in pairs]


def undo(cat: Catalog, pairs: list[tuple[int, int]]) -> Outcome:
    """Undo these review rows, newest first, each only while it is still its image's newest
    decision; the others are listed in `refused` and left alone."""
    refused: list[str] = []
    undone: list[int] = []
    with transaction(cat):
        for review_id, image_id in sorted(pairs, reverse=True):
            newest = last_review(cat, image_id)
            if newest is None or newest["id"] != review_id:
                refused.append(
                    f"image {image_id}: decided again since (or already undone), left as it is"
                )
                continue
            undo_review(cat, newest)
            undone.append(image_id)
    ids = sorted({image_id for _, image_id in pairs})
    message = f"{len(undone)} {'decision' if len(undone) == 1 else 'decisions'} undone"
    if refused:
        message += f"; {len(refused)} not undone (decided again since)"
    return Outcome(rows=image_cells(cat, ids), message=message, refused=refused)
