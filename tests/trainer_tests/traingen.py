"""A small generated catalog to train on: colour-coded classes and a train/test split."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from catalog import Provenance, add_image, open_catalog
from catalog.splits import assign

CLASSES = ("Air_Max_90", "Yeezy_350", "Air_Force_1")
TRAIN_PER_CLASS, TEST_PER_CLASS = 5, 2


def class_image(label: int, seed: int, size: int = 48) -> bytes:
    """A noisy image whose dominant colour channel is the class: learnable in one epoch."""
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 90, size=(size, size, 3))
    arr[..., label % 3] += 160
    buf = io.BytesIO()
    Image.fromarray(arr.clip(0, 255).astype(np.uint8), "RGB").save(buf, "PNG")
    return buf.getvalue()


def build_catalog(
    path: Path, split: str = "default", classes: tuple[str, ...] = CLASSES
) -> dict[str, list[int]]:
    """Fill the catalog at `path`; returns the image ids of each subset."""
    ids: dict[str, list[int]] = {"train": [], "test": []}
    with open_catalog(path) as cat:
        for label, name in enumerate(classes):
            for i in range(TRAIN_PER_CLASS + TEST_PER_CLASS):
                result = add_image(
                    cat, class_image(label, 100 * label + i), name, Provenance("import")
                )
                ids["train" if i < TRAIN_PER_CLASS else "test"].append(result.image["id"])
        assign(cat, split, [(i, s) for s, group in ids.items() for i in group], seed=0)
    return ids
