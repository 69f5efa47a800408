"""Serialisable Keras layers that the saved models contain, so a .keras file takes raw pixels."""

from __future__ import annotations

import keras
from keras import ops

# Per-mode (scale, offset) applied as x * scale + offset after an optional RGB -> BGR flip.
# caffe: BGR, ImageNet means subtracted (VGG16, ResNet50); tf: [-1, 1] (MobileNetV2,
# InceptionV3); lite: (x - 127) / 128 (EfficientNet-Lite, as its TF reference code).
_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
MODES = ("caffe", "tf", "lite", "none")


@keras.saving.register_keras_serializable(package="trainer")
class Preprocess(keras.layers.Layer):
    """Raw 0-255 RGB pixels -> the input range a backbone's ImageNet weights expect.

    Example:
        >>> Preprocess("tf")(np.full((1, 2, 2, 3), 255.0))  # all ones
    """

    def __init__(self, mode: str, **kwargs):
        super().__init__(**kwargs)
        if mode not in MODES:
            raise ValueError(
                f"unknown preprocessing mode; use one of {MODES}. Received: mode={mode!r}"
            )
        self.mode = mode

    def call(self, x):
        x = ops.cast(x, self.compute_dtype)
        if self.mode == "caffe":
            return ops.flip(x, axis=-1) - ops.convert_to_tensor(
                _CAFFE_MEAN_BGR, dtype=self.compute_dtype
            )
        if self.mode == "tf":
            return x / 127.5 - 1.0
        if self.mode == "lite":
            return (x - 127.0) / 128.0
        return x

    def get_config(self) -> dict:
        return {**super().get_config(), "mode": self.mode}


@keras.saving.register_keras_serializable(package="trainer")
class HorizontalFlip(keras.layers.Layer):
    """Mirror images left-right (NHWC): the second view of flip test-time augmentation."""

    def call(self, x):
        return ops.flip(x, axis=2)


@keras.saving.register_keras_serializable(package="trainer")
class SmoothedSparseCrossentropy(keras.losses.Loss):
    """Cross-entropy of integer labels with label smoothing.

    Keras' SparseCategoricalCrossentropy has no `label_smoothing` and the cached-row
    datasets yield integer labels, so the labels are one-hot encoded here for Keras'
    CategoricalCrossentropy, which has it. Runs no longer train with it, but a compiled
    head inside a classifier saved by an earlier version keeps its compile config naming
    this loss, so it stays registered here, where loading such a model finds it.
    """

    def __init__(self, n_classes: int, label_smoothing: float = 0.0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.n_classes = n_classes
        self.label_smoothing = label_smoothing

    def call(self, y_true, y_pred):
        labels = keras.ops.cast(keras.ops.reshape(y_true, (-1,)), "int32")
        one_hot = keras.ops.one_hot(labels, self.n_classes, dtype=y_pred.dtype)
        return keras.losses.categorical_crossentropy(
            one_hot, y_pred, label_smoothing=self.label_smoothing
        )

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "n_classes": self.n_classes,
            "label_smoothing": self.label_smoothing,
        }
