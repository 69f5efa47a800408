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


def bottom_maps(bottoms: keras.Model | list[keras.Model], pixels: np.ndarray, passes: int, seed: int, batch_size: int):
    """(passes, N, h, w, c) maps at the cut: pass 0 unaugmented, the others augmented.

    With a list of bottoms (an ensemble), a list of such arrays: every bottom sees the
    same augmented images, so their features describe the same views.
    """
    many = not isinstance(bottoms, keras.Model)
    bottoms = list(bottoms) if many else [bottoms]
    out: list[list[np.ndarray]] = [[] for _ in bottoms]
    for p in range(passes):
        images = pixels.astype(np.float32) if p == 0 else augment(pixels, seed + 1000 * p)
        for kept, bottom in zip(out, bottoms):
            kept.append(bottom.predict(images, batch_size=batch_size, verbose=0))
    stacked = [np.stack(kept) for kept in out]
    return stacked if many else stacked[0]


def pooled(top: keras.Model, maps: np.ndarray, batch_size: int) -> np.ndarray:
    """Global-average-pooled top outputs for maps of any leading shape (..., h, w, c)."""
    flat = maps.reshape(-1, *maps.shape[-3:])
    out = keras.ops.convert_to_numpy(keras.ops.mean(top.predict(flat, batch_size=batch_size, verbose=0), axis=(1, 2)))
    return out.reshape(*maps.shape[:-3], out.shape[-1])


def cached_features(path: Path, tops, train_maps, val_maps, batch_size: int):
    """Pooled train features (passes, N, F) and val features (N, F), kept in `path` for resuming.

    `tops`, `train_maps` and `val_maps` may be lists (an ensemble): the features of each
    top are concatenated in order.
    """
    if path.exists():
        with np.load(path) as saved:
            return saved["train"], saved["val"]
    if isinstance(tops, keras.Model):
        tops, train_maps, val_maps = [tops], [train_maps], [val_maps]
    train_f = np.concatenate([pooled(t, m, batch_size) for t, m in zip(tops, train_maps)], axis=-1)
    val_f = (np.concatenate([pooled(t, m, batch_size) for t, m in zip(tops, val_maps)], axis=-1)
             if len(val_maps[0]) else np.zeros((0, train_f.shape[-1]), np.float32))
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, train=train_f, val=val_f)
    tmp.replace(path)
    return train_f, val_f
