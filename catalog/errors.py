"""Exceptions raised by the catalog; each CLI turns them into a message and exit code 1."""


class CatalogError(Exception):
    """A catalog operation could not be done; the message says why."""


class UnknownClassError(CatalogError):
    """A class name that the catalog does not know."""

    def __init__(self, name: str, known: list[str]):
        self.name = name
        self.known = known
        listed = ", ".join(known) if known else "(none yet: add one with `curate classes add`)"
        super().__init__(f"unknown class {name!r}. Known classes: {listed}")


class InvalidClassName(CatalogError):
    """A class name that is not a safe folder name."""


class InvalidImage(CatalogError):
    """Bytes that do not decode to an acceptable image.

    `reason` is a short machine-friendly code (not-an-image, truncated, too-small,
    unsupported-format, decompression-bomb, empty) used to group failures in reports.
    """

    def __init__(self, reason: str, detail: str = ""):
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}" if detail else reason)
