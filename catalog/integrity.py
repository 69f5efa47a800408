"""`curate check`: does every row have its file, and every file its row?

The store is derived from the catalog, so the checks are: each image row's file exists
and hashes to its sha256; no file in `images/` lacks a row (orphans, and temporary files
left by a killed writer); no split or prediction row points at a missing image; no run's
artefacts have disappeared.

Catalogs in one folder share `images/`, and writers may be storing files right now, so a
file without a row here is removed only when it is proved an orphan: this
catalog created it, no catalog using the store refers to it, and the store's writer lock
is held exclusively while rows are read, files listed and orphans removed.
"""

from __future__ import annotations

import json
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from .db import Catalog
from .owners import (
    OwnershipUnknown,
    created_files,
    deletion_doubt,
    files_referenced_by,
    release,
    sibling_catalogs,
)
from .reviews import record_review
from .store import TEMP_PREFIX, sha256_of_file, stale_temp_files
from .storelock import exclusive

MISSING_REASON = "file missing from the store"
# Derived data beside the catalog (the trainer's decoded pixels and backbone features, the
# audit's vectors): rebuilt when missing, so never a problem, but it can grow to gigabytes.
CACHE_DIR = "cache"  # beside the catalog: every derived cache has its folder in here


@dataclass
class Problem:
    kind: (
        str  # missing-file, corrupt-file, orphan-file, temp-file, dangling-split, missing-artifact
    )
    subject: str  # an image id, a path or a run id
    detail: str
    fixed: str | None = None


@dataclass
class CacheSize:
    """One folder of `cache/` beside the catalog: how many files, how many bytes."""

    folder: str  # relative to the catalog's folder
    files: int
    bytes: int


@dataclass
class IntegrityReport:
    images_checked: int = 0
    files_checked: int = 0
    shared_files: int = 0  # files of other catalogs in the same folder
    problems: list[Problem] = field(default_factory=list)
    caches: list[CacheSize] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not [p for p in self.problems if p.fixed is None]


def check_catalog(cat: Catalog, *, fix: bool = False) -> IntegrityReport:
    """Check the catalog against its store; with `fix`, repair what can be repaired.

    Fixing removes proved orphans and dead writers' temporary files, and marks images
    whose file is missing or corrupt as rejected with a reason (their rows and history
    stay). A file without a row that this catalog did not create is reported, never
    removed. Nothing else changes.
    """
    report = IntegrityReport()
    _check_image_files(cat, report, fix)  # hashing every file: slow, and needs no lock
    with ExitStack() as stack:
        if cat.store_dir.is_dir():
            try:
                stack.enter_context(exclusive(cat.store_dir))  # writers wait; none is mid-write
            except OSError:
                if fix:
                    raise
        # Rows read after the lock is taken: a file stored before it has its row by now.
        known = {
            (cat.root / rel).resolve()
            for (rel,) in cat.db.execute("SELECT path FROM images").fetchall()
        }
        _check_store_files(cat, known, report, fix)
    _check_dangling_rows(cat, report)
    _check_run_artifacts(cat, report)
    report.caches = cache_sizes(cat)
    return report


def cache_sizes(cat: Catalog) -> list[CacheSize]:
    """Files and bytes in each folder of `cache/` beside the catalog (no links followed)."""
    root = cat.root / CACHE_DIR
    if not root.is_dir():
        return []
    sizes = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.is_symlink()):
        files = [p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()]
        if files:  # an emptied cache is not worth a word
            total = sum(p.stat().st_size for p in files)
            sizes.append(CacheSize(folder.relative_to(cat.root).as_posix(), len(files), total))
    return sizes


def cache_note(sizes: list[CacheSize]) -> str:
    """One line for `curate check`: the caches' sizes and how to remove them."""
    parts = ", ".join(f"{c.folder} {c.bytes / 1e6:,.1f} MB in {c.files:,} files" for c in sizes)
    return (
        f"caches beside the catalog (derived data, rebuilt when needed): {parts}; "
        "`train cache` shows the trainer's, `train cache --clear` removes them"
    )


def _check_image_files(cat: Catalog, report: IntegrityReport, fix: bool) -> None:
    for image_id, sha, rel, status, reason in cat.db.execute(
        "SELECT id, sha256, path, status, reason FROM images ORDER BY id"
    ).fetchall():
        report.images_checked += 1
        path = (cat.root / rel).resolve()
        if not path.is_file():
            problem = Problem("missing-file", str(image_id), f"{rel} does not exist")
        elif sha256_of_file(path) != sha:
            problem = Problem("corrupt-file", str(image_id), f"{rel} does not hash to its sha256")
        else:
            continue
        already_marked = status == "rejected" and reason == MISSING_REASON
        if fix or already_marked:
            if not already_marked:
                _mark_missing(cat, image_id)
            problem.fixed = "marked rejected"
        report.problems.append(problem)


