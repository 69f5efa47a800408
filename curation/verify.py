"""The second signal that confirms a pHash match: aligned colour thumbnails.

A 64-bit pHash gives distance 0 for different sneakers photographed side-on on white,
so a candidate pair only counts when small RGB thumbnails of the two images also agree:
a normalised correlation at the best of a few centred crops (which absorbs a light crop)
and a small mean colour difference there (which separates a red shoe from a black one
and a white background from a grey one). Thresholds come from real thumbnails in
../shared: resized, re-encoded, 5%-cropped and watermarked copies pass both, while the
closest distinct sneakers pass at most one (bench/RESULTS.md, "Thumbnail confirmation in
curation/verify.py").

Example:
    >>> from imagegen import make_image
    >>> a = make_image(1, (200, 150))
    >>> confirm(views_of(a), views_of(a.resize((100, 75)))).same
    True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

SIDE = 32
# Centred crops tried on either image: a 5% crop loses 2.5% a side, i.e. scale 0.95.
SCALES = (1.0, 0.97, 0.94, 0.9)
MIN_CORRELATION = 0.95
MAX_COLOUR_DIFF = 9.0
# Square windows slid along the long side, for square thumbnails cropped from a result.
SQUARE_OFFSETS = 17
MIN_SQUARE_CORRELATION = 0.97


@dataclass(frozen=True)
class Views:
    """Thumbnails of one image: raw RGB (n, SIDE, SIDE, 3) and their normalised vectors."""

    raw: np.ndarray
    unit: np.ndarray


@dataclass(frozen=True)
class Match:
    correlation: float
    colour_diff: float
    same: bool


def _thumb(img: Image.Image, box: tuple[float, float, float, float]) -> np.ndarray:
    return np.asarray(img.resize((SIDE, SIDE), Image.Resampling.BOX, box=box), dtype=np.float32)


def _views(raws: list[np.ndarray]) -> Views:
    raw = np.stack(raws)
    flat = raw.reshape(len(raws), -1)
    flat = flat - flat.mean(axis=1, keepdims=True)
    unit = flat / (np.linalg.norm(flat, axis=1, keepdims=True) + 1e-6)
    return Views(raw=raw, unit=unit)


def views_of(img: Image.Image) -> Views:
    """Thumbnails of `img` at each centred crop scale."""
    rgb = img.convert("RGB")
    w, h = rgb.size
    boxes = [((w - w * s) / 2, (h - h * s) / 2, (w + w * s) / 2, (h + h * s) / 2) for s in SCALES]
    return _views([_thumb(rgb, box) for box in boxes])


def square_views_of(img: Image.Image) -> Views:
    """Thumbnails of full-height (or full-width) square windows slid along the long side."""
    rgb = img.convert("RGB")
    w, h = rgb.size
    side = min(w, h)
    starts = np.linspace(0, max(w, h) - side, SQUARE_OFFSETS)
    boxes = [(x, 0, x + side, side) if w >= h else (0, x, side, x + side) for x in starts]
    return _views([_thumb(rgb, box) for box in boxes])


def confirm(a: Views, b: Views) -> Match:
    """Compare each image's full view with every crop of the other; keep the best."""
    best = (-1.0, 0.0)
    for full, other in ((a, b), (b, a)):
        corr = other.unit @ full.unit[0]
        k = int(corr.argmax())
        if corr[k] > best[0]:
            best = (float(corr[k]), float(np.abs(full.raw[0] - other.raw[k]).mean()))
    corr, diff = best
    return Match(corr, diff, corr >= MIN_CORRELATION and diff <= MAX_COLOUR_DIFF)


def confirm_square(square: Views, other_squares: Views) -> Match:
    """Does a square thumbnail repeat one square window of another image?"""
    corr = other_squares.unit @ square.unit[0]
    k = int(corr.argmax())
    diff = float(np.abs(square.raw[0] - other_squares.raw[k]).mean())
    return Match(
        float(corr[k]), diff, corr[k] >= MIN_SQUARE_CORRELATION and diff <= MAX_COLOUR_DIFF
    )
