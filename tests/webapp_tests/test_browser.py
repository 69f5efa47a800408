"""`curate serve` in a real Chromium (Playwright): keys and mouse decide, undo, relabel many,
a conflict decided and a confusion cell opened from the screen, two browser contexts on one
catalog at once, and the terminal app's view of the same decisions. Skips without Chromium."""

from __future__ import annotations

import asyncio
import threading

import pytest

from catalog import get_image, open_catalog, open_conflicts
from catalog.reviews import review_history

pytestmark = [pytest.mark.slow, pytest.mark.browser]


@pytest.fixture
def page(browser, live):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    yield tab
    context.close()
    assert errors == []


def rows(live, ids) -> list[tuple[str, str]]:
    with open_catalog(live.path) as cat:
        return [(get_image(cat, i)["status"], get_image(cat, i)["class"]) for i in ids]


def status_says(tab, text: str) -> None:
    tab.wait_for_function(
        "text => document.getElementById('status').textContent.includes(text)", arg=text
    )


def test_select_and_reject_from_the_keyboard_then_undo(page, live):
    queue = live.info["ids"]["Yeezy_350"]
    page.goto(live.url + "?class=Yeezy_350&limit=50")
    for key in ("ArrowRight", " ", "ArrowRight", " "):
        page.keyboard.press(key)
    assert page.locator(".cell.selected").count() == 2
    page.keyboard.press("d")
    status_says(page, "2 images rejected")
    assert rows(live, queue[:4]) == [
        ("pending", "Yeezy_350"),
        ("rejected", "Yeezy_350"),
        ("rejected", "Yeezy_350"),
        ("pending", "Yeezy_350"),
    ]
    assert page.locator(f'.cell[data-id="{queue[1]}"] .st').text_content() == "rejected"
    page.keyboard.press("u")
    status_says(page, "2 decisions undone")
    assert rows(live, queue[1:3]) == [("pending", "Yeezy_350")] * 2
    page.keyboard.press("x")  # an unbound key changes nothing
    with open_catalog(live.path) as cat:
        assert [r["action"] for r in review_history(cat, queue[1])] == ["reject", "undo"]


def test_relabel_many_with_the_class_picker(page, live):
    page.goto(live.url + "?class=Yeezy_350&status=pending")
    ids = [int(i) for i in page.locator(".cell").evaluate_all("cs => cs.map(c => c.dataset.id)")]
    page.keyboard.press("Control+a")
    page.keyboard.press("l")
    page.locator("#picker-filter").fill("500")
    page.keyboard.press("Enter")
    status_says(page, f"{len(ids)} images relabelled to Yeezy_500")
    assert rows(live, ids) == [("accepted", "Yeezy_500")] * len(ids)
    assert set(page.locator(".cell .cls").all_text_contents()) == {"Yeezy_500"}


def test_shift_click_and_a_rectangle_select_then_a_button_accepts(page, live):
    page.goto(live.url + "?class=Air_Max_90")
    cells = page.locator(".cell")
    cells.nth(0).click()
    cells.nth(3).click(modifiers=["Shift"])
    assert page.locator(".cell.selected").count() == 4
    page.keyboard.press("Escape")
    first, third = cells.nth(4).bounding_box(), cells.nth(6).bounding_box()
    assert first and third
    page.mouse.move(first["x"] + 5, first["y"] + 5)
    page.mouse.down()
    page.mouse.move(third["x"] + 20, third["y"] + 20, steps=5)
    page.mouse.up()
    chosen = [
        int(i)
        for i in page.locator(".cell.selected").evaluate_all("cs => cs.map(c => c.dataset.id)")
    ]
    assert chosen == live.info["ids"]["Air_Max_90"][4:7]
    page.get_by_role("button", name="Accept (k)").click()
    status_says(page, "3 images accepted")
    assert rows(live, chosen) == [("accepted", "Air_Max_90")] * 3