def _mark_missing(cat: Catalog, image_id: int) -> None:
    # An audited decision like a reviewer's, so `curate undo` can take it back.
    record_review(cat, image_id, "check", {"status": "rejected", "reason": MISSING_REASON})


def _check_store_files(cat: Catalog, known: set[Path], report: IntegrityReport, fix: bool) -> None:
    if not cat.store_dir.is_dir():
        return
    stale = set(stale_temp_files(cat.store_dir))
    unknown: list[Path] = []
    for path in sorted(p for p in cat.store_dir.rglob("*") if p.is_file()):
        report.files_checked += 1
        if path.resolve() in known or (path.name.startswith(TEMP_PREFIX) and path not in stale):
            continue  # a live writer's temporary file is work in progress, not a problem
        if path.name.startswith(TEMP_PREFIX):
            problem = Problem(
                "temp-file", str(path.relative_to(cat.root)), "left by a writer that is gone"
            )
            _remove_if(fix, path, problem)
            report.problems.append(problem)
        else:
            unknown.append(path)
    if unknown:
        _check_unknown_files(cat, unknown, report, fix)


def _check_unknown_files(
    cat: Catalog, paths: list[Path], report: IntegrityReport, fix: bool
) -> None:
    """Files without a row here: other catalogs' images, proved orphans, or files left alone."""
    try:
        referenced = set().union(*(files_referenced_by(p) for p in sibling_catalogs(cat)))
    except OwnershipUnknown as exc:
        for path in paths:
            detail = f"no image row here refers to it, and {exc}: left alone"
            report.problems.append(Problem("orphan-file", str(path.relative_to(cat.root)), detail))
        return
    created = created_files(cat)
    doubt = (
        deletion_doubt(cat) if any(str(p.relative_to(cat.root)) in created for p in paths) else None
    )
    for path in paths:
        rel = str(path.relative_to(cat.root))
        if path.resolve() in referenced:
            report.shared_files += 1
        elif rel in created and doubt:
            detail = f"no catalog found refers to it, but {doubt}: left alone"
            report.problems.append(Problem("orphan-file", rel, detail))
        elif rel in created:
            problem = Problem(
                "orphan-file", rel, "no catalog refers to it (this catalog created it)"
            )
            if _remove_if(fix, path, problem):
                release(cat, rel)
            report.problems.append(problem)
        else:
            detail = "no catalog refers to it, but it was not created by this catalog: left alone"
            report.problems.append(Problem("orphan-file", rel, detail))


def _remove_if(fix: bool, path: Path, problem: Problem) -> bool:
    if fix:
        path.unlink(missing_ok=True)
        problem.fixed = "removed"
    return fix


def _check_dangling_rows(cat: Catalog, report: IntegrityReport) -> None:
    for table in ("splits", "predictions", "duplicates", "conflicts", "reviews"):
        sql = (
            f"SELECT count(*) FROM {table} t LEFT JOIN images i ON i.id = t.image_id"
            " WHERE i.id IS NULL"
        )
        dangling = cat.db.execute(sql).fetchone()[0]
        if dangling:
            report.problems.append(
                Problem(f"dangling-{table}", table, f"{dangling} rows name a missing image")
            )


def _check_run_artifacts(cat: Catalog, report: IntegrityReport) -> None:
    for run_id, artifacts, status in cat.db.execute(
        "SELECT id, artifacts, status FROM runs ORDER BY id"
    ).fetchall():
        if status != "finished" or not artifacts:
            continue
        for name, rel in _artifact_paths(json.loads(artifacts)):
            path = Path(rel) if Path(rel).is_absolute() else cat.root / rel
            if not path.exists():
                report.problems.append(
                    Problem("missing-artifact", str(run_id), f"{name}: {rel} does not exist")
                )


def _artifact_paths(artifacts: object, prefix: str = "") -> list[tuple[str, str]]:
    """Every string value of a run's artefacts JSON, with its key path."""
    if isinstance(artifacts, str):
        return [(prefix.rstrip(".") or "artifact", artifacts)]
    if isinstance(artifacts, dict):
        return [
            pair
            for key, value in artifacts.items()
            for pair in _artifact_paths(value, f"{prefix}{key}.")
        ]
    if isinstance(artifacts, list):
        return [
            pair
            for i, value in enumerate(artifacts)
            for pair in _artifact_paths(value, f"{prefix}{i}.")
        ]
    return []
