"""What a result-page parser returns: one `ImageHit` per result, and a `ParseResult`."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field


@dataclass
class ImageHit:
    """One search result.

    `url` is the original image (None when the page only carries a thumbnail);
    `thumbnail_url` is a remote thumbnail; `thumbnail_path` a file that a browser saved
    beside the page (relative to the page's folder); `thumbnail_data` a thumbnail inlined
    in the page (a base64 data URI, decoded).
    """

    url: str | None
    thumbnail_url: str | None = None
    thumbnail_data: bytes | None = None
    thumbnail_path: str | None = None
    page_url: str | None = None
    width: int | None = None
    height: int | None = None
    title: str | None = None
    rank: int | None = None
    engine: str | None = None

    def __post_init__(self) -> None:
        # Parsers read untrusted JSON: a number or a list where a string belongs becomes None.
        for name in ("url", "thumbnail_url", "thumbnail_path", "page_url", "title"):
            if not isinstance(getattr(self, name), str | None):
                setattr(self, name, None)

    @property
    def key(self) -> str:
        """The identity used to skip a hit already tried: its original URL when it has one.

        This is the one definition: the crawl writes a `fetches` row under this
        key for every hit it tries, so a re-run skips exactly these.
        """
        if self.url:
            return self.url
        if self.thumbnail_url:
            return self.thumbnail_url
        if self.thumbnail_path and not self.thumbnail_data:
            return f"thumbnail-file:{self.thumbnail_path}"
        return content_key(self.thumbnail_data or b"")


def content_key(data: bytes) -> str:
    """The URL-like name of bytes that have no URL (an inline or saved thumbnail)."""
    return f"thumbnail:sha256:{hashlib.sha256(data).hexdigest()}"


@dataclass
class ParseResult:
    """Hits of one page, the format they came from and how many each format found."""

    hits: list[ImageHit]
    matched: str | None
    counts: dict[str, int] = field(default_factory=dict)
    repeats: int = 0  # results left out as the same image as an earlier one on the page

    def describe(self) -> str:
        """e.g. "rg_meta (100 hits); also found: imgres 20, none: af_init_data"."""
        found = ", ".join(f"{name} {n}" for name, n in self.counts.items() if n)
        found = found or "no format matched"
        return f"format {self.matched or 'none'}: {len(self.hits)} hits [{found}]"
