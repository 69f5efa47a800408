"""The review screen draws images at their aspect ratio, never past 2×, and the relabel popup
has a title and its keys (issue 16, item 3)."""

from __future__ import annotations

from nearcopies import add_generated
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
        assert width == frame.size.width and height < frame.size.height  # wide: fills the width only
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
