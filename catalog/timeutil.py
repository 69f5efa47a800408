"""Timestamps stored in the catalog: UTC, ISO 8601, second precision, sortable as text."""

from datetime import datetime, timezone


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
