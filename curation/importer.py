"""Import an existing dataset folder (`DIR/<class>/*` or `DIR/{train,test}/<class>/*`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from catalog import (
    IMAGE_MAX_BYTES,
    MIN_STORED_SIDE,
    Catalog,
    InputFileError,
    InvalidImage,
    Provenance,
    add_class,
    add_image,
    assign_split,
    check_class_name,
    class_names,
    read_input_file,
)

from .errors import CurationError

IMPORTED_SPLIT = "imported"
SUBSET_FOLDERS = ("train", "test")


@dataclass(frozen=True)
class ImportItem:
    path: Path
    class_name: str
    subset: str | None


@dataclass
class ImportPlan:
    root: Path
    layout: str  # "classes" or "train/test"
    items: list[ImportItem]
    ignored: list[Path] = field(default_factory=list)

    @property
    def classes(self) -> list[str]:
        return sorted({item.class_name for item in self.items})


@dataclass
class ImportReport:
    layout: str
    found: int = 0
    added: int = 0
    already: int = 0
    conflicts: list[tuple[Path, str, int]] = field(default_factory=list)
    failures: list[tuple[Path, str, str]] = field(default_factory=list)
    split_assigned: int = 0
    split_name: str | None = None
    ignored: list[Path] = field(default_factory=list)


def plan_import(root: Path) -> ImportPlan:
    """List the files under `root` with the class (and subset) their folders give them."""
    root = Path(root)
    if not root.is_dir():
        raise CurationError(f"cannot import {root}: no such folder")
    subset_dirs = {
        p.name.lower(): p for p in root.iterdir() if p.is_dir() and p.name.lower() in SUBSET_FOLDERS
    }
    if "train" in subset_dirs:
        items, ignored = [], [p for p in _visible(root) if p.name.lower() not in SUBSET_FOLDERS]
        for subset, folder in sorted(subset_dirs.items()):
            sub_items, sub_ignored = _class_folders(folder, subset)
            items += sub_items
            ignored += sub_ignored
        plan = ImportPlan(root, "train/test", items, ignored)
    else:
        items, ignored = _class_folders(root, None)
        plan = ImportPlan(root, "classes", items, ignored)
    if not plan.items:
        raise CurationError(
            f"found no files to import in {root}: expected {root}/<class>/<image> "
            f"or {root}/train/<class>/<image> and {root}/test/<class>/<image>"
        )
    return plan


def _visible(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if not p.name.startswith("."))


def _class_folders(folder: Path, subset: str | None) -> tuple[list[ImportItem], list[Path]]:
    items, ignored = [], []
    for class_dir in _visible(folder):
        if not class_dir.is_dir():
            ignored.append(class_dir)  # a file beside the class folders has no class
            continue
        for path in sorted(class_dir.rglob("*")):
            # Everything but the folders walked into is an item: a FIFO, a dangling link or a
            # link loop is then reported with its reason, never skipped in silence.
            if path.is_dir() and not path.is_symlink():
                continue
            if not any(part.startswith(".") for part in path.relative_to(class_dir).parts):
                items.append(ImportItem(path, class_dir.name, subset))
    return items, ignored


def check_plan_classes(cat: Catalog, plan: ImportPlan, *, add_missing: bool) -> list[str]:
    """Make sure every class folder names a known class, adding them if asked.

    Returns the classes that were added. Raises before anything is imported.
    """
    known = set(class_names(cat))
    missing = [name for name in plan.classes if name not in known]
    for name in missing:
        check_class_name(name)
    if missing and not add_missing:
        raise CurationError(
            f"the folders name unknown classes: {', '.join(missing)}. "
            f"Known classes: {', '.join(sorted(known))}. "
            "Rename the folders, or pass --add-classes to create these classes."
        )
    for name in missing:
        add_class(cat, name)
    return missing


def import_plan(
    cat: Catalog,
    plan: ImportPlan,
    *,
    min_side: int = MIN_STORED_SIDE,
    max_bytes: int = IMAGE_MAX_BYTES,
    on_item: Callable[[ImportItem], None] | None = None,
) -> ImportReport:
    """Validate and store every file of `plan`; record the train/test layout as a split.

    Failures (also files over `max_bytes`, FIFOs, dangling links) are reported with their
    reason and skipped; identical bytes under another
    class become a label conflict. Re-running adds nothing.
    """
    report = ImportReport(layout=plan.layout, found=len(plan.items), ignored=plan.ignored)
    assignments: list[tuple[int, str]] = []
    for item in plan.items:
        _import_one(cat, item, report, assignments, min_side, max_bytes)
        if on_item:
            on_item(item)
    if plan.layout == "train/test":
        report.split_name = IMPORTED_SPLIT
        report.split_assigned = assign_split(cat, IMPORTED_SPLIT, assignments)
    return report


def _import_one(
    cat, item: ImportItem, report: ImportReport, assignments: list, min_side: int, max_bytes: int
) -> None:
    try:
        data = read_input_file(item.path, max_bytes)
    except InputFileError as exc:
        report.failures.append((item.path, exc.reason, exc.detail))
        return
    provenance = Provenance(
        origin="import", source_url=item.path.resolve().as_uri(), title=item.path.name
    )
    try:
        result = add_image(cat, data, item.class_name, provenance, min_side=min_side)
    except InvalidImage as exc:
        report.failures.append((item.path, exc.reason, exc.detail))
        return
    if result.created:
        report.added += 1
    else:
        report.already += 1
    if result.conflict:
        report.conflicts.append((item.path, result.image["class"], result.image["id"]))
    if item.subset:
        assignments.append((result.image["id"], item.subset))
