"""Hashes of windows of a picture, computed once with its other hashes and stored.

Near-duplicate candidates that the hashes of the whole picture miss come from windows:
- `window_hashes`: pHash and dHash of the whole picture, then of its four corner windows
  and its centre window at `WINDOW` of each side; a 3-10% crop of a picture lands within a
  few bits of one window of its original;
- `square_hashes`: pHash of `SQUARE_WINDOWS` full-height (or full-width) square windows
  slid along the long side; a square thumbnail cut from a wider result lands near one.
Both are taken on the picture at `SIDE` px on its long side, the size confirmation decodes
at, and stored in the catalog (one hex string per image, `encode`), so that dedup, split
and leaks find candidates without decoding any image again.
"""

from __future__ import annotations

import imagehash
import numpy as np
from PIL import Image

SIDE = 128  # the long side pictures are hashed and compared at
# The four corners and the centre at WINDOW of each side (see neardup's candidates).
WINDOW = 0.94
N_WINDOWS = 6  # the whole and five windows
# Square windows slid along the long side; each step moves by 1/8 of the slack.
SQUARE_WINDOWS = 9


def small_copy(img: Image.Image) -> Image.Image:
    """The RGB picture at SIDE px on its long side (what confirmation compares)."""
    rgb = img.convert("RGB")
    f = SIDE / max(rgb.size)
    size = (max(8, round(rgb.width * f)), max(8, round(rgb.height * f)))
    return rgb.resize(size, Image.Resampling.BILINEAR)


def _hashes(part: Image.Image) -> tuple[int, int]:
    return int(str(imagehash.phash(part)), 16), int(str(imagehash.dhash(part)), 16)


def window_hashes(small: Image.Image) -> np.ndarray:
    """(N_WINDOWS, 2) uint64: pHash, dHash of the whole, then of the corner and centre windows."""
    w, h = small.size
    cw, ch = w * WINDOW, h * WINDOW
    corners = [(x, y) for x in (0.0, w - cw) for y in (0.0, h - ch)]
    boxes = [(0.0, 0.0, float(w), float(h))] + [
        (x, y, x + cw, y + ch) for x, y in [*corners, ((w - cw) / 2, (h - ch) / 2)]
    ]
    out = np.zeros((len(boxes), 2), np.uint64)
    for k, (x0, y0, x1, y1) in enumerate(boxes):
        out[k] = _hashes(small.crop((round(x0), round(y0), round(x1), round(y1))))
    return out


def square_hashes(small: Image.Image) -> np.ndarray:
    """(SQUARE_WINDOWS,) uint64 pHashes of square windows slid along the long side."""
    w, h = small.size
    side = min(w, h)
    starts = np.linspace(0, max(w, h) - side, SQUARE_WINDOWS).round().astype(int)
    boxes = [(x, 0, x + side, side) if w >= h else (0, x, side, x + side) for x in starts]
    return np.array([_hashes(small.crop(box))[0] for box in boxes], np.uint64)


def encode(windows: np.ndarray, squares: np.ndarray) -> str:
    """Both as one hex string for the catalog's `windows` column."""
    return np.concatenate([windows.reshape(-1), squares]).astype(">u8").tobytes().hex()


def decode(text: str) -> tuple[np.ndarray, np.ndarray]:
    """A stored `windows` value back as (window_hashes, square_hashes)."""
    codes = np.frombuffer(bytes.fromhex(text), ">u8").astype(np.uint64)
    return codes[: 2 * N_WINDOWS].reshape(N_WINDOWS, 2), codes[2 * N_WINDOWS :]
