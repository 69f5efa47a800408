"""Perceptual hashes and a decoded-pixel hash, computed once per image and stored.

Decoding dominates the cost, so JPEGs are decoded at reduced size with Pillow's
`draft()` (the DCT scales by 1/2, 1/4 or 1/8 for free) and images are hashed in a process
pool on every core. Only images without hashes are hashed; re-runs are cheap.

Example:
    >>> from imagegen import make_image
    >>> h = hash_image(make_image(1))
    >>> len(h.phash), len(h.dhash)
    (16, 16)
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import imagehash
from PIL import Image

from catalog import Catalog, count_hashed, image_file, set_hashes, unhashed_images

from .windows import SIDE, encode, small_copy, square_hashes, window_hashes

# pHash resizes to 32x32; decoding at >= 64 px on the short side keeps it faithful.
DRAFT_SIZE = (64, 64)
SIGNATURE_SIDE = 8
BATCH = 64
MISSING = "missing"  # the error text of an image whose file is not in the store


@dataclass(frozen=True)
class ImageHashes:
    """The stored fingerprints of one image (hex strings)."""

    phash: str
    dhash: str
    pixel_hash: str
    signature: str
    windows: str  # `windows.encode` of the window and square-window hashes


def open_reduced(path: Path, size: tuple[int, int] = DRAFT_SIZE) -> Image.Image:
    """Open an image decoded at reduced size (at least `size`) when the format allows it (JPEG)."""
    img = Image.open(path)
    if img.format == "JPEG":
        img.draft("RGB", size)
    img.load()
    return img


def hash_image(img: Image.Image, small: Image.Image | None = None) -> ImageHashes:
    """pHash, dHash, decoded-pixel hash and colour signature of a decoded image.

    The pixel hash covers the pixels as decoded here, so two files with the same pixels
    (metadata stripped, PNG re-saved as lossless WebP) get the same value. For JPEGs that
    is the reduced decode, equal for files with the same DCT data; a lossy re-encode
    changes pixels and is found as a near duplicate instead.
    """
    rgb = img.convert("RGB")
    pixel = hashlib.sha256(f"{rgb.size}".encode() + rgb.tobytes()).hexdigest()
    small = small_copy(small if small is not None else rgb)
    return ImageHashes(
        phash=str(imagehash.phash(rgb)),
        dhash=str(imagehash.dhash(rgb)),
        pixel_hash=pixel,
        signature=signature_of(rgb),
        windows=encode(window_hashes(small), square_hashes(small)),
    )


def signature_of(rgb: Image.Image) -> str:
    """An 8x8 RGB thumbnail as hex: cheap colour-and-layout evidence for a match."""
    small = rgb.resize((SIGNATURE_SIDE, SIGNATURE_SIDE), Image.Resampling.BOX)
    return small.tobytes().hex()


def hash_file(path: Path) -> ImageHashes | str:
    """Hashes of the file at `path`, or the error text when it cannot be decoded."""
    try:
        # The window hashes are taken at the size confirmation decodes at (SIDE), the
        # others at the smaller draft they always were, so stored values do not change.
        with open_reduced(path) as img, open_reduced(path, (SIDE, SIDE)) as larger:
            return hash_image(img, larger)
    except FileNotFoundError:
        return f"{MISSING}: {path}"
    except (OSError, ValueError) as exc:
        return f"{type(exc).__name__}: {exc}"


def hash_files(paths: list[Path], workers: int | None = None) -> list[ImageHashes | str]:
    """Hash many files in order, in a process pool when there are enough to pay for it."""
    workers = workers or os.cpu_count() or 1
    if workers == 1 or len(paths) < 2 * BATCH:
        return [hash_file(p) for p in paths]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(hash_file, paths, chunksize=BATCH))


@dataclass
class HashReport:
    hashed: int = 0
    already: int = 0
    failures: list[tuple[int, str]] | None = None

    @property
    def missing(self) -> list[int]:
        """Images skipped because their file is not in the store (`curate check` lists them)."""
        return [i for i, error in self.failures or [] if error.startswith(MISSING)]

    @property
    def undecodable(self) -> list[int]:
        """Images skipped because their file does not decode."""
        return [i for i, error in self.failures or [] if not error.startswith(MISSING)]


def hash_catalog(
    cat: Catalog, *, workers: int | None = None, on_batch: Callable[[int], None] | None = None
) -> HashReport:
    """Hash every image that has no hashes yet and store the results.

    Returns:
        A HashReport: how many were hashed now, how many had hashes, and the failures.
    """
    todo = unhashed_images(cat)
    report = HashReport(already=count_hashed(cat), failures=[])
    for start in range(0, len(todo), 1024):
        chunk = todo[start : start + 1024]
        results = hash_files([image_file(cat, row) for row in chunk], workers)
        _store(cat, chunk, results, report)
        if on_batch:
            on_batch(len(chunk))
    return report


def _store(cat: Catalog, rows: Iterable[dict], results: list, report: HashReport) -> None:
    done = {}
    for row, result in zip(rows, results, strict=True):
        if isinstance(result, str):
            report.failures.append((row["id"], result))  # type: ignore[union-attr]
        else:
            done[row["id"]] = asdict(result)
    set_hashes(cat, done)
    report.hashed += len(done)
