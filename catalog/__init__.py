"""The SQLite catalog: the single source of truth that every stage reads and writes.

`crawler`, `curation` and `trainer` talk to each other only through this package; no
other module writes SQL to the catalog's tables. What this module exports is the
catalog's public API: the stages import nothing else from it, so its modules can change
behind it; tests may reach into its modules.
"""

from .atomic import AtomicFile, atomic_write, write_text_atomic
from .audits import (
    FLAG_KINDS,
    Flag,
    audit_flags,
    get_audit,
    open_flag_ids,
    record_audit,
    without_flagged,
)
from .classes import add_class, check_class_name, class_names, list_classes, require_class
from .conflicts import open_conflicts, record_conflict
from .db import (
    CATALOG_ENV,
    DEFAULT_CATALOG,
    Catalog,
    ReadOnlyCatalog,
    default_catalog_path,
    open_catalog,
)
from .diskfull import DiskFullError, disk_full
from .duplicates import DuplicateMark, duplicate_group, duplicate_marks, mark_duplicates
from .errors import CatalogError, InvalidClassName, InvalidImage, UnknownClassError
from .fetches import FetchRecord, record_fetches, tried_urls
from .files import (
    IMAGE_MAX_BYTES,
    MB,
    PAGE_MAX_BYTES,
    TEXT_MAX_BYTES,
    InputFileError,
    read_input_file,
)
from .hashes import count_hashed, hashed_images, set_hashes, unhashed_images
from .images import (
    AddResult,
    Provenance,
    add_image,
    counts_by,
    get_by_sha,
    get_image,
    image_file,
    image_flags,
    iter_images,
    update_image,
)
from .integrity import IntegrityReport, Problem, cache_note, check_catalog
from .near import near_verdicts, record_near_verdicts
from .reviews import conflicted_ids, last_review, record_review, reviewed_ids, undo_review
from .runs import (
    HEARTBEAT_EVERY_S,
    RUNS_FOLDER,
    Prediction,
    default_run,
    fail_run,
    finished_runs,
    get_run,
    heartbeat,
    latest_finished_run,
    list_runs,
    save_predictions,
    set_default_run,
    start_run,
    update_run,
)
from .schema import IMAGE_STATUSES, USABLE_STATUSES
from .splits import (
    DEFAULT_SPLIT,
    SUBSETS,
    choose_split,
    class_subset_counts,
    default_split,
    require_split,
    split_images,
    split_names,
)
from .splits import assign as assign_split
from .splits import subsets as split_subsets
from .store import claim_new, sha256_of, sha256_of_file, stage_file
from .tx import transaction
from .validate import MIN_STORED_SIDE, ImageInfo, validate_image

__all__ = [
    "CATALOG_ENV",
    "DEFAULT_CATALOG",
    "DEFAULT_SPLIT",
    "FLAG_KINDS",
    "HEARTBEAT_EVERY_S",
    "IMAGE_MAX_BYTES",
    "IMAGE_STATUSES",
    "MB",
    "MIN_STORED_SIDE",
    "PAGE_MAX_BYTES",
    "TEXT_MAX_BYTES",
    "SUBSETS",
    "USABLE_STATUSES",
    "AddResult",
    "AtomicFile",
    "Catalog",
    "CatalogError",
    "DiskFullError",
    "ReadOnlyCatalog",
    "DuplicateMark",
    "FetchRecord",
    "Flag",
    "ImageInfo",
    "InputFileError",
    "IntegrityReport",
    "InvalidClassName",
    "InvalidImage",
    "Prediction",
    "Problem",
    "Provenance",
    "UnknownClassError",
    "add_class",
    "add_image",
    "assign_split",
    "atomic_write",
    "audit_flags",
    "cache_note",
    "check_catalog",
    "check_class_name",
    "choose_split",
    "claim_new",
    "class_names",
    "class_subset_counts",
    "conflicted_ids",
    "count_hashed",
    "counts_by",
    "default_catalog_path",
    "default_run",
    "default_split",
    "disk_full",
    "duplicate_group",
    "duplicate_marks",
    "finished_runs",
    "get_audit",
    "get_by_sha",
    "get_image",
    "get_run",
    "hashed_images",
    "heartbeat",
    "image_file",
    "image_flags",
    "iter_images",
    "last_review",
    "latest_finished_run",
    "list_classes",
    "list_runs",
    "mark_duplicates",
    "near_verdicts",
    "open_catalog",
    "open_conflicts",
    "open_flag_ids",
    "read_input_file",
    "record_audit",
    "record_conflict",
    "record_fetches",
    "record_near_verdicts",
    "record_review",
    "require_class",
    "require_split",
    "reviewed_ids",
    "save_predictions",
    "set_default_run",
    "set_hashes",
    "sha256_of",
    "sha256_of_file",
    "split_images",
    "split_names",
    "split_subsets",
    "stage_file",
    "start_run",
    "transaction",
    "tried_urls",
    "undo_review",
    "unhashed_images",
    "update_image",
    "update_run",
    "fail_run",
    "RUNS_FOLDER",
    "validate_image",
    "without_flagged",
    "write_text_atomic",
]
