"""Helpers every engine parser shares: data URIs, JS strings, blocked-page signals."""

from __future__ import annotations

import base64
import binascii
import json
import re
from urllib.parse import urlsplit

from ..errors import BlockedError

_DATA_URI = re.compile(r"^data:image/[\w.+-]+;base64,(?P<b64>.+)$", re.S)

# Pages under this size that parse to nothing are walls, not result pages.
TINY_PAGE = 2048


def decode_data_uri(value: str | None) -> bytes | None:
    """The bytes of a `data:image/...;base64,...` URI, or None for anything else."""
    if not value:
        return None
    match = _DATA_URI.match(value.strip())
    if not match:
        return None
    b64 = match.group("b64").replace("\\x3d", "=").replace("\\u003d", "=")
    try:
        return base64.b64decode(b64 + "=" * (-len(b64) % 4))
    except (binascii.Error, ValueError):
        return None


def js_string(raw: str) -> str:
    """Decode the body of a double-quoted JSON/JS string literal (\\u003d, \\/ ...)."""
    try:
        return json.loads(f'"{raw}"')
    except json.JSONDecodeError:
        return raw


def to_int(value: object) -> int | None:
    """An int from JSON numbers or digit strings; None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def is_http_url(value: object) -> bool:
    return isinstance(value, str) and urlsplit(value).scheme in ("http", "https")


# (signal, what it means). Matched case-insensitively against the body.
_WALL_SIGNALS = [
    ("id=\"captcha-form\"", "a captcha form"),
    ("g-recaptcha", "a reCAPTCHA"),
    ("our systems have detected unusual traffic", "an unusual-traffic captcha"),
    ("action=\"https://consent.", "a cookie consent form"),
    ("before you continue to google", "a cookie consent page"),
    ("turn on javascript to keep searching", "a JavaScript-required page"),
    ("please click <a href=\"/httpservice/retry/enablejs", "a JavaScript-required page"),
    ("enablejs?sei=", "a JavaScript-required page"),
    ("solve the challenge", "a challenge page"),
    ("class=\"captcha", "a captcha"),
    ("anomaly-modal", "a bot-detection page"),
]


def blocked_reason(text: str, url: str | None = None, status: int | None = None) -> str | None:
    """Why a page that gave no hits looks like a wall rather than an empty result, or None."""
    if url:
        parts = urlsplit(url)
        if parts.hostname and parts.hostname.startswith("sorry.") or "/sorry/" in parts.path:
            return f"redirected to the captcha page {parts.netloc}{parts.path}"
    lowered = text[:200_000].lower()
    for signal, meaning in _WALL_SIGNALS:
        if signal in lowered:
            return meaning
    if status in (403, 429):
        return f"HTTP {status}"
    if len(text.strip()) < TINY_PAGE:
        return f"a {len(text.strip())}-byte page with no results"
    return None


def check_blocked(engine: str, text: str, url: str | None = None, status: int | None = None) -> None:
    """Raise BlockedError when the page is a captcha, consent form or JavaScript wall."""
    why = blocked_reason(text, url, status)
    if why:
        raise BlockedError(engine, why)
