"""`curate quality`: flag images worth a second look (stored in images.flags).

Flags do not change an image's status; they put it in the `flagged` review queue.
Each check is cheap and works on a reduced decode.

Example:
    >>> flags_for(make_image(1, (20, 20)), Thresholds())   # doctest: +SKIP
    ['too-small']
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageFilter

from catalog import USABLE_STATUSES, Catalog, image_file, image_flags, iter_images, update_image

from .hashing import open_reduced


@dataclass(frozen=True)
class Thresholds:
    """When each flag is raised; every one is a `curate quality` option."""

    # px, the shorter side of the stored image: a flag only, unlike the catalog's storage
    # floor (`MIN_STORED_SIDE`, `curate import --min-side`), under which nothing is stored.
    small_below: int = 100
    max_aspect: float = 3.0  # long side / short side
    min_std: float = 10.0  # grey-level standard deviation: below is near-uniform
    # |R-G| + |G-B| at the 99th percentile: a white shoe on white still has some colour
    # somewhere, a grey photo has none (JPEG noise stays under 2 levels).
    max_chroma: float = 2.5
    min_sharpness: float = 15.0  # std of the Laplacian on a 128 px copy: below is blurry


@dataclass
class QualityReport:
    checked: int = 0
    counts: Counter = field(default_factory=Counter)
    changed: int = 0
    unreadable: list[int] = field(default_factory=list)


def flags_for(img: Image.Image, width: int, height: int, t: Thresholds) -> list[str]:
    """The flags an image earns; `width`/`height` are its stored (not reduced) size."""
    flags = []
    if min(width, height) < t.small_below:
        flags.append("too-small")
    if max(width, height) / max(1, min(width, height)) > t.max_aspect:
        flags.append("extreme-aspect")
    rgb = img.convert("RGB")
    rgb.thumbnail((128, 128))
    grey = rgb.convert("L")
    arr = np.asarray(grey, dtype=np.float32)
    if arr.std() < t.min_std:
        flags.append("near-uniform")
    c = np.asarray(rgb, dtype=np.float32)
    if (
        np.percentile(np.abs(c[..., 0] - c[..., 1]) + np.abs(c[..., 1] - c[..., 2]), 99)
        < t.max_chroma
    ):
        flags.append("grayscale")
    lap = np.asarray(
        grey.filter(ImageFilter.Kernel((3, 3), [0, 1, 0, 1, -4, 1, 0, 1, 0], 1, 128)),
        dtype=np.float32,
    )
    if "near-uniform" not in flags and lap.std() < t.min_sharpness:
        flags.append("blurry")
    return flags


def check_quality(cat: Catalog, thresholds: Thresholds = Thresholds()) -> QualityReport:
    """Recompute the flags of every usable image and store those that changed."""
    report = QualityReport()
    for row in iter_images(cat, statuses=USABLE_STATUSES):
        try:
            with open_reduced(image_file(cat, row)) as img:
                flags = flags_for(img, row["width"], row["height"], thresholds)
        except (OSError, ValueError):
            report.unreadable.append(row["id"])
            continue
        report.checked += 1
        report.counts.update(flags)
        if flags != image_flags(row):
            update_image(cat, row["id"], flags=flags)
            report.changed += 1
    return report
