"""`curate review --audit`: the review UI over a label audit's flags, worst first.

The same keys as `ReviewApp`, plus `a`: accept the audit's suggestion (relabel to the
suggested class, or reject an off-topic image). `k` keeps the given label, `d` rejects.
Every decision goes through `curation.review`, so it is audited and `u`/`curate undo`
undo it. Reopening continues at the first flag nobody decided since the audit.

Example:
    >>> summary = AuditReviewApp(cat, audit_id=3).run()   # doctest: +SKIP
"""

from __future__ import annotations

from rich.console import Group
from rich.text import Text
from textual.binding import Binding

from catalog import Catalog, open_flag_ids

from . import review as review_lib
from .tui import ReviewApp, ReviewSummary


class AuditReviewApp(ReviewApp):
    """Review the images a label audit flagged, lowest label quality first."""

    BINDINGS = [Binding("a", "suggest", "Take suggestion")]

    def __init__(
        self, cat: Catalog, *, audit_id: int | None = None, image_widget: type | None = None
    ):
        super().__init__(cat, image_widget=image_widget)
        self.audit, flags = review_lib.audit_queue(cat, audit_id)
        self.flags = {f.image_id: f for f in flags}
        self.queue = list(self.flags)
        self.summary = ReviewSummary(queue=f"audit {self.audit['id']}", total=len(self.queue))
        still_open = set(open_flag_ids(cat, self.audit["id"]))
        start = next(
            (k for k, image_id in enumerate(self.queue) if image_id in still_open), len(self.queue)
        )
        self.set_reactive(ReviewApp.index, start)

    def _describe(self, row: dict):
        flag = self.flags[row["id"]]
        suggestion = flag.suggested_class or "reject (off-topic)"
        lines = Text(
            f"\naudit {self.audit['id']}: {flag.kind.replace('_', '-')}\n"
            f"given     {flag.given_class}\nsuggested {suggestion}\nscore     {flag.score:.3f}\n"
            "a takes the suggestion, k keeps the label, d rejects"
        )
        return Group(super()._describe(row), lines)

    def _remaining(self) -> int:
        return len(set(open_flag_ids(self.cat, self.audit["id"])) & set(self.queue))

    def action_suggest(self) -> None:
        flag = self.flags.get(self.current) if self.current is not None else None
        if flag is None:
            return
        audit_id = self.audit["id"]
        self._decide(
            lambda cat, image_id: review_lib.take_suggestion(cat, self.flags[image_id], audit_id),
            "relabelled" if flag.suggested_class else "rejected",
        )
