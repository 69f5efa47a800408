"""The review UI driven headless: every key, asserting catalog rows after each."""

from __future__ import annotations

import pytest
from textual_image.widget import HalfcellImage

from catalog import get_image
from catalog.reviews import review_history
from curation.review import accept
from curation.tui import ReviewApp


def make_app(cat, **kw) -> ReviewApp:
    return ReviewApp(cat, image_widget=HalfcellImage, **kw)


def statuses(cat, ids=(1, 2, 3, 4)) -> list[str]:
    return [get_image(cat, i)["status"] for i in ids]


async def test_accept_and_reject_write_at_once(review_cat):
    app = make_app(review_cat)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("k")
        assert statuses(review_cat) == ["accepted", "pending", "pending", "pending"]
        await pilot.press("d")
        assert statuses(review_cat) == ["accepted", "rejected", "pending", "pending"]
        assert app.current == 3


async def test_undo_restores_and_goes_back(review_cat):
    app = make_app(review_cat)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("k", "d", "u")
        assert statuses(review_cat) == ["accepted", "pending", "pending", "pending"]
        assert app.current == 2
        assert [r["action"] for r in review_history(review_cat, 2)] == ["reject", "undo"]


async def test_relabel_picks_a_class(review_cat):
    app = make_app(review_cat)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("l")
        await pilot.pause()
        # The picker lists the other classes in name order; Yeezy_500 is the last one.
        await pilot.press("end", "enter")
        await pilot.pause()
        row = get_image(review_cat, 1)
        assert (row["class"], row["status"]) == ("Yeezy_500", "accepted")


async def test_relabel_escape_changes_nothing(review_cat):
    app = make_app(review_cat)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("l", "escape")
        await pilot.pause()
        assert get_image(review_cat, 1)["class"] == "Yeezy_350"
        assert review_history(review_cat, 1) == []


async def test_next_prev_move_without_writing(review_cat):
    app = make_app(review_cat)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("n", "n")
        assert app.current == 3
        await pilot.press("p")
        assert app.current == 2
        await pilot.press("p", "p")
        assert app.current == 1
        assert statuses(review_cat) == ["pending"] * 4


async def test_unbound_key_changes_nothing(review_cat):
    app = make_app(review_cat)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("x", "z", "1")
        assert statuses(review_cat) == ["pending"] * 4
        assert app.current == 1


async def test_quit_returns_summary_and_reopening_resumes(review_cat):
    app = make_app(review_cat)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("k", "k", "q")
    assert app.return_value.accepted == 2
    assert app.return_value.remaining == 2
    again = make_app(review_cat)
    async with again.run_test(size=(80, 24)):
        assert again.current == 3


async def test_progress_line_and_info_at_80x24(review_cat):
    app = make_app(review_cat, class_name="Yeezy_350")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("k")
        progress = str(app.query_one("#progress").render())
        assert "2/3" in progress and "decided 1/3" in progress
        info = str(app.query_one("#info").render())
        assert "#2" in info and "Yeezy_350" in info and "96×64" in info


async def test_end_of_queue_and_undo_with_nothing(review_cat):
    accept(review_cat, 4)
    app = make_app(review_cat, class_name="Yeezy_500", status="pending")
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.current is None  # the queue is empty
        await pilot.press("k", "d", "n")
        assert statuses(review_cat, [4]) == ["accepted"]
        await pilot.press("u")  # undoes the accept made before the session
        assert statuses(review_cat, [4]) == ["pending"]
        await pilot.press("u")  # nothing left: a notice, no crash
        assert statuses(review_cat, [4]) == ["pending"]


async def test_undone_image_counts_as_undecided_again(review_cat):
    app = make_app(review_cat)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("k", "d", "u", "q")
    assert app.return_value.remaining == 3
    again = make_app(review_cat)
    async with again.run_test(size=(80, 24)):
        assert again.current == 2


@pytest.mark.parametrize(
    "value", ["http://x/a.jpg?size[w]=500", "[/bold] [link=x]closed[/link] [/]"]
)
async def test_review_shows_page_text_as_it_is(review_cat, value):
    """Issue 13: `curate review` crashed on a crawled URL or reason holding `[...]`."""
    from textual.widgets import Static

    from catalog import update_image

    update_image(review_cat, 1, source_url=value + "\x1b[31m", reason=value)
    app = make_app(review_cat)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.pause()
        shown = str(app.query_one("#info", Static).render())
        assert f"source {value}\\x1b[31m" in shown and f"reason {value}" in shown
        await pilot.press("k")
        assert app.current == 2
