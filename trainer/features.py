"""Phase 1's inputs: pooled backbone features, computed once per image and augmentation pass.

A frozen backbone gives the same features every epoch, so running it every epoch (as the
original notebook did) wastes nearly all of the training time. Pass 0 is the plain
image; passes 1..k are augmented copies, so the head still sees variation.
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


def compute_features(
    extractor: keras.Model, pixels: np.ndarray, passes: int, seed: int, batch_size: int
) -> np.ndarray:
    """(passes, N, F) features: pass 0 unaugmented, the others augmented."""
    out = []
    for p in range(passes):
        images = pixels.astype(np.float32) if p == 0 else augment(pixels, seed + 1000 * p)
        out.append(extractor.predict(images, batch_size=batch_size, verbose=0))
    return np.stack(out)


def cached_features(
    path: Path, extractor: keras.Model, train: np.ndarray, val: np.ndarray, passes: int, seed: int, batch_size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Train features (passes, N, F) and val features (N, F), kept in `path` for resuming."""
    if path.exists():
        with np.load(path) as saved:
            return saved["train"], saved["val"]
    train_f = compute_features(extractor, train, passes, seed, batch_size)
    val_f = compute_features(extractor, val, 1, seed, batch_size)[0] if len(val) else np.zeros((0, train_f.shape[-1]))
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, train=train_f, val=val_f)
    tmp.replace(path)
    return train_f, val_f


class AugmentedBatches(keras.utils.PyDataset):
    """Phase 2's training batches: augmented on the fly, with per-sample class weights."""

    def __init__(self, pixels: np.ndarray, labels: np.ndarray, weights: np.ndarray, batch_size: int, seed: int):
        super().__init__()
        self.pixels, self.labels, self.weights = pixels, labels, weights
        self.batch_size, self.seed, self.epoch = batch_size, seed, 0
        self.layer = augmenter(seed)
        self.order = np.random.default_rng(seed).permutation(len(pixels))

    def __len__(self) -> int:
        return -(-len(self.pixels) // self.batch_size)

    def __getitem__(self, index: int):
        idx = self.order[index * self.batch_size : (index + 1) * self.batch_size]
        images = keras.ops.convert_to_numpy(self.layer(self.pixels[idx].astype(np.float32), training=True))
        return images, self.labels[idx], self.weights[idx]

    def on_epoch_end(self) -> None:
        self.epoch += 1
        self.order = np.random.default_rng(self.seed + self.epoch).permutation(len(self.pixels))
