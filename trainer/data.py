"""Training data from the catalog: a split's usable images, labels, a cache of decoded pixels.

The test subset is returned separately and only `evaluate` reads it; validation for early
stopping is carved out of the train subset with a seed.
"""

from __future__ import annotations

import io
import os
import random
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
from PIL import Image, ImageOps

from catalog import (
    USABLE_STATUSES,
    Catalog,
    atomic_write,
    choose_split,
    class_names,
    image_file,
    split_images,
    without_flagged,
)
from clikit.progress import bar

from .cache import (  # noqa: F401  (cache_dir, features_dir: where the trainer's caches live)
    PIXEL_TEMP_PREFIX,
    cache_dir,
    features_dir,
    stale_pixel_temps,
    sweep,
)
from .errors import TrainerError


@dataclass(frozen=True)
class Example:
    """One labelled image of a split."""

    image_id: int
    sha256: str
    class_name: str
    label: int
    path: Path


@dataclass
class SplitData:
    """A split ready for training: label order and the three parts."""

    split: str
    classes: list[str]
    train: list[Example]
    val: list[Example]
    test: list[Example]

    def counts(self) -> dict[str, int]:
        return {"train": len(self.train), "val": len(self.val), "test": len(self.test)}


def resolve_split(cat: Catalog, split: str | None) -> str:
    """`split`, else the catalog's default split (`catalog.default_split`)."""
    chosen = choose_split(cat, split)
    if chosen is None:
        raise TrainerError(
            "the catalog has no split yet: make one with `curate split` (or `curate import` a "
            "train/test tree)"
        )
    return chosen


def load_split(
    cat: Catalog,
    split: str | None,
    *,
    accepted_only: bool = False,
    val_fraction: float,
    seed: int = 0,
    exclude_flagged: bool = False,
) -> SplitData:
    """The usable images of `split`, labelled in the catalog's class order.

    `exclude_flagged`: without the open flags of the split's newest audit.

    Example:
        >>> data = load_split(cat, "default", val_fraction=0.15, seed=0)
        >>> data.classes, data.counts()
    """
    split = resolve_split(cat, split)
    statuses = ("accepted",) if accepted_only else USABLE_STATUSES
    rows = split_images(cat, split, statuses=statuses)
    if exclude_flagged:
        rows = without_flagged(cat, split, rows)
    present = {r["class"] for r in rows if r["subset"] == "train"}
    classes = [name for name in class_names(cat) if name in present]
    if len(classes) < 2:
        raise TrainerError(
            f"split {split!r} has {len(classes)} class(es) with usable train images; training "
            "needs at least 2"
        )
    unknown = sorted({r["class"] for r in rows} - present)
    if unknown:
        raise TrainerError(
            f"split {split!r} has test images of classes with no train images: {', '.join(unknown)}"
        )
    label = {name: i for i, name in enumerate(classes)}
    examples: dict[str, list[Example]] = {"train": [], "test": []}
    for r in rows:
        examples[r["subset"]].append(
            Example(r["id"], r["sha256"], r["class"], label[r["class"]], image_file(cat, r))
        )
    train, val = carve_validation(examples["train"], val_fraction, seed)
    return SplitData(split, classes, train, val, examples["test"])


def carve_validation(
    train: list[Example], fraction: float, seed: int
) -> tuple[list[Example], list[Example]]:
    """Hold out about `fraction` of each class (at least one, if it has two or more)."""
    if fraction <= 0:
        return train, []
    rng = random.Random(seed)
    keep, held = [], []
    for label in sorted({e.label for e in train}):
        members = [e for e in train if e.label == label]
        rng.shuffle(members)
        n = max(1, round(len(members) * fraction)) if len(members) >= 2 else 0
        held += members[:n]
        keep += members[n:]
    return sorted(keep, key=lambda e: e.image_id), sorted(held, key=lambda e: e.image_id)


def decode(path: Path, size: int) -> np.ndarray:
    """An image file as a (size, size, 3) uint8 RGB array, squashed to a square.

    Squashing (not cropping) keeps the whole sneaker, as the original project's
    `flow_from_directory` did. `train predict` uses this same function. EXIF rotation is
    applied; 16-bit, CMYK, palette and grey images become 8-bit RGB; an animation gives
    its first frame.
    """
    try:
        with Image.open(path) as img:
            rgb = _to_rgb(ImageOps.exif_transpose(img))
            return np.asarray(rgb.resize((size, size), Image.Resampling.BILINEAR), dtype=np.uint8)
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise TrainerError(f"cannot read image {path}: {exc}") from exc


def decode_rows(
    cat: Catalog, rows: list[dict], size: int
) -> tuple[list[dict], list[np.ndarray], list[int]]:
    """(the rows whose image decodes, their (size, size, 3) pixels, ids of the others)."""
    ok, arrays, unreadable = [], [], []
    for r in rows:
        try:
            arrays.append(decode(image_file(cat, r), size))
            ok.append(r)
        except TrainerError:
            unreadable.append(r["id"])
    return ok, arrays, unreadable


def _to_rgb(img: Image.Image) -> Image.Image:
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N"):
        # convert("RGB") would clip 16-bit values at 255 and give a white image.
        arr = np.asarray(img, dtype=np.float32) / 257.0
        img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "L")
    return img.convert("RGB")


