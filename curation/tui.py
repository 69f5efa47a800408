"""`curate review`: a keyboard-driven terminal UI over one review queue.

Every key calls a plain `curation.review` function that writes to the catalog at once,
so quitting (or a crash) loses nothing, and reopening continues at the first image
without a decision. The image is drawn in the terminal by textual-image: sixel or the
kitty protocol where the terminal supports them, coloured half blocks everywhere else.

Keys: k accept, d reject, l relabel (pick a class), m move to the other class of a label
conflict, u undo, n next, p previous, q quit. A duplicate is shown beside its kept image, a
conflict beside the other class's image.

Example:
    >>> summary = ReviewApp(cat, status="pending", class_name="Yeezy_350").run()   # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Container, Horizontal, Vertical
from textual.reactive import reactive
from textual.screen import ModalScreen
from textual.widgets import Footer, OptionList, Static

# Imported before any app starts: textual-image asks the terminal which graphics it
# supports (sixel, kitty, else half blocks), which cannot work once Textual reads stdin.
from textual_image.widget import Image as AutoImage

from catalog import (
    Catalog,
    CatalogError,
    class_names,
    duplicate_group,
    get_image,
    image_file,
    image_flags,
)
from clikit import plain

from . import review as review_lib
from .companion import Companion, companion_of
from .companion import describe as describe_companion
from .errors import CurationError
from .tui_fit import cell_px, fit_cells


@dataclass
class ReviewSummary:
    """What a session did; `ReviewApp.run()` returns it."""

    queue: str
    total: int
    accepted: int = 0
    rejected: int = 0
    relabelled: int = 0
    undone: int = 0
    remaining: int = 0

    def describe(self) -> str:
        return (
            f"{self.queue} queue: {self.accepted} accepted, {self.rejected} rejected, "
            f"{self.relabelled} relabelled, {self.undone} undone; {self.remaining} of {self.total} "
            "still undecided"
        )


class ClassPicker(ModalScreen[str | None]):
    """Pick the class to relabel to; Escape cancels. A title and a line of keys say how (issue
    16)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    DEFAULT_CSS = """
    ClassPicker { align: center middle; }
    ClassPicker > Vertical {
        width: 44; height: auto; max-height: 24; border: round $accent; padding: 0 1;
    }
    ClassPicker #picker-title { text-style: bold; }
    ClassPicker #picker-keys { color: $text-muted; }
    ClassPicker OptionList { height: auto; max-height: 18; }
    """
    KEYS_HINT = "↑/↓ move  Enter relabel  Esc cancel"

    def __init__(self, classes: list[str], current: str):
        super().__init__()
        self.current = current
        self.choices = [c for c in classes if c != current]

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(plain(f"Relabel: move from {self.current} to…")), id="picker-title")
            yield OptionList(*self.choices)
            yield Static(self.KEYS_HINT, id="picker-keys")

    @on(OptionList.OptionSelected)
    def chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.choices[event.option_index])

    def action_cancel(self) -> None:
        self.dismiss(None)


