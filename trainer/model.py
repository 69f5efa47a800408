"""The classifier: preprocessing + backbone + the original project's head.

The head is GAP -> Dense(64, relu) -> BatchNorm -> Dense(n, softmax), as the original
VGG16 model; width and dropout are options. It is a separate small model so phase 1 can
train it on cached backbone features, then be reused unchanged inside the full model.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras

from .errors import TrainerError
from .layers import HorizontalFlip, Preprocess


@dataclass(frozen=True)
class HeadConfig:
    """Head options: hidden width (the original: 64) and dropout before the output."""

    width: int = 64
    dropout: float = 0.0


def build_head(n_features: int, n_classes: int, cfg: HeadConfig = HeadConfig()) -> keras.Model:
    """Dense(width, relu) -> BatchNorm -> [Dropout] -> Dense(n_classes, softmax) on pooled
    features."""
    inputs = keras.Input((n_features,), name="features")
    x = keras.layers.Dense(cfg.width, activation="relu", name="head_dense")(inputs)
    x = keras.layers.BatchNormalization(name="head_bn")(x)
    if cfg.dropout > 0:
        x = keras.layers.Dropout(cfg.dropout, name="head_dropout")(x)
    # float32 output: softmax in float16 under mixed precision loses the small scores.
    outputs = keras.layers.Dense(
        n_classes, activation="softmax", dtype="float32", name="probabilities"
    )(x)
    return keras.Model(inputs, outputs, name="head")


def split_backbone(
    backbone: keras.Model, preprocess: str, size: int, cut: str, *, tag: str = ""
) -> tuple[keras.Model, keras.Model]:
    """(bottom, top): raw pixels -> the `cut` layer's maps, and those maps -> backbone output.

    Both share their layers with `backbone`, so training `top` trains the backbone itself.
    `tag` is appended to the models' names (ensemble members need distinct names).
    """
    names = [layer.name for layer in backbone.layers]
    if cut not in names[1:-1]:
        raise TrainerError(
            f"{backbone.name} has no inner layer {cut!r} to fine-tune from; its last layers are "
            f"{', '.join(names[-5:])}"
        )
    inputs = keras.Input((size, size, 3), name="pixels")
    x = Preprocess(preprocess, name=f"preprocess{tag}")(inputs)
    core = keras.Model(backbone.input, backbone.get_layer(cut).output, name=f"bottom_core{tag}")
    bottom = keras.Model(inputs, core(x, training=False), name=f"bottom{tag}")
    top = keras.Model(backbone.get_layer(cut).output, backbone.output, name=f"top{tag}")
    return bottom, top


def top_classifier(tops: keras.Model | list[keras.Model], head: keras.Model) -> keras.Model:
    """Cached maps -> probabilities: what phase 2 trains (BatchNorm in inference mode).

    With several tops (an ensemble) it takes one map input per top, in order, and the
    head sees their pooled features concatenated.
    """
    tops = [tops] if isinstance(tops, keras.Model) else list(tops)
    inputs = [keras.Input(top.input.shape[1:], name=f"maps_{i}") for i, top in enumerate(tops)]
    pooled = [
        keras.layers.GlobalAveragePooling2D(name=f"gap_{i}")(top(x, training=False))
        for i, (top, x) in enumerate(zip(tops, inputs, strict=True))
    ]
    features = pooled[0] if len(pooled) == 1 else keras.layers.Concatenate(name="features")(pooled)
    return keras.Model(
        inputs[0] if len(inputs) == 1 else inputs, head(features), name="top_classifier"
    )


def build_classifier(
    backbone: keras.Model | list[keras.Model],
    head: keras.Model,
    preprocess: str | list[str],
    size: int,
    *,
    flip_tta: bool = False,
) -> keras.Model:
    """Raw 0-255 pixels -> class probabilities; this is the model that is saved.

    Several backbones (with one preprocessing mode each) make an ensemble: each sees the
    same pixels, and the head sees their pooled features concatenated. `flip_tta`: average
    the probabilities of each image and its mirror image (test-time augmentation) inside
    the model, so `evaluate` and `predict` give the same answer.
    """
    backbones = [backbone] if isinstance(backbone, keras.Model) else list(backbone)
    modes = [preprocess] * len(backbones) if isinstance(preprocess, str) else list(preprocess)
    inputs = keras.Input((size, size, 3), name="pixels")
    views = [inputs, HorizontalFlip(name="mirror")(inputs)] if flip_tta else [inputs]
    prepare = [
        Preprocess(mode, name=f"preprocess_{i}" if i else "preprocess")
        for i, mode in enumerate(modes)
    ]
    pools = [
        keras.layers.GlobalAveragePooling2D(name=f"gap_{i}" if i else "gap")
        for i in range(len(backbones))
    ]
    concat = keras.layers.Concatenate(name="features") if len(backbones) > 1 else None
    outputs = []
    for view in views:
        pooled = [
            pool(net(prep(view), training=False))
            for net, prep, pool in zip(backbones, prepare, pools, strict=True)
        ]
        outputs.append(head(concat(pooled) if concat else pooled[0]))
    if len(outputs) > 1:
        return keras.Model(
            inputs,
            keras.layers.Average(dtype="float32", name="flip_average")(outputs),
            name="classifier",
        )
    return keras.Model(inputs, outputs[0], name="classifier")


def build_features(
    backbone: keras.Model | list[keras.Model], preprocess: str | list[str], size: int
) -> keras.Model:
    """Raw 0-255 pixels -> pooled backbone features, named as in `build_classifier` (`gap`,
    `gap_1`, ..., joined by `features`), so the `unknown` rule reads both alike."""
    backbones = [backbone] if isinstance(backbone, keras.Model) else list(backbone)
    modes = [preprocess] * len(backbones) if isinstance(preprocess, str) else list(preprocess)
    inputs = keras.Input((size, size, 3), name="pixels")
    pooled = [
        keras.layers.GlobalAveragePooling2D(name=f"gap_{i}" if i else "gap")(
            net(
                Preprocess(mode, name=f"preprocess_{i}" if i else "preprocess")(inputs),
                training=False,
            )
        )
        for i, (net, mode) in enumerate(zip(backbones, modes, strict=True))
    ]
    if len(pooled) == 1:
        return keras.Model(inputs, pooled[0], name="frozen_features")
    return keras.Model(
        inputs, keras.layers.Concatenate(name="features")(pooled), name="frozen_features"
    )


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