def test_a_conflict_and_an_audit_flag_decided_from_the_screen(page, live):
    page.goto(live.url + "conflicts")
    page.keyboard.press("m")
    status_says(page, "1 image moved")
    assert rows(live, [live.info["conflicted"]]) == [("accepted", "Yeezy_500")]
    with open_catalog(live.path) as cat:
        assert open_conflicts(cat) == []
    page.reload()
    assert "No open label conflicts" in page.content()
    page.goto(live.url + "audit")
    page.keyboard.press("a")  # the worst flag first: take its suggestion
    status_says(page, "decided as the audit suggests")
    assert rows(live, live.info["flagged"][:1]) == [("accepted", "Yeezy_350")]


def test_a_confusion_cell_opens_its_test_images(page, live):
    page.goto(live.url + f"runs/{live.info['run']}")
    page.locator("table.confusion td.off a").first.click()
    page.wait_for_url("**/predictions?**")
    assert "predicted=Yeezy_350" in page.url
    shown = page.locator(".cell").evaluate_all("cs => cs.map(c => Number(c.dataset.id))")
    assert shown == live.info["ids"]["Air_Max_90"][5:7]
    assert page.locator(".pred.wrong").count() == 2


def test_two_contexts_decide_on_one_catalog_at_once(browser, live):
    a_ctx, b_ctx = browser.new_context(), browser.new_context()
    try:
        a, b = a_ctx.new_page(), b_ctx.new_page()
        a.goto(live.url + "?class=Yeezy_500")
        b.goto(live.url + "?class=Yeezy_500")
        ids = live.info["ids"]["Yeezy_500"]
        a.keyboard.press("k")  # A accepts the first image
        b.keyboard.press("ArrowRight")
        b.keyboard.press("d")  # B rejects the second
        status_says(a, "1 image accepted")
        status_says(b, "1 image rejected")
        b.keyboard.press("Home")
        b.locator(f'.cell[data-id="{ids[0]}"]').click()
        b.keyboard.press("d")  # B then rejects A's image too
        status_says(b, "1 image rejected")
        a.keyboard.press("u")  # A's undo leaves B's later decision alone
        status_says(a, "0 decisions undone; 1 not undone")
        assert rows(live, ids[:2]) == [("rejected", "Yeezy_500")] * 2
    finally:
        a_ctx.close()
        b_ctx.close()


def test_the_terminal_app_sees_the_browsers_decisions_and_the_browser_its(page, live):
    from textual_image.widget import HalfcellImage

    from curation.tui import ReviewApp

    queue = live.info["ids"]["Air_Max_90"]
    page.goto(live.url + "?class=Air_Max_90")
    page.keyboard.press("k")
    status_says(page, "1 image accepted")
    page.keyboard.press("k")
    status_says(page, "1 image accepted")
    seen: dict = {}

    async def terminal() -> None:
        with open_catalog(live.path) as cat:
            app = ReviewApp(cat, class_name="Air_Max_90", image_widget=HalfcellImage)
            async with app.run_test(size=(80, 24)) as pilot:
                seen["current"] = app.current  # resumes after the two the browser decided
                await pilot.press("d")

    worker = threading.Thread(target=lambda: asyncio.run(terminal()))
    worker.start()
    worker.join(60)
    assert seen["current"] == queue[2]
    page.reload()
    assert page.locator(f'.cell[data-id="{queue[2]}"] .st').text_content() == "rejected"
    with open_catalog(live.path) as cat:
        assert [r["action"] for r in review_history(cat, queue[0])] == ["accept"]


def test_load_more_appends_the_next_page_under_its_class_headings(page, live):
    page.goto(live.url + "?limit=10")
    page.click("#more")
    page.wait_for_function("() => document.querySelectorAll('.cell').length === 20")
    page.click("#more")
    page.wait_for_function("() => document.querySelectorAll('.cell').length === 25")
    assert page.locator("#more").count() == 0  # nothing left to load
    headings = page.locator(".classhead").all_text_contents()
    assert headings == ["Air_Max_90", "Yeezy_350", "Yeezy_500"]
    shown = page.locator(".cell").evaluate_all("cs => cs.map(c => Number(c.dataset.id))")
    assert len(set(shown)) == 25
