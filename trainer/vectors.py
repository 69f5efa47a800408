"""Per-image feature vectors on disk: one float16 .npy file per image sha256 in a folder.

The audit keeps its frozen and its run features this way, so a second audit decodes
nothing; a damaged file reads as missing and is computed again.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from catalog import atomic_write


def _path(folder: Path, sha256: str) -> Path:
    return folder / sha256[:2] / f"{sha256}.npy"


def read_vector(folder: Path, sha256: str) -> np.ndarray | None:
    path = _path(folder, sha256)
    try:
        from .data import load_npy  # the data module loads Keras; the CLI imports this one at start

        return load_npy(path) if path.exists() else None
    except (OSError, ValueError):
        return None  # a damaged cache file is computed again


def write_vector(folder: Path, sha256: str, vector: np.ndarray) -> None:
    path = _path(folder, sha256)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path, prefix="tmp", suffix=".npy") as fh:  # a reader never sees half
        np.save(fh, vector)
