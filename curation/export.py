"""`curate export`: DIR/train/<class>/ and DIR/test/<class>/ rebuilt from the catalog.

The folders are derived data: every export deletes the subset folders it wrote before
(recognised by the manifest it left) and writes them again from the split's usable
images, so the tree always matches `curate stats`. A manifest CSV records what went where.

Example:
    >>> export_split(cat, Path("dataset"), split="default", mode="link")   # doctest: +SKIP
"""

from __future__ import annotations

import csv
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from catalog import Catalog, image_file
from catalog import splits as catalog_splits
from catalog.schema import USABLE_STATUSES

from .errors import CurationError
from .stats import default_split

MANIFEST = "manifest.csv"
MODES = ("link", "copy")
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


def export_split(cat: Catalog, dest: Path, *, split: str | None = None, mode: str = "link") -> ExportReport:
    """Write the usable images of `split` under dest/<subset>/<class>/ plus dest/manifest.csv.

    Args:
        mode: "link" (symbolic links into the store, no extra space) or "copy". Formats
            Keras cannot decode (WebP) are always written as PNG files.

    Raises:
        CurationError: unknown mode or split, or dest holds files this command did not write.
    """
    if mode not in MODES:
        raise CurationError(f"unknown export mode {mode!r}; use link or copy")
    split = split or default_split(cat)
    if split is None:
        raise CurationError("the catalog has no split yet: run `curate split` first")
    catalog_splits.require_split(cat, split)
    dest = Path(dest)
    _clear(dest)
    report = ExportReport(dest, split)
    rows = catalog_splits.split_images(cat, split, statuses=USABLE_STATUSES)
    manifest = []
    for row in rows:
        rel = _place(cat, row, dest, mode)
        report.counts.setdefault(row["class"], {"train": 0, "test": 0})[row["subset"]] += 1
        manifest.append({**{k: row.get(k) for k in FIELDS}, "image_id": row["id"], "file": rel})
    _write_manifest(dest / MANIFEST, manifest)
    return report


def _clear(dest: Path) -> None:
    if not dest.exists():
        dest.mkdir(parents=True)
        return
    if not dest.is_dir():
        raise CurationError(f"cannot export to {dest}: it is a file")
    if any(dest.iterdir()) and not (dest / MANIFEST).is_file():
        raise CurationError(f"{dest} is not empty and holds no {MANIFEST}: choose a new or empty folder")
    for subset in catalog_splits.SUBSETS:
        if (dest / subset).is_dir():
            shutil.rmtree(dest / subset)


def _place(cat: Catalog, row: dict, dest: Path, mode: str) -> str:
    src = image_file(cat, row).resolve()
    keep_format = row["format"] in KERAS_FORMATS
    rel = f"{row['subset']}/{row['class']}/{row['id']}{src.suffix if keep_format else '.png'}"
    target = dest / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    if not keep_format:
        # Keras decodes only JPEG, PNG, GIF and BMP: a WebP is written as a lossless PNG.
        with Image.open(src) as img:
            img.convert("RGBA" if img.mode in ("RGBA", "LA", "P") else "RGB").save(target, "PNG")
    elif mode == "link":
        os.symlink(src, target)
    else:
        shutil.copyfile(src, target)
    return rel


def _write_manifest(path: Path, rows: list[dict]) -> None:
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)