class ReviewApp(App[ReviewSummary]):
    """Review the images of one queue (pending, flagged, conflict or duplicate)."""

    TITLE = "curate review"
    BINDINGS = [
        Binding("k", "accept", "Accept"),
        Binding("d", "reject", "Reject"),
        Binding("l", "relabel", "Relabel"),
        Binding("m", "move_there", "Move there"),
        Binding("u", "undo", "Undo"),
        Binding("n", "next", "Next"),
        Binding("p", "prev", "Prev"),
        Binding("q", "quit_review", "Quit"),
    ]
    CSS = """
    #main { height: 1fr; }
    #frame { width: 1fr; height: 1fr; align: center middle; }
    #other-frame {
        width: 1fr; height: 1fr; align: center middle; border: round $warning; display: none;
    }
    #info { width: 34; padding: 0 1; border-left: solid $accent; }
    #progress { height: 1; background: $boost; padding: 0 1; }
    """
    index: reactive[int] = reactive(0, always_update=True)

    def __init__(
        self,
        cat: Catalog,
        *,
        status: str = "pending",
        class_name: str | None = None,
        image_widget: type | None = None,
    ):
        super().__init__()
        self.cat = cat
        self.queue = review_lib.review_queue(cat, status, class_name)
        self.summary = ReviewSummary(queue=status, total=len(self.queue))
        self._image_widget = image_widget
        self.companion: Companion | None = None  # the other side of a duplicate or conflict
        self.set_reactive(ReviewApp.index, review_lib.resume_index(cat, self.queue))

    def compose(self) -> ComposeResult:
        with Horizontal(id="main"):
            with Container(id="frame"):  # the picture is sized inside it by `_fit_picture`
                yield self._make_image_widget()
            with Container(id="other-frame"):  # a duplicate's kept image, a conflict's other image
                yield self._make_image_widget("other-picture")
            yield Static(id="info")
        yield Static(id="progress")
        yield Footer()

    def _picture(self, selector: str) -> Any:
        # AutoImage, or the class `image_widget` names: each has `.image`, but textual_image
        # exports no public base class to ask query_one for.
        return self.query_one(selector)

    def _make_image_widget(self, widget_id: str = "picture"):
        widget = self._image_widget or AutoImage
        return widget(None, id=widget_id)

    def on_mount(self) -> None:
        self.watch_index(self.index)

    @property
    def current(self) -> int | None:
        return self.queue[self.index] if 0 <= self.index < len(self.queue) else None

    def watch_index(self, index: int) -> None:
        # App.is_mounted is a method (of a widget), so `not self.is_mounted` was never true.
        if not self.is_running:
            return
        info, picture = self.query_one("#info", Static), self._picture("#picture")
        image_id = self.current
        if image_id is None:
            picture.image = None
            self._show_companion(None)
            info.update("Nothing left in this queue.\n\nq quits, p goes back.")
        else:
            row = get_image(self.cat, image_id)
            picture.image = self._load(row)
            self._picture_px = (row["width"], row["height"])
            self._show_companion(row)
            self.call_after_refresh(self._fit_picture)
            info.update(self._describe(row))
        self._progress()

    def on_resize(self) -> None:
        self.call_after_refresh(self._fit_picture)

    def _fit_picture(self) -> None:
        """Size the pictures at their aspect ratio, at most 2× their pixels, never stretched,
        so that an image's size can be judged."""
        for frame_id, picture_id, px in (
            ("#frame", "#picture", getattr(self, "_picture_px", (0, 0))),
            ("#other-frame", "#other-picture", getattr(self, "_other_px", (0, 0))),
        ):
            frame = self.query_one(frame_id)
            cols, rows = fit_cells(px, (frame.size.width, frame.size.height), cell_px())
            picture = self.query_one(picture_id)
            picture.styles.width, picture.styles.height = max(cols, 1), max(rows, 1)

    def _show_companion(self, row: dict | None) -> None:
        """Beside a duplicate its kept image, beside a conflict the other class's image (issue
        16)."""
        self.companion = companion_of(self.cat, row) if row is not None else None
        frame = self.query_one("#other-frame")
        picture = self._picture("#other-picture")
        other = (
            get_image(self.cat, self.companion.image_id)
            if self.companion and self.companion.image_id
            else None
        )
        frame.display = other is not None
        picture.image = self._load(other) if other else None
        if other and self.companion:
            self._other_px = (other["width"], other["height"])
            frame.border_title = Text(
                plain(f"#{other['id']} {other['class']} ({self.companion.role})")
            )

    def _load(self, row: dict):
        try:
            return str(image_file(self.cat, row))
        except OSError:
            return None

    def _describe(self, row: dict) -> Text:
        """The image's fields as a Text: URLs and reasons come from web pages and users, so
        they are shown as they are, never read as markup."""
        group = duplicate_group(self.cat, row["id"])
        lines = [
            f"class  {row['class']}",
            f"size   {row['width']}×{row['height']} {row['format']}",
            f"flags  {', '.join(image_flags(row)) or '-'}",
            f"group  {', '.join(map(str, group)) if group else '-'}",
            f"source {row['source_url'] or row['origin']}",
        ]
        if row["reason"]:
            lines.append(f"reason {row['reason']}")
        if self.companion:
            lines.append(describe_companion(self.companion))
        return Text.assemble(
            (f"#{row['id']}", "bold"),
            f"  {row['status']}\n",
            "\n".join(plain(line) for line in lines),
        )

    def _progress(self, message: str = "") -> None:
        done = len(self.queue) - self._remaining()
        position = f"{min(self.index + 1, len(self.queue))}/{len(self.queue)}"
        text = f"{position}  decided {done}/{len(self.queue)}  {message}"
        self.query_one("#progress", Static).update(Text(plain(text)))

    def _remaining(self) -> int:
        from catalog import reviewed_ids

        return len(self.queue) - len(reviewed_ids(self.cat, self.queue))

    def _decide(self, action, counter: str, *args) -> None:
        image_id = self.current
        if image_id is None:
            return
        try:
            action(self.cat, image_id, *args)
        except (CatalogError, CurationError) as exc:  # shown in the UI, never a crash
            self.notify(plain(exc), severity="error", markup=False)
            return
        setattr(self.summary, counter, getattr(self.summary, counter) + 1)
        self.index = min(self.index + 1, len(self.queue))

    def action_accept(self) -> None:
        self._decide(review_lib.accept, "accepted")

    def action_reject(self) -> None:
        self._decide(review_lib.reject, "rejected")

    def action_relabel(self) -> None:
        image_id = self.current
        if image_id is None:
            return
        current = get_image(self.cat, image_id)["class"]

        def done(choice: str | None) -> None:
            if choice:
                self._decide(review_lib.relabel, "relabelled", choice)

        self.push_screen(ClassPicker(class_names(self.cat), current), done)

    def action_move_there(self) -> None:
        """A conflict settled the other way: this image belongs to the other class."""
        companion = self.companion
        if companion is None or companion.role != "other class":
            self.notify(
                "m moves an image of a label conflict to the other class; this one has none",
                severity="warning",
            )
            return
        self._decide(review_lib.relabel, "relabelled", companion.class_name)

    def action_undo(self) -> None:
        """Undo the newest decision of the catalog and show that image again."""
        try:
            review = review_lib.undo(self.cat)
        except (CatalogError, CurationError) as exc:
            self.notify(plain(exc), severity="warning", markup=False)
            return
        self.summary.undone += 1
        if review["image_id"] in self.queue:
            self.index = self.queue.index(review["image_id"])
        else:
            self.index = self.index

    def action_next(self) -> None:
        self.index = min(self.index + 1, len(self.queue))

    def action_prev(self) -> None:
        self.index = max(self.index - 1, 0)

    def action_quit_review(self) -> None:
        self.summary.remaining = self._remaining()
        self.exit(self.summary)
