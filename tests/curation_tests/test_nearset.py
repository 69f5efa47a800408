"""bench/nearset.py, the near-duplicate development set (issue 14)."""

from __future__ import annotations

import importlib.util
import random
from pathlib import Path

from PIL import Image, ImageChops

NEARSET = Path(__file__).resolve().parents[2] / "bench" / "nearset.py"


def load_nearset():
    spec = importlib.util.spec_from_file_location("nearset", NEARSET)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_watermark_on_white_is_never_invisible():
    """Issue 14: white text drawn on a white picture changed no pixel, so 27 "watermarked"
    copies were the original's bytes, one catalog row, and were scored as misses."""
    nearset = load_nearset()
    white = Image.new("RGB", (160, 120), "white")
    picked_white = 0
    for seed in range(40):
        rng = random.Random(seed)
        copy = nearset.watermark(white, rng)
        assert ImageChops.difference(copy, white).getbbox() is not None, f"seed {seed}"
        # The same draws as watermark() makes, to know the colour it picked first.
        rng = random.Random(seed)
        rng.uniform(0, 1), rng.choice(nearset.TEXTS), rng.uniform(0, 1)
        rng.choice([rng.uniform(0, 1), rng.uniform(0, 1)])
        picked_white += rng.choice(nearset.COLOURS) == (255, 255, 255)
    assert picked_white > 0  # the case of the bug was met
