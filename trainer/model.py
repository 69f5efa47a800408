"""The classifier: preprocessing + backbone + the original project's head.

The head is GAP -> Dense(64, relu) -> BatchNorm -> Dense(n, softmax), as the original
VGG16 model; width and dropout are options. It is a separate small model so phase 1 can
train it on cached backbone features, then be reused unchanged inside the full model.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras

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


def feature_extractor(backbone: keras.Model, preprocess: str, size: int) -> keras.Model:
    """Raw pixels -> pooled backbone features, with the backbone in inference mode."""
    inputs = keras.Input((size, size, 3), name="pixels")
    x = Preprocess(preprocess, name="preprocess")(inputs)
    x = backbone(x, training=False)
    outputs = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inputs, outputs, name="features")


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


def unfreeze_top(backbone: keras.Model, n_layers: int) -> int:
    """Make the last `n_layers` layers trainable, BatchNorm excepted; returns how many are.

    BatchNorm stays frozen, which in Keras 3 also keeps it in inference mode: the small
    fine-tuning batches would otherwise wreck its statistics (and the shared MobileNetV2
    weights were converted from a quantised model whose statistics must be kept).
    """
    backbone.trainable = True
    layers = backbone.layers
    cut = max(0, len(layers) - n_layers)
    count = 0
    for i, layer in enumerate(layers):
        trainable = i >= cut and not isinstance(layer, keras.layers.BatchNormalization)
        layer.trainable = trainable
        count += bool(trainable and layer.weights)
    return count
