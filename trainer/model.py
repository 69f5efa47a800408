"""The classifier: preprocessing + backbone + the original project's head.

The head is GAP -> Dense(64, relu) -> BatchNorm -> Dense(n, softmax), as the original
VGG16 model; width and dropout are options. It is a separate small model so phase 1 can
train it on cached backbone features, then be reused unchanged inside the full model.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras

from .errors import TrainerError
from .layers import Preprocess


@dataclass(frozen=True)
class HeadConfig:
    """Head options: hidden width (the original: 64) and dropout before the output."""

    width: int = 64
    dropout: float = 0.0


def build_head(n_features: int, n_classes: int, cfg: HeadConfig = HeadConfig()) -> keras.Model:
    """Dense(width, relu) -> BatchNorm -> [Dropout] -> Dense(n_classes, softmax) on pooled features."""
    inputs = keras.Input((n_features,), name="features")
    x = keras.layers.Dense(cfg.width, activation="relu", name="head_dense")(inputs)
    x = keras.layers.BatchNormalization(name="head_bn")(x)
    if cfg.dropout > 0:
        x = keras.layers.Dropout(cfg.dropout, name="head_dropout")(x)
    # float32 output: softmax in float16 under mixed precision loses the small scores.
    outputs = keras.layers.Dense(n_classes, activation="softmax", dtype="float32", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="head")


def split_backbone(backbone: keras.Model, preprocess: str, size: int, cut: str) -> tuple[keras.Model, keras.Model]:
    """(bottom, top): raw pixels -> the `cut` layer's maps, and those maps -> backbone output.

    Both share their layers with `backbone`, so training `top` trains the backbone itself.
    """
    names = [layer.name for layer in backbone.layers]
    if cut not in names[1:-1]:
        raise TrainerError(f"{backbone.name} has no inner layer {cut!r} to fine-tune from; its last layers are {', '.join(names[-5:])}")
    inputs = keras.Input((size, size, 3), name="pixels")
    x = Preprocess(preprocess, name="preprocess")(inputs)
    core = keras.Model(backbone.input, backbone.get_layer(cut).output, name="bottom_core")
    bottom = keras.Model(inputs, core(x, training=False), name="bottom")
    top = keras.Model(backbone.get_layer(cut).output, backbone.output, name="top")
    return bottom, top


def top_classifier(top: keras.Model, head: keras.Model) -> keras.Model:
    """Cached maps -> probabilities: what phase 2 trains (BatchNorm in inference mode)."""
    inputs = keras.Input(top.input.shape[1:], name="maps")
    x = top(inputs, training=False)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inputs, head(x), name="top_classifier")


def build_classifier(backbone: keras.Model, head: keras.Model, preprocess: str, size: int) -> keras.Model:
    """Raw 0-255 pixels -> class probabilities; this is the model that is saved."""
    inputs = keras.Input((size, size, 3), name="pixels")
    x = Preprocess(preprocess, name="preprocess")(inputs)
    x = backbone(x, training=False)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = head(x)
    return keras.Model(inputs, outputs, name="classifier")


def freeze(backbone: keras.Model) -> None:
    backbone.trainable = False


def unfreeze(top: keras.Model) -> int:
    """Make the top's layers trainable, BatchNorm excepted; returns how many have weights.

    BatchNorm stays frozen, which in Keras 3 also keeps it in inference mode: the small
    fine-tuning batches would otherwise wreck its statistics (and the shared MobileNetV2
    weights were converted from a quantised model whose statistics must be kept).
    """
    count = 0
    for layer in top.layers:
        layer.trainable = not isinstance(layer, keras.layers.BatchNormalization)
        count += bool(layer.trainable and layer.weights)
    return count
