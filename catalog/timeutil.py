"""Timestamps stored in the catalog: UTC, ISO 8601, second precision, sortable as text."""

from datetime import UTC, datetime


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
