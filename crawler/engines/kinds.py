"""What kind of page a saved file is, when no engine's parser finds image results in it.

A user who saves the wrong tab (web results, not images) deserves to be told so, not that
Google's markup may have changed. The signs are the engines' own: the title each engine
gives its result pages and the parameter that selects its images vertical.
"""

from __future__ import annotations

import re

_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
# (engine, what its pages' titles end with, what marks its images vertical)
_ENGINES = (
    ("DuckDuckGo", re.compile(r"at DuckDuckGo\s*$", re.I), re.compile(r"[?&]ia=images|iax=images")),
    (
        "Google",
        re.compile(r"- Google (Search|Suche|Recherche|Images)\s*$", re.I),
        re.compile(r"tbm=isch|udm=2"),
    ),
    (
        "Bing",
        re.compile(r"- (Search|Bing)\s*$", re.I),
        re.compile(r"bing\.com/images|/images/search"),
    ),
)


# DuckDuckGo's HTML results (html.duckduckgo.com): `div.result > h2.result__title > a.result__a`.
_DDG_WEB = re.compile(r"""class=["'][^"']*\bresult__a\b""")


def page_kind(text: str) -> str | None:
    """e.g. "a DuckDuckGo web results page"; None when nothing says which engine wrote it."""
    head = text[:200_000]
    if _DDG_WEB.search(head):
        return "a DuckDuckGo web results page"
    found = _TITLE.search(head)
    title = found.group(1).strip() if found else ""
    for name, title_end, images in _ENGINES:
        if title_end.search(title):
            vertical = "images" if images.search(head) else "web"
            return f"a {name} {vertical} results page"
    return None
