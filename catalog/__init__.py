"""The SQLite catalog: the single source of truth that every stage reads and writes.

`crawler`, `curation` and `trainer` talk to each other only through this package; no
other module writes SQL to the catalog's tables.
"""

from .classes import add_class, check_class_name, class_names, list_classes, require_class
from .db import CATALOG_ENV, Catalog, default_catalog_path, open_catalog
from .errors import CatalogError, InvalidClassName, InvalidImage, UnknownClassError
from .images import (
    AddResult,
    Provenance,
    add_image,
    get_by_sha,
    get_image,
    image_file,
    image_flags,
    iter_images,
    update_image,
)
from .runs import get_run, update_run
from .validate import ImageInfo, validate_image

__all__ = [
    "CATALOG_ENV",
    "AddResult",
    "Catalog",
    "CatalogError",
    "ImageInfo",
    "InvalidClassName",
    "InvalidImage",
    "Provenance",
    "UnknownClassError",
    "add_class",
    "add_image",
    "check_class_name",
    "class_names",
    "default_catalog_path",
    "get_by_sha",
    "get_image",
    "get_run",
    "image_file",
    "image_flags",
    "iter_images",
    "list_classes",
    "open_catalog",
    "require_class",
    "update_image",
    "update_run",
    "validate_image",
]
