"""The classes a catalog knows: names checked as safe folder names, each with a query."""

from __future__ import annotations

import re

from .db import Catalog
from .errors import CatalogError, InvalidClassName, UnknownClassError
from .timeutil import now

# Class names become folder names on export: letters, digits, '_', '-', '.', no leading dot.
# fullmatch: with match(), `$` also matches before a trailing newline.
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def check_class_name(name: str) -> str:
    """Return `name` if it is a safe folder name, else raise InvalidClassName."""
    if not _SAFE_NAME.fullmatch(name) or ".." in name:
        raise InvalidClassName(
            f"invalid class name {name!r}: use 1-64 letters, digits, '_', '-' or '.', "
            "starting with a letter or digit (it becomes a folder name)"
        )
    return name


def list_classes(cat: Catalog) -> list[dict]:
    """All classes, ordered by name: the label order every stage uses."""
    return list(cat.table("classes").rows_where(order_by="name"))


def class_names(cat: Catalog) -> list[str]:
    return [row["name"] for row in list_classes(cat)]


def require_class(cat: Catalog, name: str) -> dict:
    """The class row for `name`; raises UnknownClassError listing the known ones."""
    rows = list(cat.table("classes").rows_where("name = ?", [name]))
    if not rows:
        raise UnknownClassError(name, class_names(cat))
    return rows[0]


def add_class(cat: Catalog, name: str, query: str | None = None) -> dict:
    """Add a class with its search query (default: the name with spaces)."""
    check_class_name(name)
    if list(cat.table("classes").rows_where("name = ?", [name])):
        raise CatalogError(f"class {name!r} already exists")
    row = {"name": name, "query": query or name.replace("_", " "), "created_at": now()}
    cat.table("classes").insert(row)
    return row
