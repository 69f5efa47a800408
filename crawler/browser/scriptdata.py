"""Original image URLs from the data a rendered result page fetches.

Google puts the first tiles' data in the document's scripts (read with the page's HTML,
`merge.html_hits`) and fetches later ones as `ischj` JSON or batchexecute answers; these
are parsed here with the plain `google` engine's format parsers, so a markup change is
fixed in one place.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import suppress

from ..engines.google_formats import FORMATS, PAGE_IMAGE_FORMATS, Page
from ..engines.images import clean_hit
from ..hits import ImageHit

# Data answers hold no rendered tiles: the formats of script data only.
SCRIPT_FORMATS = {name: parse for name, parse in FORMATS.items() if name not in PAGE_IMAGE_FORMATS}
MAX_RESPONSE_BYTES = 8_000_000
_DATA_TYPES = ("json", "javascript", "text/")


class ScriptData:
    """Collects a page's data responses as they arrive and the hits parsed from them.

    Parsing is incremental (`absorb` reads only responses not read yet), so the hits found
    before a captcha replaced the page are still here afterwards.
    """

    def __init__(self, page) -> None:  # a Playwright Page
        self.page = page
        self.hits: dict[str, ImageHit] = {}
        self._responses: list = []
        self._read = 0
        # Playwright wraps plain functions only, not bound builtins such as list.append.
        page.on("response", lambda response: self._responses.append(response))

    def absorb(self) -> None:
        """Parse the responses that arrived since the last call."""
        texts: list[str] = []
        new, self._read = self._responses[self._read :], len(self._responses)
        for response in new:
            with suppress(Exception):  # a body the browser already dropped is no data
                if _is_data_response(response):
                    texts.append(response.text())
        for text in texts:
            for chunk in [text, *_batchexecute_payloads(text)]:
                for hit in _parse_first_format(chunk):
                    self.hits.setdefault(hit.key, hit)


def _is_data_response(response) -> bool:
    if response.request.resource_type not in ("xhr", "fetch") or not response.ok:
        return False
    kind = response.headers.get("content-type", "")
    size = int(response.headers.get("content-length") or 0)
    return any(t in kind for t in _DATA_TYPES) and size <= MAX_RESPONSE_BYTES


def _parse_first_format(text: str) -> list[ImageHit]:
    page = Page(text)
    for parse in SCRIPT_FORMATS.values():
        hits = [hit for hit in map(clean_hit, parse(page)) if hit is not None]
        if hits:
            return hits
    return []


def _batchexecute_payloads(text: str) -> Iterator[str]:
    """The JSON strings inside a `)]}'` batchexecute answer (["wrb.fr", id, "<json>", ..])."""
    if '"wrb.fr"' not in text:
        return
    for line in text.splitlines():
        if '"wrb.fr"' not in line:
            continue
        with suppress(json.JSONDecodeError):
            for entry in json.loads(line):
                if (
                    isinstance(entry, list)
                    and len(entry) > 2
                    and entry[0] == "wrb.fr"
                    and isinstance(entry[2], str)
                ):
                    yield entry[2]
