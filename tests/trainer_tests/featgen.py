"""Tiny images and a tiny backbone for the feature-cache tests, and their memory measurement.

`python -m trainer_tests.featgen DIR` runs every phase of the feature cache on 64 and on
256 images in a fresh process and prints the traced peak of each as JSON. A fresh process,
because tracemalloc counts every allocation of the process: measured inside a long pytest
process the test failed depending on which tests ran before it (issue 10: 1.9 MB at 64
images against 9.6 MB at 256 after the curation, catalog and stress tests). What those
tests leave is not pinned down (no thread of theirs was alive at that point, and many
long-lived objects alone did not change the figures); here nothing ran before.
"""

from __future__ import annotations

import gc
import io
import json
import sys
import tracemalloc
from pathlib import Path

import keras
import numpy as np
from PIL import Image

from trainer.data import Example, fill_cache
from trainer.features import CachedRows, Halves, feature_pass, pass_seeds, pooled_pass

SIZE, BATCH, PASSES = 32, 8, 3
SIZES = (64, 256)


def examples(folder: Path, count: int, offset: int = 0) -> list[Example]:
    """`count` random-noise PNGs of SIZE px, labels alternating 0/1."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(offset)
    out = []
    for i in range(offset, offset + count):
        path = folder / f"{i}.png"
        buf = io.BytesIO()
        Image.fromarray(rng.integers(0, 255, (SIZE, SIZE, 3), dtype=np.uint8)).save(buf, "PNG")
        path.write_bytes(buf.getvalue())
        out.append(Example(i, f"{i:064x}", "c", i % 2, path))
    return out


def member() -> Halves:
    """A small bottom (pixels -> 16x16x64 maps) and top (maps -> 8x8x32): a backbone cut in two."""
    keras.utils.set_random_seed(0)
    pixels = keras.Input((SIZE, SIZE, 3))
    bottom = keras.Model(pixels, keras.layers.Conv2D(64, 3, strides=2, padding="same")(pixels))
    maps = keras.Input((16, 16, 64))
    top = keras.Model(maps, keras.layers.Conv2D(32, 3, strides=2, padding="same")(maps))
    return Halves(bottom, top, {"backbone": "tiny"})


def all_phases(part: Halves, images: list[Example], folder: Path) -> list[Path]:
    """Decode, PASSES feature passes, pooled features, one epoch of each phase's batches."""
    pixels, root = folder / "pixels", folder / "features"
    fill_cache(images, SIZE, pixels)
    maps = [
        feature_pass([part], images, SIZE, pixels, root, s, BATCH) for s in pass_seeds(PASSES, 0)
    ]
    pooled = [pooled_pass([part], per_pass, BATCH) for per_pass in maps]
    labels = np.array([e.label for e in images])
    for files, concat in (([[m for (m,) in maps]], False), ([[p for (p,) in pooled]], True)):
        data = CachedRows(files, labels, BATCH, shuffle=True, concat=concat, workers=1)
        for i in range(len(data)):
            data[i]
    return [m for (m,) in maps]


def peaks(folder: Path) -> dict[int, int]:
    """The traced peak bytes of `all_phases` on each of SIZES images (models compiled first)."""
    part = member()
    all_phases(part, examples(folder / "warm", BATCH), folder / "warm-cache")
    out = {}
    for n in SIZES:
        images = examples(folder / f"img{n}", n, offset=1000 * n)
        gc.collect()  # the previous size's garbage is not this one's peak
        tracemalloc.start()
        all_phases(part, images, folder / f"cache{n}")
        out[n] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return out


if __name__ == "__main__":
    print(json.dumps(peaks(Path(sys.argv[1]))))
