"""Search filters: one table per engine, checked with errors that list the valid choices.

Users write filters as `name=value` (`size=large`); each engine maps them to its own
URL parameter fragments.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..errors import InvalidFilterError

# filter name -> user value -> engine fragment
FilterTable = Mapping[str, Mapping[str, str]]

_COLOURS = (
    "red",
    "orange",
    "yellow",
    "green",
    "teal",
    "blue",
    "purple",
    "pink",
    "white",
    "gray",
    "black",
    "brown",
)

GOOGLE: FilterTable = {
    "size": {"large": "isz:l", "medium": "isz:m", "icon": "isz:i"},
    "type": {
        "photo": "itp:photo",
        "face": "itp:face",
        "clipart": "itp:clipart",
        "lineart": "itp:lineart",
        "animated": "itp:animated",
    },
    "color": {
        "color": "ic:color",
        "grayscale": "ic:gray",
        "transparent": "ic:trans",
        **{c: f"ic:specific,isc:{c}" for c in _COLOURS},
    },
    "license": {"creative_commons": "il:cl", "commercial": "il:ol"},
    "time": {"day": "qdr:d", "week": "qdr:w", "month": "qdr:m", "year": "qdr:y"},
}

BING: FilterTable = {
    "size": {
        "small": "+filterui:imagesize-small",
        "medium": "+filterui:imagesize-medium",
        "large": "+filterui:imagesize-large",
        "wallpaper": "+filterui:imagesize-wallpaper",
    },
    "type": {
        "photo": "+filterui:photo-photo",
        "clipart": "+filterui:photo-clipart",
        "lineart": "+filterui:photo-linedrawing",
        "animated": "+filterui:photo-animatedgif",
        "transparent": "+filterui:photo-transparent",
    },
    "color": {
        "color": "+filterui:color2-color",
        "grayscale": "+filterui:color2-bw",
        **{c: f"+filterui:color2-FGcls_{c.upper()}" for c in _COLOURS},
    },
    "license": {
        "creative_commons": "+filterui:licenseType-Any",
        "commercial": "+filterui:licenseType-ShareCommercially",
    },
    "time": {
        "day": "+filterui:age-lt1440",
        "week": "+filterui:age-lt10080",
        "month": "+filterui:age-lt43200",
        "year": "+filterui:age-lt525600",
    },
}

# DuckDuckGo has no time filter for images.
DUCKDUCKGO: FilterTable = {
    "size": {
        "small": "size:Small",
        "medium": "size:Medium",
        "large": "size:Large",
        "wallpaper": "size:Wallpaper",
    },
    "type": {
        "photo": "type:photo",
        "clipart": "type:clipart",
        "lineart": "type:line",
        "animated": "type:gif",
        "transparent": "type:transparent",
    },
    "color": {
        "color": "color:color",
        "grayscale": "color:Monochrome",
        **{c: f"color:{c.capitalize()}" for c in _COLOURS},
    },
    "license": {"creative_commons": "license:Share", "commercial": "license:ShareCommercially"},
}


def check_filters(engine: str, table: FilterTable, filters: Mapping[str, str] | None) -> list[str]:
    """The engine fragments for `filters`, in table order.

    Raises:
        InvalidFilterError: an unknown filter name or value; the message lists the choices.

    Example: check_filters("google", GOOGLE, {"size": "large"}) == ["isz:l"]
    """
    filters = dict(filters or {})
    for name, value in filters.items():
        if name not in table:
            raise InvalidFilterError(
                f"{engine} has no filter {name!r}; valid filters: {', '.join(table)}"
            )
        if value not in table[name]:
            raise InvalidFilterError(
                f"{engine} filter {name}={value!r} is not valid; "
                f"choose one of: {', '.join(table[name])}"
            )
    return [table[name][filters[name]] for name in table if name in filters]


def parse_filter_args(args: list[str]) -> dict[str, str]:
    """`["size=large", "type=photo"]` -> `{"size": "large", "type": "photo"}`."""
    parsed: dict[str, str] = {}
    for arg in args:
        name, sep, value = arg.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise InvalidFilterError(f"filter {arg!r} is not NAME=VALUE (for example size=large)")
        parsed[name.strip().lower()] = value.strip().lower()
    return parsed
