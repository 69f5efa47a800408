"""`curate export`: DIR/train/<class>/ and DIR/test/<class>/ rebuilt from the catalog.

The folders are derived data: every export removes the files it wrote before and writes
them again from the split's usable images, so the tree always matches `curate stats`. A
manifest CSV records what went where.

Export deletes only what an earlier export wrote: `.imageset-export.json` lists every file
it wrote with its sha256 (and a link's target). Before anything is removed, every file
under DIR/train and DIR/test must be listed there and unchanged; anything else (a user's
own dataset, a linked folder, an edited file) stops the export with nothing deleted.

Each file is written under a temporary name of this tool's own (`TEMP_PREFIX`) and renamed,
so a kill, a crash or a full disk never leaves half a file under a listed name. The files
are listed as `pending` before they are written; a re-run after an export that was cut off
replaces the pending files and removes its own temporary files.

Example:
    >>> export_split(cat, Path("dataset"), split="default", mode="link")   # doctest: +SKIP
"""

from __future__ import annotations

import csv
import errno
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from catalog import (
    SUBSETS,
    USABLE_STATUSES,
    Catalog,
    InvalidClassName,
    atomic_write,
    check_class_name,
    choose_split,
    image_file,
    sha256_of,
    sha256_of_file,
    split_images,
    write_text_atomic,
)

from .errors import CurationError

MANIFEST = "manifest.csv"
MARKER = ".imageset-export.json"
MARKER_TOOL = "imageset curate export"
MODES = ("link", "copy")
TEMP_PREFIX = ".imageset-export-tmp-"  # a file being written; only an export makes these
KERAS_FORMATS = ("JPEG", "PNG", "GIF", "BMP")
FIELDS = ["image_id", "class", "subset", "file", "sha256", "width", "height", "source_url"]


@dataclass
class ExportReport:
    root: Path
    split: str
    counts: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(sum(c.values()) for c in self.counts.values())


def export_split(
    cat: Catalog, dest: Path, *, split: str | None = None, mode: str = "link"
) -> ExportReport:
    """Write the usable images of `split` under dest/<subset>/<class>/ plus dest/manifest.csv.

    Args:
        mode: "link" (symbolic links into the store, no extra space) or "copy". Formats
            Keras cannot decode (WebP) are always written as PNG files.

    Raises:
        CurationError: unknown mode or split, or dest holds files this command did not write.
    """
    if mode not in MODES:
        raise CurationError(f"unknown export mode {mode!r}; use link or copy")
    split = choose_split(cat, split)
    if split is None:
        raise CurationError("the catalog has no split yet: run `curate split` first")
    rows = split_images(cat, split, statuses=USABLE_STATUSES)
    for name in sorted({row["class"] for row in rows}):
        _check_folder_name(name)
    dest = Path(dest)
    previous = _previous_export(dest)  # raises, deleting nothing, unless all of it is ours
    targets = [(row, *_target(cat, row, mode)) for row in rows]
    _remove_previous(dest, previous)
    # Listed before they are written: a crash midway leaves a folder the next export may clear.
    _write_marker(dest, {rel: {**expected, "pending": True} for _, rel, expected in targets})
    report = ExportReport(dest, split)
    manifest, written = [], {}
    for row, rel, _ in targets:
        written[rel] = _place(cat, row, dest / rel, mode)
        report.counts.setdefault(row["class"], {"train": 0, "test": 0})[row["subset"]] += 1
        manifest.append({**{k: row.get(k) for k in FIELDS}, "image_id": row["id"], "file": rel})
    _write_marker(dest, written)
    _write_manifest(dest / MANIFEST, manifest)
    return report


def _check_folder_name(class_name: str) -> None:
    """Refuse a class whose name is no safe folder name (a catalog edited by hand): it
    would put files in other folders, or outside `dest`."""
    try:
        check_class_name(class_name)
    except InvalidClassName:
        raise CurationError(
            f"class {class_name!r} cannot be a folder name, and export writes "
            "DEST/<subset>/<class>/: move its images to a class with a safe name "
            "(curate relabel IDS --to CLASS) and export again"
        ) from None


def _target(cat: Catalog, row: dict, mode: str) -> tuple[str, dict]:
    """Where a row goes under dest, and what the marker expects to find there."""
    src = image_file(cat, row).resolve()
    keep_format = row["format"] in KERAS_FORMATS
    rel = f"{row['subset']}/{row['class']}/{row['id']}{src.suffix if keep_format else '.png'}"
    if keep_format and mode == "link":
        return rel, {"link": str(src), "sha256": row["sha256"]}
    return rel, {
        "sha256": row["sha256"] if keep_format else None
    }  # a PNG's hash is known once written


def _place(cat: Catalog, row: dict, target: Path, mode: str) -> dict:
    """Write one file (never over an existing one) under a temporary name, rename it into
    place, and return its marker entry."""
    src = image_file(cat, row).resolve()
    temp = target.with_name(f"{TEMP_PREFIX}{os.getpid()}-{target.name}")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        if os.path.lexists(target):
            raise FileExistsError(errno.EEXIST, "a file is already there", str(target))
        if row["format"] in KERAS_FORMATS and mode == "link":
            os.symlink(src, temp)
            entry = {"link": str(src), "sha256": row["sha256"]}
        else:
            data = _file_bytes(src, row["format"])
            with temp.open("xb") as fh:
                fh.write(data)
            entry = {"sha256": sha256_of(data)}
        os.replace(temp, target)
    except OSError as exc:
        if os.path.lexists(temp):
            temp.unlink()  # this call made it, under a name no other program uses
        raise CurationError(write_error(target, exc)) from None
    return entry


