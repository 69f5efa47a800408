"""The two baselines `bench/train.py` measures ours against, both on MobileNetV2 (issue 11).

Imports Keras: `bench/train.py` imports this module only when a baseline runs.

- `two_phase`: the textbook Keras transfer-learning recipe (keras-io
  `guides/transfer_learning.py`, TensorFlow's "Transfer learning and fine-tuning" tutorial):
  augmentation and preprocessing inside the model, the ImageNet base frozen and called with
  `training=False`, GlobalAveragePooling → Dropout(0.2) → Dense(softmax) trained with
  Adam(1e-3); then the base unfrozen from layer 100 on (the tutorial's `fine_tune_at`) and
  everything recompiled and fitted again at 1e-5. BatchNorm layers stay frozen: with them
  unfrozen, `base(x, training=False)` did not keep this Keras in inference mode during
  `fit` (sneakers10: the fine-tune phase's training loss jumped to ln(10) at once, uniform
  predictions, test top-1 0.095).
- `original`: the original project's recipe: the whole MobileNetV2 fine-tuned (BatchNorm
  frozen) with the original head at 1e-4.

Both decode every image with PIL on every epoch (as Keras 2's `flow_from_directory`), in
the same squashed 224-px form the trainer uses. Each result's `seconds` runs from building
the model to the end of the final test evaluation (ours' wall time includes its evaluation
too); `--curves` scores the test set after every epoch as well, off the clock.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import keras
import numpy as np

from trainer.backbones import build_backbone
from trainer.data import augmenter, decode
from trainer.model import HeadConfig, build_classifier, build_head

SIZE, SEED = 224, 42
FINE_TUNE_AT = 100  # the TensorFlow tutorial's first unfrozen layer of MobileNetV2's 154


class FolderImages(keras.utils.PyDataset):
    """Decode every file with PIL on every epoch, like Keras 2's flow_from_directory."""

    def __init__(self, items: list[tuple[Path, int]], batch_size: int, augment: bool):
        super().__init__()
        self.items, self.batch_size = list(items), batch_size
        self.layer = augmenter(SEED) if augment else None
        random.Random(SEED).shuffle(self.items)

    def __len__(self) -> int:
        return -(-len(self.items) // self.batch_size)

    def __getitem__(self, index: int):
        batch = self.items[index * self.batch_size : (index + 1) * self.batch_size]
        images = np.stack([decode(path, SIZE) for path, _ in batch]).astype(np.float32)
        if self.layer is not None:
            images = keras.ops.convert_to_numpy(self.layer(images, training=True))
        return images, np.array([label for _, label in batch])


class Clock:
    """The baseline's wall time, less the per-epoch test scoring (the bench's, not the recipe's)."""

    def __init__(self, files: dict, name: str, model: keras.Model | None = None):
        self.started, self.off = time.perf_counter(), 0.0
        self.curve: list[tuple[float, float, float]] = []  # (seconds, top-1, top-3) per epoch
        self.files, self.name, self.model = files, name, model

    def now(self) -> float:
        return time.perf_counter() - self.started - self.off

    def score(self, stage: str) -> tuple[float, float]:
        """Test top-1 and top-3 of the model now; prints them with the clock's time before."""
        assert self.model is not None
        at = self.now()
        _, top1, top3 = self.model.evaluate(FolderImages(self.files["test"], 32, False), verbose=0)
        print(
            f"  {self.name} {stage}: test top-1 {top1:.3f} top-3 {top3:.3f} at {at:.0f} s",
            flush=True,
        )
        return top1, top3

    def callback(self, first_epoch: int = 0) -> keras.callbacks.Callback:
        clock = self

        class EachEpoch(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                t = time.perf_counter()
                at = clock.now()
                top1, top3 = clock.score(f"epoch {first_epoch + epoch + 1}")
                clock.curve.append((at, top1, top3))
                clock.off += time.perf_counter() - t

        return EachEpoch()

    def result(self, label: str) -> dict:
        top1, top3 = self.score("final")  # on the clock, as ours' evaluation is
        return {
            "name": label,
            "top1": top1,
            "top3": top3,
            "seconds": self.now(),
            "curve": self.curve,
        }


def _compile(model: keras.Model, lr: float) -> None:
    model.compile(
        keras.optimizers.Adam(lr),
        "sparse_categorical_crossentropy",
        metrics=["accuracy", keras.metrics.SparseTopKCategoricalAccuracy(3, name="top3")],
    )


def two_phase(
    n_classes: int, files: dict, weights: Path, epochs: tuple[int, int], curves: bool
) -> dict:
    """The textbook recipe: `epochs[0]` with the base frozen, `epochs[1]` with its top unfrozen."""
    keras.utils.set_random_seed(0)
    clock = Clock(files, "two-phase")
    base = keras.applications.MobileNetV2(
        include_top=False, weights=None, input_shape=(SIZE, SIZE, 3)
    )
    base.load_weights(str(weights))
    base.trainable = False
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.RandomFlip("horizontal")(inputs)
    x = keras.layers.RandomRotation(0.1)(x)
    x = keras.layers.RandomZoom(0.1)(x)
    x = keras.layers.Rescaling(1 / 127.5, offset=-1)(x)  # mobilenet_v2.preprocess_input
    x = base(x, training=False)  # BatchNorm in inference mode, also once unfrozen
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dropout(0.2)(x)
    model = keras.Model(inputs, keras.layers.Dense(n_classes, activation="softmax")(x))
    clock.model = model
    train = FolderImages(files["train"], 32, False)
    _compile(model, 1e-3)
    each = [clock.callback()] if curves else []
    model.fit(train, epochs=epochs[0], verbose=0, callbacks=each)
    base.trainable = True
    for layer in base.layers[:FINE_TUNE_AT]:
        layer.trainable = False
    for layer in base.layers:  # BatchNorm frozen: see the module's docstring
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False
    _compile(model, 1e-5)
    each = [clock.callback(epochs[0])] if curves else []
    model.fit(train, epochs=epochs[1], verbose=0, callbacks=each)
    return clock.result(f"two-phase fine-tune (MobileNetV2, {epochs[0]}+{epochs[1]} epochs)")


def original(n_classes: int, files: dict, weights: Path, epochs: int, curves: bool) -> dict:
    """MobileNetV2 fully fine-tuned (BatchNorm frozen, as its weights need), the original head."""
    keras.utils.set_random_seed(0)
    clock = Clock(files, "original")
    base = build_backbone("mobilenet_v2", str(weights), SIZE)
    for layer in base.layers:
        layer.trainable = not isinstance(layer, keras.layers.BatchNormalization)
    model = build_classifier(base, build_head(1280, n_classes, HeadConfig()), "tf", SIZE)
    clock.model = model
    _compile(model, 1e-4)
    model.fit(
        FolderImages(files["train"], 32, True),
        epochs=epochs,
        verbose=0,
        callbacks=[clock.callback()] if curves else [],
    )
    return clock.result(f"original recipe (MobileNetV2, {epochs} epochs)")


def release() -> None:
    """Free the last baseline's models before the next one is built."""
    keras.backend.clear_session()
