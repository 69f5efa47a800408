"""Turn one hit into validated image bytes: the original, else the page's own thumbnail.

Runs on the fetcher's worker threads, so it touches no database: it returns an
`Outcome` listing every attempt, and the orchestrator records them in order.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

from catalog import ImageInfo, InvalidImage, validate_image

from .fetch import Fetcher, FetchResult
from .hits import ImageHit, content_key


@dataclass
class Attempt:
    """One source tried for a hit: `url` is what the `fetches` row records."""

    url: str
    origin: str  # download (the original) or thumbnail
    data: bytes | None = None
    http_status: int | None = None
    reason: str | None = None
    detail: str = ""
    sha256: str | None = None  # set once the bytes are in the catalog
    file: Future[Path] | None = None  # the staged store file being written, when prestored
    info: ImageInfo | None = None  # what validation found, so the catalog need not decode again

    @property
    def error(self) -> str | None:
        if self.reason is None:
            return None
        return f"{self.reason}: {self.detail}" if self.detail else self.reason


@dataclass
class Outcome:
    """Every attempt for a hit; `chosen` is the one whose bytes are valid, if any."""

    hit: ImageHit
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def chosen(self) -> Attempt | None:
        return next((a for a in self.attempts if a.data is not None), None)

    @property
    def fetched(self) -> int:
        """Bodies received over the network (2xx), valid or not."""
        return sum(
            1 for a in self.attempts if a.http_status is not None and 200 <= a.http_status < 300
        )


# A saved page's thumbnails are small; anything bigger beside it is not one.
MAX_SAVED_THUMBNAIL = 5 * 1024 * 1024

# Called with bytes that validated, on the worker thread; returns the file being written.
Prestore = Callable[[bytes, ImageInfo], "Future[Path]"]


def _from_fetch(
    url: str, origin: str, result: FetchResult, check: Callable[[Attempt, bytes], Attempt]
) -> Attempt:
    attempt = Attempt(
        url, origin, http_status=result.http_status, reason=result.reason, detail=result.detail
    )
    if result.ok and result.data is not None:
        check(attempt, result.data)
    return attempt


def _validator(min_side: int, prestore: Prestore | None) -> Callable[[Attempt, bytes], Attempt]:
    def check(attempt: Attempt, data: bytes) -> Attempt:
        """Keep `data` on the attempt only if Pillow decodes it to an acceptable image."""
        try:
            info = validate_image(data, min_side=min_side)
        except InvalidImage as exc:
            attempt.reason, attempt.detail = exc.reason, exc.detail
            return attempt
        if prestore is not None:
            attempt.file = prestore(data, info)
        attempt.data, attempt.info = data, info
        return attempt

    return check


def _saved_file(page_dir: Path | None, rel: str) -> bytes | None:
    """A thumbnail the browser saved beside the page; never a file outside that folder."""
    if page_dir is None:
        return None
    path = (page_dir / rel).resolve()
    if not path.is_relative_to(page_dir.resolve()) or not path.is_file():
        return None
    if path.stat().st_size > MAX_SAVED_THUMBNAIL:
        return None
    return path.read_bytes()


def download_hit(
    fetcher: Fetcher,
    hit: ImageHit,
    page_dir: Path | None,
    min_side: int,
    prestore: Prestore | None = None,
) -> Outcome:
    """Try the original URL, then the inline thumbnail, a saved thumbnail file, the remote
    thumbnail.

    Stops at the first source whose bytes validate.
    """
    check = _validator(min_side, prestore)
    outcome = Outcome(hit)
    if hit.url:
        outcome.attempts.append(_from_fetch(hit.url, "download", fetcher.get(hit.url), check))
        if outcome.chosen:
            return outcome
    local = (
        lambda: hit.thumbnail_data,
        lambda: _saved_file(page_dir, hit.thumbnail_path) if hit.thumbnail_path else None,
    )
    for read in local:
        data = read()
        if data:
            outcome.attempts.append(check(Attempt(content_key(data), "thumbnail"), data))
            if outcome.chosen:
                return outcome
    if hit.thumbnail_url:
        outcome.attempts.append(
            _from_fetch(hit.thumbnail_url, "thumbnail", fetcher.get(hit.thumbnail_url), check)
        )
    return outcome