def _file_bytes(src: Path, fmt: str) -> bytes:
    if fmt in KERAS_FORMATS:
        return src.read_bytes()
    # Keras decodes only JPEG, PNG, GIF and BMP: a WebP is written as a lossless PNG.
    buffer = io.BytesIO()
    with Image.open(src) as img:
        img.convert("RGBA" if img.mode in ("RGBA", "LA", "P") else "RGB").save(buffer, "PNG")
    return buffer.getvalue()


def write_error(path: Path, exc: OSError) -> str:
    """One line naming the file that was being written and what stopped it."""
    why = {
        errno.ENOSPC: "the disk is full",
        errno.EDQUOT: "the disk quota is used up",
        errno.EFBIG: "the file is larger than this file system or process allows",
    }.get(exc.errno or 0, exc.strerror or type(exc).__name__)
    return f"cannot write {path}: {why}; the export is incomplete, run it again once fixed"


def _previous_export(dest: Path) -> dict[str, dict]:
    """The files an earlier export wrote under dest; refuse if dest holds anything else.

    Raises:
        CurationError: dest is a file; or it is not empty and holds no marker; or a file
            under dest/train or dest/test is not listed in the marker or was changed; or
            one of those folders is a link.
    """
    if not dest.exists():
        dest.mkdir(parents=True)
        return {}
    if not dest.is_dir():
        raise CurationError(f"cannot export to {dest}: it is a file")
    _remove_own_temps(dest)  # the manifest or marker an export was writing when cut off
    if not any(dest.iterdir()):
        return {}
    marker = dest / MARKER
    if marker.is_symlink() or not marker.is_file():
        raise CurationError(
            f"{dest} is not empty and holds no export written by this tool ({MARKER}): "
            "choose a new or empty folder; nothing was deleted"
        )
    listed = _read_marker(marker)
    for path in _exported_files(dest):
        rel = path.relative_to(dest).as_posix()
        if path.name.startswith(TEMP_PREFIX):
            continue  # a file an export was writing when it was cut off
        if rel not in listed or not (listed[rel].get("pending") or _unchanged(path, listed[rel])):
            raise CurationError(
                f"{path} was not written by the last export, or was changed since: nothing was "
                "deleted; "
                "move it away or export to another folder"
            )
    return listed


def _remove_own_temps(dest: Path) -> None:
    """Remove the temporary files export writes its manifest and marker under, in `dest`
    itself: their prefix is this tool's own (`TEMP_PREFIX`), no other program makes them."""
    for path in dest.iterdir():
        if path.name.startswith(TEMP_PREFIX) and path.is_file() and not path.is_symlink():
            path.unlink()


def _exported_files(dest: Path) -> list[Path]:
    """Every file (and link) under dest/train and dest/test; a linked folder is refused."""
    found: list[Path] = []
    for subset in SUBSETS:
        top = dest / subset
        if top.is_symlink() or (top.exists() and not top.is_dir()):
            raise CurationError(
                f"{top} is a link or a file, not a folder an export wrote: nothing was deleted"
            )
        for folder, dirnames, filenames in os.walk(top):
            for name in dirnames:
                if (Path(folder) / name).is_symlink():
                    raise CurationError(
                        f"{Path(folder) / name} is a link to a folder, not one an export wrote: "
                        "nothing was deleted"
                    )
            found += [Path(folder) / name for name in filenames]
    return found


def _unchanged(path: Path, expected: dict) -> bool:
    if "link" in expected:
        return path.is_symlink() and os.readlink(path) == expected["link"]
    if path.is_symlink() or not path.is_file():
        return False
    return expected.get("sha256") is None or sha256_of_file(path) == expected["sha256"]


def _remove_previous(dest: Path, listed: dict[str, dict]) -> None:
    """Remove the verified files of the earlier export, then the folders they leave empty."""
    if not listed:
        return
    for path in _exported_files(dest):
        path.unlink()
    for subset in SUBSETS:
        for folder, _, _ in sorted(os.walk(dest / subset), key=lambda entry: -len(entry[0])):
            os.rmdir(folder)


def _read_marker(marker: Path) -> dict[str, dict]:
    try:
        content = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CurationError(f"cannot read {marker}: {exc}; nothing was deleted") from exc
    if (
        not isinstance(content, dict)
        or content.get("tool") != MARKER_TOOL
        or not isinstance(content.get("files"), dict)
    ):
        raise CurationError(f"{marker} was not written by this tool: nothing was deleted")
    return content["files"]


def _write_marker(dest: Path, files: dict[str, dict]) -> None:
    content = json.dumps({"tool": MARKER_TOOL, "version": 1, "files": files}, indent=0)
    try:
        write_text_atomic(dest / MARKER, content, prefix=TEMP_PREFIX)
    except OSError as exc:
        raise CurationError(write_error(dest / MARKER, exc)) from None


def _write_manifest(path: Path, rows: list[dict]) -> None:
    try:
        with atomic_write(path, "w", newline="", prefix=TEMP_PREFIX) as fh:
            writer = csv.DictWriter(fh, fieldnames=FIELDS)
            writer.writeheader()
            writer.writerows(rows)
    except OSError as exc:
        raise CurationError(write_error(path, exc)) from None