# Pillow releases the GIL while it decodes and resizes, so threads decode in parallel.
DECODE_WORKERS = min(8, os.cpu_count() or 1)


def pixels(examples: list[Example], size: int, folder: Path | None) -> np.ndarray:
    """(N, size, size, 3) uint8 for `examples`, decoding each (image, size) only once.

    The whole array is in memory: for small sets (a test subset, a figure). Training
    streams `image_batches` instead.
    """
    out = np.empty((len(examples), size, size, 3), dtype=np.uint8)
    for start, batch in zip(
        range(0, len(examples), 256), image_batches(examples, size, folder, 256), strict=True
    ):
        out[start : start + len(batch)] = batch
    return out


def fill_cache(
    examples: list[Example], size: int, folder: Path | None, *, what: str = "decode"
) -> int:
    """Decode every example whose (image, size) is not cached yet, in parallel; returns how many.

    Nothing is kept in memory: each worker writes its file and drops the pixels.
    """
    if folder is None:
        return 0
    sweep(stale_pixel_temps(folder))  # what a killed run was writing
    missing = [ex for ex in examples if not _cache_path(ex, size, folder).exists()]
    with (
        bar(f"{what} {size} px", len(missing)) as advance,
        ThreadPoolExecutor(DECODE_WORKERS) as pool,
    ):
        for _ in pool.map(lambda ex: _cached(ex, size, folder) is None, missing):
            advance(1)
    return len(missing)


def image_batches(
    examples: list[Example], size: int, folder: Path | None, batch_size: int
) -> Iterator[np.ndarray]:
    """(b, size, size, 3) uint8 batches in order; the next batch is read while this one is used."""
    chunks = [examples[i : i + batch_size] for i in range(0, len(examples), batch_size)]
    load = (
        (lambda ex: _cached(ex, size, folder))
        if folder is not None
        else (lambda ex: decode(ex.path, size))
    )
    with ThreadPoolExecutor(DECODE_WORKERS) as pool:
        ahead = [pool.submit(load, ex) for ex in chunks[0]] if chunks else []
        for k in range(len(chunks)):
            current = ahead
            ahead = [pool.submit(load, ex) for ex in chunks[k + 1]] if k + 1 < len(chunks) else []
            yield np.stack([f.result() for f in current])


def _cache_path(ex: Example, size: int, folder: Path) -> Path:
    return folder / str(size) / ex.sha256[:2] / f"{ex.sha256}.npy"


# np.load parses each .npy header with ast.literal_eval, and CPython before 3.11.8/3.12.1
# keeps the AST constructor's recursion depth in shared state: parses from several decode
# threads at once fail at random with "SystemError: AST constructor recursion depth
# mismatch" (python/cpython#106905). The file is read in parallel; only the parse is serialised.
_NPY_PARSE = threading.Lock()


def load_npy(path: Path) -> np.ndarray:
    """A .npy file, safe to call from several threads at once."""
    data = path.read_bytes()
    with _NPY_PARSE:
        return np.load(io.BytesIO(data))


def _cached(ex: Example, size: int, folder: Path) -> np.ndarray:
    path = _cache_path(ex, size, folder)
    if path.exists():
        try:
            return load_npy(path)
        except (OSError, ValueError):
            pass  # a damaged cache file is rebuilt below
    arr = decode(ex.path, size)
    path.parent.mkdir(parents=True, exist_ok=True)
    # atomic: two runs may fill the cache at once; `cache` knows the temporary name
    with atomic_write(path, prefix=PIXEL_TEMP_PREFIX, suffix=".npy") as fh:
        np.save(fh, arr)
    return arr


def labels_of(examples: list[Example]) -> np.ndarray:
    return np.array([e.label for e in examples], dtype=np.int32)


def class_weights(labels: np.ndarray, n_classes: int) -> dict[int, float]:
    """Inverse-frequency weights, mean 1 over the examples, for unbalanced classes."""
    counts = np.bincount(labels, minlength=n_classes).astype(float)
    return {i: float(len(labels) / (n_classes * c)) if c else 0.0 for i, c in enumerate(counts)}


def augmenter(seed: int) -> keras.Sequential:
    """Flip, small rotation, zoom and colour jitter on 0-255 pixels (active in training only)."""
    return keras.Sequential(
        [
            keras.layers.RandomFlip("horizontal", seed=seed),
            keras.layers.RandomRotation(0.04, fill_mode="nearest", seed=seed + 1),
            keras.layers.RandomZoom((-0.15, 0.05), fill_mode="nearest", seed=seed + 2),
            keras.layers.RandomColorJitter(
                value_range=(0, 255),
                brightness_factor=0.1,
                contrast_factor=0.1,
                saturation_factor=(0.4, 0.6),
                hue_factor=0.02,
                seed=seed + 3,
            ),
        ],
        name="augment",
    )


def test_examples(
    cat: Catalog, split: str, classes: list[str], *, accepted_only: bool = False
) -> list[Example]:
    """The usable test images of `split` whose class a trained model knows (its label order)."""
    statuses = ("accepted",) if accepted_only else USABLE_STATUSES
    label = {name: i for i, name in enumerate(classes)}
    return [
        Example(r["id"], r["sha256"], r["class"], label[r["class"]], image_file(cat, r))
        for r in split_images(cat, split, "test", statuses)
        if r["class"] in label
    ]
