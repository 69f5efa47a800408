"""Text from the web, file names or users, made safe to show: data, never markup or control codes.

Rich and Textual read `[...]` as markup, and a terminal obeys escape sequences: printed
as it is, a URL `?size[w]=500` loses its brackets, `[bold]x[/].jpg` shows as `x.jpg`, a
name holding ESC sequences drives the terminal, and a reason with `[/x]` makes Rich raise.
Every CLI prints such text through `plain` and without markup.
"""

from __future__ import annotations

import re

# Text shown for one value (a path, a URL, a reason); a whole message gets MESSAGE_LIMIT.
VALUE_LIMIT = 1000
MESSAGE_LIMIT = 20_000

# C0 controls but tab and newline, DEL, C1 controls, and the bidirectional overrides that
# make a terminal show text in another order than it is (`gpj.exe` shown as `exe.jpg`).
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def _surrogate(match: re.Match[str]) -> str:
    # os.fsdecode turns each byte of a name that is not UTF-8 into U+DC80..U+DCFF.
    code = ord(match.group())
    return f"\\x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else f"\\u{code:04x}"


def plain(value: object, limit: int = VALUE_LIMIT, *, newlines: bool = False) -> str:
    """`value` as text a terminal shows as it is: controls and bytes that are not UTF-8
    written as `\\x1b`-style escapes, newlines too unless `newlines`, and at most `limit`
    characters (then "... (N characters)").

    Example: plain("a\\x1b[31mred.jpg") -> "a\\\\x1b[31mred.jpg"
    """
    text = str(value)
    if len(text) > limit:
        text = f"{text[:limit]}... ({len(text)} characters)"
    text = _SURROGATE.sub(_surrogate, text)
    text = _UNSAFE.sub(_visible, text)
    return text if newlines else text.replace("\n", "\\n")
