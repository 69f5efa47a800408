"""Review decisions as plain functions: the batch commands and the terminal UI call these.

Each writes the image's new state and an append-only audit row at once, so quitting or
crashing at any moment loses nothing; `undo` reads the audit.

Example:
    >>> accept(cat, 12)                       # doctest: +SKIP
    >>> relabel(cat, 13, "Yeezy_500")         # doctest: +SKIP
    >>> undo(cat)                             # restores image 13  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from catalog import (
    FLAG_KINDS,
    USABLE_STATUSES,
    Catalog,
    Flag,
    audit_flags,
    conflicted_ids,
    get_audit,
    image_flags,
    iter_images,
    last_review,
    open_flag_ids,
    record_review,
    reviewed_ids,
    transaction,
    undo_review,
)

from .errors import CurationError

QUEUES = ("pending", "flagged", "conflict", "duplicate")


def accept(cat: Catalog, image_id: int) -> dict:
    """Mark an image accepted (a reviewer kept it); resolves its label conflicts."""
    return record_review(
        cat, image_id, "accept", {"status": "accepted", "reason": None}, resolve=True
    )


def reject(cat: Catalog, image_id: int, reason: str | None = None) -> dict:
    """Mark an image rejected, with an optional reason."""
    return record_review(
        cat, image_id, "reject", {"status": "rejected", "reason": reason or "rejected in review"}
    )


def relabel(cat: Catalog, image_id: int, class_name: str) -> dict:
    """Move an image to another class; the reviewer chose its label, so it is accepted."""
    changes = {"class": class_name, "status": "accepted", "reason": None}
    return record_review(cat, image_id, "relabel", changes, resolve=True)


def accept_many(cat: Catalog, ids: Iterable[int]) -> list[dict]:
    """Accept several images at once: every decision or none (one transaction), each
    audited on its own so `undo` takes them back one at a time; the review rows."""
    return _each(cat, ids, accept)


def reject_many(cat: Catalog, ids: Iterable[int], reason: str | None = None) -> list[dict]:
    """Reject several images at once, all or none (see `accept_many`)."""
    return _each(cat, ids, reject, reason)


def relabel_many(cat: Catalog, ids: Iterable[int], class_name: str) -> list[dict]:
    """Move several images to `class_name` (and accept them), all or none (see `accept_many`)."""
    return _each(cat, ids, relabel, class_name)


def _each(
    cat: Catalog, ids: Iterable[int], decide: Callable[..., dict], *args: object
) -> list[dict]:
    # An unknown id or class in the middle of a batch leaves none of it decided.
    with transaction(cat):
        return [decide(cat, image_id, *args) for image_id in ids]


def undo(cat: Catalog, image_id: int | None = None) -> dict:
    """Undo the newest decision (of one image, or of any) by restoring its before-state.

    Raises:
        CurationError: there is nothing left to undo.
    """
    review = last_review(cat, image_id)
    if review is None:
        where = f" for image {image_id}" if image_id is not None else ""
        raise CurationError(f"nothing to undo{where}")
    undo_review(cat, review)
    return review


def review_queue(cat: Catalog, status: str = "pending", class_name: str | None = None) -> list[int]:
    """The ids a review session walks through, in id order.

    pending: images nobody decided; flagged: usable images with quality flags;
    conflict: images with an open label conflict; duplicate: images marked duplicate.
    """
    if status not in QUEUES:
        raise CurationError(f"unknown review queue {status!r}; use one of {', '.join(QUEUES)}")
    if status == "conflict":
        ids = set(conflicted_ids(cat))
        return [r["id"] for r in iter_images(cat, class_name=class_name) if r["id"] in ids]
    if status == "flagged":
        rows = iter_images(cat, class_name=class_name, statuses=USABLE_STATUSES)
        return [r["id"] for r in rows if image_flags(r)]
    return [r["id"] for r in iter_images(cat, class_name=class_name, statuses=[status])]


def resume_index(cat: Catalog, queue: list[int]) -> int:
    """Where a session over `queue` continues: the first image without a decision."""
    done = reviewed_ids(cat, queue)
    return next((k for k, image_id in enumerate(queue) if image_id not in done), len(queue))


def accept_rest(cat: Catalog, status: str = "pending", class_name: str | None = None) -> int:
    """Accept every image of a queue that has no decision yet; returns how many."""
    queue = review_queue(cat, status, class_name)
    done = reviewed_ids(cat, queue)
    todo = [image_id for image_id in queue if image_id not in done]
    for image_id in todo:
        accept(cat, image_id)
    return len(todo)


# --- label audits -----------------------------------------------------------------------
AUDIT_DECISIONS = ("accept-suggestions", "reject", "keep")


def audit_queue(cat: Catalog, audit_id: int | None = None) -> tuple[dict, list[Flag]]:
    """(the audit, its flags worst first): what `curate review --audit` walks through.

    Without `audit_id`, the newest audit of the catalog.
    """
    audit = get_audit(cat, audit_id)
    return audit, audit_flags(cat, audit["id"])


def take_suggestion(cat: Catalog, flag: Flag, audit_id: int) -> dict:
    """Act on a flag as the audit suggests: relabel to the suggested class, or reject an
    off-topic image (it has no suggested class)."""
    if flag.suggested_class is None:
        return reject(cat, flag.image_id, f"off-topic (audit {audit_id})")
    return relabel(cat, flag.image_id, flag.suggested_class)


def apply_audit(
    cat: Catalog,
    audit_id: int,
    decision: str,
    *,
    kind: str | None = None,
    max_score: float | None = None,
) -> int:
    """Decide every open flag of an audit the same way; returns how many were decided.

    decision: `accept-suggestions` (relabel, or reject the off-topic), `reject`, or `keep`
    (accept the given label). `kind` and `max_score` narrow the flags acted on.
    """
    if decision not in AUDIT_DECISIONS:
        raise CurationError(
            f"unknown decision {decision!r}; use one of {', '.join(AUDIT_DECISIONS)}"
        )
    if kind is not None and kind not in FLAG_KINDS:
        raise CurationError(f"unknown flag kind {kind!r}; use one of {', '.join(FLAG_KINDS)}")
    still_open = set(open_flag_ids(cat, audit_id))
    chosen = [
        f
        for f in audit_flags(cat, audit_id)
        if f.image_id in still_open
        and (kind is None or f.kind == kind)
        and (max_score is None or f.score <= max_score)
    ]
    for flag in chosen:
        if decision == "accept-suggestions":
            take_suggestion(cat, flag, audit_id)
        elif decision == "reject":
            reject(cat, flag.image_id, f"flagged by audit {audit_id}")
        else:
            accept(cat, flag.image_id)
    return len(chosen)
