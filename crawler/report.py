"""What a crawl did, for the summary the CLI prints and for tests to assert."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class CrawlReport:
    """Counts for one class's crawl.

    `failures` groups hits that stored nothing by the original's reason;
    `thumbnail_fallbacks` groups hits whose original failed but whose thumbnail was kept.
    `stopped` says why paging ended early (a blocked later page), if it did; `notes` why
    `--engine auto` left an engine; `repeats` hits the results listed twice in this run;
    `left` hits the limit left untried on the pages read; `in_catalog` the class's images
    in the catalog after the crawl.
    `dropped_urls` counts URLs in the result pages that were not tried, by reason
    (malformed-url, non-http-url).
    """

    class_name: str
    engine: str | None = None
    query: str | None = None
    limit: int = 0
    pages: list[str] = field(default_factory=list)
    hits: int = 0
    skipped: int = 0
    tried: int = 0
    fetched: int = 0
    stored: int = 0
    thumbnails: int = 0
    duplicates: int = 0
    conflicts: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    thumbnail_fallbacks: Counter[str] = field(default_factory=Counter)
    dropped_urls: Counter[str] = field(default_factory=Counter)  # URLs in the pages never tried
    stopped: str | None = None
    limit_given: bool = True
    engines: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    repeats: int = 0
    left: int = 0
    # After the limit with nothing left on the pages read: whether the results go on (None:
    # not known).
    more_results: bool | None = None
    limit_reached: bool = False
    in_catalog: int = 0
    interrupted: bool = False  # Ctrl-C: the crawl stopped, what finished is recorded
    disk_full: bool = (
        False  # stopped because the disk (or quota) is full: later classes would be too
    )
    download_seconds: float = 0.0  # wall time spent downloading and storing (not paging)

    def add_page(self, engine: str, description: str, hits: int) -> None:
        """Count a result page's hits; the first engine that gave a page names the crawl."""
        if engine not in self.engines:
            self.engines.append(engine)
        self.engine = self.engines[0]
        self.pages.append(description)
        self.hits += hits

    @property
    def got_nothing(self) -> str | None:
        """One line saying why the class has no image at all after this crawl, or None."""
        if self.stored or self.in_catalog:
            return None
        why = f"{self.tried} hits tried, none stored"
        if self.failures:
            why += f" ({_counts(self.failures)})"
        elif not self.tried:
            why = f"{self.hits} hits found, none new to try" if self.hits else "no hits found"
        return f"{self.class_name}: nothing stored and no image of the class in the catalog: {why}"

    def one_line(self) -> str:
        """What an interrupted crawl did, on one line."""
        failed = sum(self.failures.values())
        return (
            f"{self.class_name}: interrupted after {self.tried} tried: {self.stored} stored, "
            f"{failed} failed, "
            f"{self.duplicates} already in the catalog; run the same command to continue"
        )

    def summary(self) -> str:
        """Multi-line plain-text summary."""
        repeats = f", {self.repeats} repeated in the results" if self.repeats else ""
        lines = [
            f"{self.class_name}: {self.hits} hits parsed "
            f"({self.skipped} already tried{repeats}), {self.tried} tried, "
            f"{self.fetched} fetched, {self.stored} stored ({self.thumbnails} as thumbnails), "
            f"{self.duplicates} already in the catalog, {self.conflicts} label conflicts",
        ]
        if self.engines:
            lines.append(f"  engines used: {', '.join(self.engines)}")
        lines += [f"  {note}" for note in self.notes]
        lines += [f"  page {page}" for page in self.pages]
        if self.failures:
            lines.append("  failures: " + _counts(self.failures))
            if self.failures.get("private-address"):
                lines.append(
                    "  private-address: the crawler refuses private and loopback addresses; "
                    "a local test server needs --allow-private HOST"
                )
        if self.thumbnail_fallbacks:
            lines.append("  originals failed, thumbnail kept: " + _counts(self.thumbnail_fallbacks))
        if self.limit_reached:
            lines.append(self._limit_line())
        if self.dropped_urls:
            lines.append("  URLs in the pages not tried: " + _counts(self.dropped_urls))
        if self.stopped:
            lines.append(f"  stopped early: {self.stopped}")
        return "\n".join(lines)

    def _limit_line(self) -> str:
        if not self.left and self.more_results is False:
            return (
                f"  stopped at the limit of {self.limit} new images, and every hit the results "
                "held has been tried: a re-run finds nothing new (search again later, or with "
                "another engine or query)"
            )
        left = (
            f"{self.left} hits of the pages read were left untried"
            if self.left
            else "more results were not read"
        )
        how = "run the same command again to go on (hits already tried are skipped)"
        if self.limit_given:
            how += f", or give a higher --limit than {self.limit}"
        return f"  stopped at the limit of {self.limit} new images: {left}; {how}"


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{reason} {n}" for reason, n in counter.most_common())
