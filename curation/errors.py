"""Exceptions raised by curation; `curate` turns them into a message and exit code 1.

`CurationError` is curation's own base, not a `CatalogError`, so the catalog's errors and
curation's stay apart; the CLI and the review UI handle both.
"""


class CurationError(Exception):
    """A curation step could not be done; the message says why."""
