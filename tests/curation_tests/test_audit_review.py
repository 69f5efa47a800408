"""Reviewing a label audit's flags (issue 15): the TUI keys, the batch command, undo.

The audit is recorded by hand (catalog.audits.record_audit), so no model runs here:
image 1 (Yeezy_350) is flagged with the suggestion Yeezy_500, image 3 as off-topic.
"""

from __future__ import annotations

import pytest
from textual_image.widget import HalfcellImage
from typer.testing import CliRunner

from catalog import get_image
from catalog.audits import Flag, open_flag_ids, record_audit
from catalog.reviews import review_history
from curation.audit_tui import AuditReviewApp
from curation.cli import app
from curation.errors import CurationError
from curation.review import apply_audit, undo

runner = CliRunner()


@pytest.fixture
def audit_id(review_cat) -> int:
    flags = [
        Flag(3, "Yeezy_350", None, 0.01, "off_topic"),
        Flag(1, "Yeezy_350", "Yeezy_500", 0.02, "label"),
    ]
    return record_audit(review_cat, "default", "efficientnet_lite0", {"folds": 5}, flags)


def state(cat, image_id: int) -> tuple[str, str]:
    row = get_image(cat, image_id)
    return row["class"], row["status"]


def test_accept_suggestions_relabels_and_rejects_off_topic_then_undo_restores(review_cat, audit_id):
    assert apply_audit(review_cat, audit_id, "accept-suggestions") == 2
    assert state(review_cat, 1) == ("Yeezy_500", "accepted")
    assert state(review_cat, 3) == ("Yeezy_350", "rejected")
    assert open_flag_ids(review_cat, audit_id) == []
    assert apply_audit(review_cat, audit_id, "reject") == 0  # decided flags are not decided twice
    undo(review_cat)
    undo(review_cat)
    assert state(review_cat, 1) == ("Yeezy_350", "pending") and state(review_cat, 3) == (
        "Yeezy_350",
        "pending",
    )
    assert open_flag_ids(review_cat, audit_id) == [3, 1]


def test_apply_audit_narrows_by_kind_and_rejects_unknown_values(review_cat, audit_id):
    assert apply_audit(review_cat, audit_id, "keep", kind="label") == 1
    assert state(review_cat, 1) == ("Yeezy_350", "accepted") and state(review_cat, 3) == (
        "Yeezy_350",
        "pending",
    )
    with pytest.raises(CurationError, match="unknown flag kind"):
        apply_audit(review_cat, audit_id, "keep", kind="labels")
    with pytest.raises(CurationError, match="unknown decision"):
        apply_audit(review_cat, audit_id, "relabel")


def test_audit_apply_command(catalog_path, review_cat, audit_id):
    result = runner.invoke(app, ["audit-apply", "--reject", "--catalog", str(catalog_path)])
    assert result.exit_code == 0, result.output
    assert f"audit {audit_id}: reject on 2 flagged images" in result.output
    assert [r["action"] for r in review_history(review_cat, 1)] == ["reject"]
    result = runner.invoke(
        app, ["audit-apply", "--reject", "--keep", "--catalog", str(catalog_path)]
    )
    assert result.exit_code != 0 and "exactly one of" in result.output


def test_review_audit_without_an_audit_is_a_clear_error(catalog_path, review_cat):
    result = runner.invoke(app, ["review", "--audit", "--catalog", str(catalog_path)])
    assert result.exit_code == 1
    assert "no audit" in result.output


async def test_tui_walks_flags_worst_first_and_a_takes_the_suggestion(review_cat, audit_id):
    app_ = AuditReviewApp(review_cat, image_widget=HalfcellImage)
    async with app_.run_test(size=(100, 30)) as pilot:
        assert app_.current == 3  # the lowest score first
        await pilot.press("a")  # off-topic: the suggestion is to reject
        assert state(review_cat, 3) == ("Yeezy_350", "rejected")
        await pilot.press("a")
        assert state(review_cat, 1) == ("Yeezy_500", "accepted")
        await pilot.press("u")
        assert state(review_cat, 1) == ("Yeezy_350", "pending") and app_.current == 1
        await pilot.press("k")  # keep the given label
        assert state(review_cat, 1) == ("Yeezy_350", "accepted")
        await pilot.press("q")
    assert app_.return_value.describe().startswith(
        f"audit {audit_id} queue: 1 accepted, 1 rejected, 1 relabelled, 1 undone; 0 of 2"
    )


async def test_tui_reopened_continues_at_the_first_open_flag(review_cat, audit_id):
    apply_audit(review_cat, audit_id, "keep", kind="off_topic")
    app_ = AuditReviewApp(review_cat, audit_id=audit_id, image_widget=HalfcellImage)
    async with app_.run_test(size=(100, 30)):
        assert app_.current == 1
