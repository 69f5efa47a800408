"""Review decisions: state and audit written together, undo from the audit, queues."""

from __future__ import annotations

import json

import pytest

from catalog import CatalogError, get_image, update_image
from catalog.conflicts import open_conflicts, record_conflict
from catalog.reviews import review_history
from curation.errors import CurationError
from curation.review import accept, accept_rest, reject, relabel, resume_index, review_queue, undo


def state(cat, image_id):
    row = get_image(cat, image_id)
    return row["status"], row["class"], row["reason"]


def test_accept_reject_relabel_write_state_and_audit(review_cat):
    accept(review_cat, 1)
    reject(review_cat, 2, "blurry photo")
    relabel(review_cat, 3, "Yeezy_500")
    assert state(review_cat, 1) == ("accepted", "Yeezy_350", None)
    assert state(review_cat, 2) == ("rejected", "Yeezy_350", "blurry photo")
    assert state(review_cat, 3) == ("accepted", "Yeezy_500", None)
    (row,) = review_history(review_cat, 3)
    assert row["action"] == "relabel"
    assert json.loads(row["before"]) == {"status": "pending", "class": "Yeezy_350", "reason": None}
    assert json.loads(row["after"])["class"] == "Yeezy_500"


def test_undo_restores_newest_then_older(review_cat):
    accept(review_cat, 1)
    relabel(review_cat, 2, "Yeezy_500")
    assert undo(review_cat)["image_id"] == 2
    assert state(review_cat, 2) == ("pending", "Yeezy_350", None)
    assert undo(review_cat)["image_id"] == 1
    assert state(review_cat, 1) == ("pending", "Yeezy_350", None)
    with pytest.raises(CurationError, match="nothing to undo"):
        undo(review_cat)
    actions = [r["action"] for r in review_history(review_cat, 2)]
    assert actions == ["relabel", "undo"]  # append-only: the undone row stays


def test_undo_of_one_image(review_cat):
    accept(review_cat, 1)
    accept(review_cat, 2)
    undo(review_cat, 1)
    assert [state(review_cat, i)[0] for i in (1, 2)] == ["pending", "accepted"]
    with pytest.raises(CurationError, match="image 1"):
        undo(review_cat, 1)


def test_bad_requests_change_nothing(review_cat):
    with pytest.raises(CatalogError, match="unknown class"):
        relabel(review_cat, 1, "No_Such_Class")
    with pytest.raises(CatalogError, match="no image with id 99"):
        accept(review_cat, 99)
    assert state(review_cat, 1) == ("pending", "Yeezy_350", None)
    assert review_history(review_cat, 1) == []


def test_accept_resolves_the_label_conflict(review_cat):
    record_conflict(review_cat, 1, "Yeezy_500", "file:///x.jpg")
    assert review_queue(review_cat, "conflict") == [1]
    accept(review_cat, 1)
    assert open_conflicts(review_cat) == []


def test_queues(review_cat):
    update_image(review_cat, 2, flags=["blurry"])
    reject(review_cat, 3)
    update_image(review_cat, 4, status="duplicate")
    assert review_queue(review_cat, "pending") == [1, 2]
    assert review_queue(review_cat, "flagged") == [2]
    assert review_queue(review_cat, "duplicate") == [4]
    assert review_queue(review_cat, "pending", "Yeezy_500") == []
    with pytest.raises(CurationError, match="unknown review queue"):
        review_queue(review_cat, "done")


def test_accept_rest_and_resume(review_cat):
    update_image(review_cat, 2, flags=["grayscale"])
    queue = review_queue(review_cat, "flagged")
    assert resume_index(review_cat, queue) == 0
    reject(review_cat, 1)
    assert accept_rest(review_cat) == 3  # 2, 3, 4: the rejected one is not pending
    assert [state(review_cat, i)[0] for i in (1, 2, 3, 4)] == [
        "rejected",
        "accepted",
        "accepted",
        "accepted",
    ]
    assert resume_index(review_cat, queue) == 1  # the flagged queue is done
    assert accept_rest(review_cat) == 0


def test_batch_decisions_are_all_or_nothing_and_undone_one_at_a_time(review_cat):
    """Issue 17: `curate accept/reject/relabel` call these batch functions of the library."""
    from curation.review import accept_many, reject_many, relabel_many

    assert [r["image_id"] for r in accept_many(review_cat, [1, 2])] == [1, 2]
    assert [r["action"] for r in reject_many(review_cat, [3], "blurry")] == ["reject"]
    with pytest.raises(CatalogError, match="no image with id 99"):
        relabel_many(review_cat, [4, 99], "Yeezy_350")
    assert state(review_cat, 4) == ("pending", "Yeezy_500", None)  # 4 came before 99: undone too
    assert review_history(review_cat, 4) == []
    relabel_many(review_cat, [4], "Yeezy_350")
    assert state(review_cat, 4) == ("accepted", "Yeezy_350", None)
    assert undo(review_cat)["image_id"] == 4
    assert undo(review_cat)["image_id"] == 3
    assert [state(review_cat, i)[0] for i in (1, 2, 3, 4)] == [
        "accepted",
        "accepted",
        "pending",
        "pending",
    ]
