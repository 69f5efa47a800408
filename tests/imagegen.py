"""Deterministic generated images for tests (import as `from imagegen import ...`)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def make_image(seed: int, size: tuple[int, int] = (96, 64), mode: str = "RGB") -> Image.Image:
    """A deterministic, textured picture: different seeds give visibly different images."""
    rng = np.random.default_rng(seed)
    w, h = size
    # Low-frequency structure (so perceptual hashes differ by seed) plus a little noise.
    coarse = rng.integers(0, 256, size=(4, 4, 3), dtype=np.uint8)
    img = Image.fromarray(coarse, "RGB").resize((w, h), Image.Resampling.BICUBIC)
    noise = rng.integers(-12, 13, size=(h, w, 3))
    arr = np.clip(np.asarray(img, dtype=np.int16) + noise, 0, 255).astype(np.uint8)
    return Image.fromarray(arr, "RGB").convert(mode)


def image_bytes(
    seed: int, size: tuple[int, int] = (96, 64), fmt: str = "JPEG", **save: object
) -> bytes:
    """Encoded bytes of `make_image(seed, size)` in format `fmt`."""
    buf = io.BytesIO()
    make_image(seed, size).save(buf, fmt, **save)
    return buf.getvalue()
