"""Cached backbone activations: computed once per image and augmentation pass.

A frozen layer gives the same output every epoch, so running it every epoch (as the
original notebook did) wastes nearly all of the training time. The backbone is cut in
two: the frozen bottom runs once per image and pass, and its maps are kept; phase 1
pools the top's output once into features for the head, and phase 2 fine-tunes the top
on the kept maps. Pass 0 is the plain image; passes 1..k are augmented copies.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

from .data import augmenter

AUGMENT_BATCH = 64


def augment(pixels: np.ndarray, seed: int) -> np.ndarray:
    """One random augmentation of every image (float32, 0-255), reproducible by seed."""
    layer = augmenter(seed)
    out = np.empty(pixels.shape, dtype=np.float32)
    for start in range(0, len(pixels), AUGMENT_BATCH):
        batch = pixels[start : start + AUGMENT_BATCH].astype(np.float32)
        out[start : start + AUGMENT_BATCH] = keras.ops.convert_to_numpy(layer(batch, training=True))
    return out


def bottom_maps(bottom: keras.Model, pixels: np.ndarray, passes: int, seed: int, batch_size: int) -> np.ndarray:
    """(passes, N, h, w, c) maps at the cut: pass 0 unaugmented, the others augmented."""
    out = []
    for p in range(passes):
        images = pixels.astype(np.float32) if p == 0 else augment(pixels, seed + 1000 * p)
        out.append(bottom.predict(images, batch_size=batch_size, verbose=0))
    return np.stack(out)


def pooled(top: keras.Model, maps: np.ndarray, batch_size: int) -> np.ndarray:
    """Global-average-pooled top outputs for maps of any leading shape (..., h, w, c)."""
    flat = maps.reshape(-1, *maps.shape[-3:])
    out = keras.ops.convert_to_numpy(keras.ops.mean(top.predict(flat, batch_size=batch_size, verbose=0), axis=(1, 2)))
    return out.reshape(*maps.shape[:-3], out.shape[-1])


def cached_features(path: Path, top: keras.Model, train_maps: np.ndarray, val_maps: np.ndarray, batch_size: int):
    """Pooled train features (passes, N, F) and val features (N, F), kept in `path` for resuming."""
    if path.exists():
        with np.load(path) as saved:
            return saved["train"], saved["val"]
    train_f = pooled(top, train_maps, batch_size)
    val_f = pooled(top, val_maps, batch_size) if len(val_maps) else np.zeros((0, train_f.shape[-1]), np.float32)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, train=train_f, val=val_f)
    tmp.replace(path)
    return train_f, val_f
