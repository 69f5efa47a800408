"""The "google-browser" engine: Google Images rendered by a headless Chromium.

Needs the optional extra: `pip install 'imageset[browser]'` and a Chromium (Debian:
`apt-get install chromium`; or `playwright install chromium`). Importing this package does
not need them; `collect_hits` says what is missing.
"""

from .errors import ENGINE, BrowserBlockedError, BrowserLaunchError, BrowserMissingError
from .google import collect_hits, search_page_url
from .launch import find_browser, open_browser
from .source import result_pages

__all__ = [
    "ENGINE",
    "BrowserBlockedError",
    "BrowserLaunchError",
    "BrowserMissingError",
    "collect_hits",
    "find_browser",
    "open_browser",
    "result_pages",
    "search_page_url",
]
