"""The review screen draws images at their aspect ratio, never past 2×, and the relabel popup
has a title and its keys (issue 16, item 3)."""

from __future__ import annotations

from curation_tests.nearcopies import add_generated
from textual.widgets import Static
from textual_image.widget import HalfcellImage

from curation.tui import ClassPicker, ReviewApp
from curation.tui_fit import fit_cells


def test_fit_keeps_the_aspect_ratio_and_caps_the_upscale():
    assert fit_cells((159, 84), (100, 40), (10, 20)) == (31, 8)  # 2× of 159×84 is 318×168 px
    assert fit_cells((2000, 1000), (100, 40), (10, 20)) == (100, 25)  # the panel's width limits
    assert fit_cells((1000, 2000), (100, 40), (10, 20)) == (40, 40)  # the panel's height limits
    assert fit_cells((0, 10), (100, 40), (10, 20)) == (0, 0)


async def test_a_small_image_is_not_stretched_to_fill_the_panel(cat):
    """Issue 16: a 159×84 "too small" image filled the whole panel."""
    small = add_generated(cat, 1, size=(159, 84))
    large = add_generated(cat, 2, size=(1200, 600))
    app = ReviewApp(cat, image_widget=HalfcellImage)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        picture, frame = app.query_one("#picture"), app.query_one("#frame")
        assert app.current == small
        assert (picture.size.width, picture.size.height) == (31, 8)
        await pilot.press("n")
        await pilot.pause()
        assert app.current == large
        width, height = picture.size.width, picture.size.height
        assert (
            width == frame.size.width and height < frame.size.height
        )  # wide: fills the width only
        assert abs(width * 10 / (height * 20) - 2.0) < 0.1  # 1200×600 is 2:1 in pixels


async def test_relabel_popup_has_a_title_and_its_keys(review_cat):
    app = ReviewApp(review_cat, image_widget=HalfcellImage)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("l")
        await pilot.pause()
        picker = app.screen
        assert isinstance(picker, ClassPicker)
        title = str(picker.query_one("#picker-title", Static).render())
        keys = str(picker.query_one("#picker-keys", Static).render())
        assert title == "Relabel: move from Yeezy_350 to…"
        assert keys == "↑/↓ move  Enter relabel  Esc cancel"
        await pilot.press("escape")
        assert not isinstance(app.screen, ClassPicker)


def _look_alikes(cat, second_class: str) -> tuple[int, int]:
    from curation_tests.nearcopies import TRANSFORMS, encode
    from imagegen import make_image

    from catalog import Provenance, add_image
    from curation.dedup import dedup

    img = make_image(1, (240, 180))
    first = add_image(cat, encode(img), "Yeezy_350", Provenance(origin="import")).image["id"]
    second = add_image(
        cat, encode(TRANSFORMS["resize"](img)), second_class, Provenance(origin="import")
    ).image["id"]
    dedup(cat)
    return first, second


async def test_a_conflict_is_shown_beside_the_other_image_and_m_moves_it_there(cat):
    """Issue 16: a conflict showed one image and its class, not the other image nor its class."""
    from catalog import get_image

    first, second = _look_alikes(cat, "Yeezy_500")
    app = ReviewApp(cat, status="conflict", image_widget=HalfcellImage)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        other = app.query_one("#other-frame")
        assert app.current == first and other.display
        assert str(other.border_title) == f"#{second} Yeezy_500 (other class)"
        assert (
            f"vs     #{second} Yeezy_500"
            in str(app.query_one("#info", Static).render()).splitlines()
        )
        assert app.query_one("#other-picture").size.width > 0
        await pilot.press("m")
        row = get_image(cat, first)
        assert (row["class"], row["status"]) == ("Yeezy_500", "accepted")


async def test_a_duplicate_is_shown_beside_its_kept_image(cat):
    first, second = _look_alikes(cat, "Yeezy_350")
    app = ReviewApp(cat, status="duplicate", image_widget=HalfcellImage)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        other = app.query_one("#other-frame")
        assert app.current == second and other.display
        assert str(other.border_title) == f"#{first} Yeezy_350 (kept image)"
        await pilot.press("m")  # not a conflict: nothing changes
        assert app.current == second


async def test_a_plain_pending_image_has_no_companion_panel(review_cat):
    app = ReviewApp(review_cat, image_widget=HalfcellImage)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert not app.query_one("#other-frame").display
