"""The backbone registry: every architecture builds small, preprocessing matches Keras,
offline ImageNet weights fail fast with the file name and where to put it."""

from __future__ import annotations

import time
import urllib.error

import keras
import numpy as np
import pytest

from trainer.backbones import (
    BACKBONES,
    ORIGINAL_BACKBONES,
    RECOMMENDED_BACKBONE,
    build_backbone,
    get_backbone,
    keras_models_dir,
    parse_weights,
)
from trainer.errors import TrainerError, WeightsError
from trainer.layers import Preprocess
from trainer.spec import run_specs

pytestmark = pytest.mark.slow  # builds every Keras backbone

# 64 px keeps CPU time small; InceptionV3 needs at least 75.
TINY_SIZES = {
    "resnet50": 64,
    "vgg16": 64,
    "inception_v3": 75,
    "mobilenet_v2": 64,
    "efficientnet_lite0": 64,
    "efficientnet_lite1": 64,
    "efficientnet_lite2": 64,
}


def test_registry_lists_the_seven_backbones_with_their_input_sizes():
    sizes = {name: b.input_size for name, b in BACKBONES.items()}
    assert sizes == {
        "resnet50": 224,
        "vgg16": 224,
        "inception_v3": 299,
        "mobilenet_v2": 224,
        "efficientnet_lite0": 224,
        "efficientnet_lite1": 240,
        "efficientnet_lite2": 260,
    }


def test_unknown_backbone_names_the_known_ones():
    with pytest.raises(
        TrainerError,
        match="use one of resnet50, vgg16, inception_v3, mobilenet_v2, "
        "efficientnet_lite0, efficientnet_lite1, efficientnet_lite2, all",
    ):
        get_backbone("alexnet")


def test_all_is_the_original_three_and_each_spec_is_checked_first():
    assert [s.text for s in run_specs("all", "none")] == list(ORIGINAL_BACKBONES)
    assert [s.text for s in run_specs(RECOMMENDED_BACKBONE, "none")] == [RECOMMENDED_BACKBONE]
    with pytest.raises(TrainerError, match="unknown backbone 'alexnet'"):
        run_specs("mobilenet_v2+alexnet", "none")
    with pytest.raises(TrainerError, match="one per backbone"):
        run_specs("all", "none,none")


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_each_backbone_builds_without_weights_and_gives_a_feature_map(name):
    size = TINY_SIZES[name]
    model = build_backbone(name, None, size)
    out = model.predict(np.zeros((2, size, size, 3), np.float32), verbose=0)
    assert out.ndim == 4 and out.shape[0] == 2 and out.shape[-1] in (512, 1280, 2048)
    assert BACKBONES[name].cut in [layer.name for layer in model.layers[1:-1]]  # the cached layer


def test_too_small_input_is_refused_with_the_minimum():
    with pytest.raises(TrainerError, match="inception_v3 needs images of at least 75 px"):
        build_backbone("inception_v3", None, 64)


@pytest.mark.parametrize(
    ("mode", "reference"),
    [
        ("caffe", keras.applications.vgg16.preprocess_input),
        ("tf", keras.applications.mobilenet_v2.preprocess_input),
    ],
)
def test_preprocess_layer_matches_keras_preprocess_input(mode, reference):
    pixels = np.random.default_rng(0).integers(0, 256, (2, 8, 8, 3)).astype(np.float32)
    expected = reference(pixels.copy())
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(Preprocess(mode)(pixels)), expected, rtol=1e-5, atol=1e-4
    )


def test_lite_preprocessing_is_minus_127_over_128():
    out = keras.ops.convert_to_numpy(Preprocess("lite")(np.array([[0.0, 127.0, 255.0]])))
    np.testing.assert_allclose(out, [[-127 / 128, 0.0, 1.0]])


def test_weights_value_must_be_imagenet_none_or_a_file(tmp_path):
    assert parse_weights("none") is None
    assert parse_weights("imagenet") == "imagenet"
    with pytest.raises(WeightsError, match="Received: weights='nope.h5'"):
        parse_weights("nope.h5")


def test_offline_imagenet_fails_fast_naming_the_file_and_folder(monkeypatch):
    """Issue 5: with no network, --weights imagenet says which file to put where."""

    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr("keras.src.utils.file_utils.urlretrieve", offline)
    started = time.monotonic()
    with pytest.raises(WeightsError) as info:
        build_backbone("vgg16", "imagenet", 64)
    message = str(info.value)
    assert time.monotonic() - started < 30
    assert "ImageNet weights for vgg16" in message
    assert "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5" in message
    assert str(keras_models_dir()) in message and "~/.keras/models" in message
    assert "\n" not in message


def _offline(monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr("keras.src.utils.file_utils.urlretrieve", offline)


def _weights_of(model) -> list[np.ndarray]:
    return [keras.ops.convert_to_numpy(w) for w in model.weights]


@pytest.mark.parametrize("suffix", [".h5", ".weights.h5"])
def test_keras3_weights_placed_in_the_keras_cache_are_loaded(tmp_path, monkeypatch, suffix):
    """Issue 18 item 5: a Keras 3 weights file under the name Keras wants failed to load
    (Keras reads any `.h5` name as the legacy format) and the message said "Download it"."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "kh"))
    _offline(monkeypatch)
    source = build_backbone("mobilenet_v2", None, 32)
    saved = tmp_path / "saved.weights.h5"
    source.save_weights(saved)
    entry = get_backbone("mobilenet_v2")
    keras_models_dir().mkdir(parents=True)
    saved.rename(keras_models_dir() / entry.imagenet_file.replace(".h5", suffix))
    loaded = build_backbone("mobilenet_v2", "imagenet", 32)
    for a, b in zip(_weights_of(source), _weights_of(loaded), strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_broken_file_in_the_keras_cache_is_rejected_with_the_reason(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "kh"))
    _offline(monkeypatch)
    keras_models_dir().mkdir(parents=True)
    placed = keras_models_dir() / get_backbone("mobilenet_v2").imagenet_file
    placed.write_bytes(b"<html>not weights</html>")
    with pytest.raises(WeightsError) as info:
        build_backbone("mobilenet_v2", "imagenet", 32)
    message = str(info.value)
    assert f"cannot load weights {placed}" in message and "Download" not in message


def test_the_shared_mobilenet_weights_load_from_the_keras_cache(tmp_path, monkeypatch, shared_dir):
    """The README's offline route for `--weights imagenet`: the shared file under Keras' name."""
    shared = shared_dir / "weights" / "mobilenet_v2_1.0_224_imagenet_notop.weights.h5"
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "kh"))
    _offline(monkeypatch)
    keras_models_dir().mkdir(parents=True)
    (keras_models_dir() / get_backbone("mobilenet_v2").imagenet_file).symlink_to(shared)
    from_cache = build_backbone("mobilenet_v2", "imagenet", 96)
    from_path = build_backbone("mobilenet_v2", str(shared), 96)
    for a, b in zip(_weights_of(from_cache), _weights_of(from_path), strict=True):
        np.testing.assert_array_equal(a, b)
