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

import numpy as np
import scipy.fftpack
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


def _grey_crops(small: Image.Image, boxes: list, size: tuple[int, int]) -> np.ndarray:
    """(len(boxes), h, w) uint8: each box of the grey picture resized as imagehash does."""
    grey = small.convert("L")  # per pixel, so converting before cropping changes nothing
    return np.stack(
        [np.asarray(grey.crop(box).resize(size, Image.Resampling.LANCZOS)) for box in boxes]
    )


def _bits_to_codes(bits: np.ndarray) -> np.ndarray:
    """(n, 8, 8) booleans -> (n,) uint64, row-major and most significant bit first, the
    value `int(str(imagehash_hash), 16)` gives."""
    return np.packbits(bits.reshape(len(bits), 64), axis=1).view(">u8").ravel().astype(np.uint64)


def phashes(small: Image.Image, boxes: list) -> np.ndarray:
    """imagehash.phash of each box, in one batch.

    The same steps as imagehash (grey, LANCZOS to 32 x 32, scipy.fftpack's DCT on both
    axes, the 8 x 8 low frequencies against their median), run on all windows at once:
    hashed one at a time, the windows made hashing several times slower.
    """
    pixels = _grey_crops(small, boxes, (32, 32))
    dct = scipy.fftpack.dct(scipy.fftpack.dct(pixels, axis=1), axis=2)
    low = dct[:, :8, :8]
    median = np.median(low.reshape(len(boxes), 64), axis=1)
    return _bits_to_codes(low > median[:, None, None])


def dhashes(small: Image.Image, boxes: list) -> np.ndarray:
    """imagehash.dhash of each box, in one batch (grey, LANCZOS to 9 x 8, column steps)."""
    pixels = _grey_crops(small, boxes, (9, 8))
    return _bits_to_codes(pixels[:, :, 1:] > pixels[:, :, :-1])


def window_hashes(small: Image.Image) -> np.ndarray:
    """(N_WINDOWS, 2) uint64: pHash, dHash of the whole, then of the corner and centre windows."""
    w, h = small.size
    cw, ch = w * WINDOW, h * WINDOW
    corners = [(x, y) for x in (0.0, w - cw) for y in (0.0, h - ch)]
    edges = [(0.0, 0.0, float(w), float(h))] + [
        (x, y, x + cw, y + ch) for x, y in [*corners, ((w - cw) / 2, (h - ch) / 2)]
    ]
    boxes = [tuple(round(v) for v in box) for box in edges]
    return np.stack([phashes(small, boxes), dhashes(small, boxes)], axis=1)


def square_hashes(small: Image.Image) -> np.ndarray:
    """(SQUARE_WINDOWS,) uint64 pHashes of square windows slid along the long side."""
    w, h = small.size
    side = min(w, h)
    starts = np.linspace(0, max(w, h) - side, SQUARE_WINDOWS).round().astype(int).tolist()
    boxes = [(x, 0, x + side, side) if w >= h else (0, x, side, x + side) for x in starts]
    return phashes(small, boxes)


def encode(windows: np.ndarray, squares: np.ndarray) -> str:
    """Both as one hex string for the catalog's `windows` column."""
    return np.concatenate([windows.reshape(-1), squares]).astype(">u8").tobytes().hex()


def decode(text: str) -> tuple[np.ndarray, np.ndarray]:
    """A stored `windows` value back as (window_hashes, square_hashes)."""
    codes = np.frombuffer(bytes.fromhex(text), ">u8").astype(np.uint64)
    return codes[: 2 * N_WINDOWS].reshape(N_WINDOWS, 2), codes[2 * N_WINDOWS :]
