"""What a crawl did, for the summary the CLI prints and for tests to assert."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class CrawlReport:
    """Counts for one class's crawl.

    `failures` groups hits that stored nothing by the original's reason;
    `thumbnail_fallbacks` groups hits whose original failed but whose thumbnail was kept.
    `dropped_urls` counts URLs in the result pages that were not tried, by reason
    (malformed-url, non-http-url).
    `stopped` says why paging ended early (a blocked later page), if it did.
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
    interrupted: bool = False  # Ctrl-C: the crawl stopped, what finished is recorded
    disk_full: bool = False  # stopped because the disk (or quota) is full: later classes would be too
    download_seconds: float = 0.0  # wall time spent downloading and storing (not paging)

    def one_line(self) -> str:
        """What an interrupted crawl did, on one line."""
        failed = sum(self.failures.values())
        return (f"{self.class_name}: interrupted after {self.tried} tried: {self.stored} stored, {failed} failed, "
                f"{self.duplicates} already in the catalog; run the same command to continue")

    def summary(self) -> str:
        """Multi-line plain-text summary."""
        lines = [
            f"{self.class_name}: {self.hits} hits parsed ({self.skipped} already tried), {self.tried} tried, "
            f"{self.fetched} fetched, {self.stored} stored ({self.thumbnails} as thumbnails), "
            f"{self.duplicates} already in the catalog, {self.conflicts} label conflicts",
        ]
        lines += [f"  page {page}" for page in self.pages]
        if self.failures:
            lines.append("  failures: " + _counts(self.failures))
        if self.thumbnail_fallbacks:
            lines.append("  originals failed, thumbnail kept: " + _counts(self.thumbnail_fallbacks))
        if self.dropped_urls:
            lines.append("  URLs in the pages not tried: " + _counts(self.dropped_urls))
        if self.stopped:
            lines.append(f"  stopped early: {self.stopped}")
        return "\n".join(lines)


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{reason} {n}" for reason, n in counter.most_common())
