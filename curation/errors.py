"""Exceptions raised by curation; `curate` turns them into a message and exit code 1."""

from catalog import CatalogError


class CurationError(CatalogError):
    """A curation step could not be done; the message says why."""
