"""Training on a small generated catalog: rows, files, shapes, and the test subset kept out."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pytest
from trainer_tests.traingen import CLASSES, TEST_PER_CLASS, TRAIN_PER_CLASS

from catalog import get_image, image_file, open_catalog
from catalog.runs import get_run, run_predictions
from trainer import data as data_module
from trainer import features as features_module
from trainer import train as train_module
from trainer.config import make_job
from trainer.data import carve_validation, class_weights, load_split
from trainer.errors import TrainerError
from trainer.evaluate import evaluate_run, metrics_from
from trainer.features import pooled_file
from trainer.layers import SmoothedSparseCrossentropy
from trainer.predict import predict_files
from trainer.train import train

pytestmark = pytest.mark.slow  # trains real Keras models

TINY = dict(
    weights="none",
    epochs=1,
    fine_tune_epochs=1,
    size=64,
    val_fraction=0.2,
    batch_size=8,
    augment_passes=2,
)


def pooled(maps: str):
    return pooled_file(Path(maps))


def test_train_evaluate_predict_agree_and_write_rows_and_files(small_catalog):
    path, ids = small_catalog
    with open_catalog(path) as cat:
        run = train(cat, make_job("mobilenet_v2", **TINY))
        assert run["status"] == "finished" and run["finished_at"]
        assert run["params"]["size"] == 64 and run["split"] == "default"
        m = run["metrics"]
        assert m["test_images"] == len(ids["test"]) == len(CLASSES) * TEST_PER_CLASS
        assert np.array(m["confusion"]["matrix"]).sum() == m["test_images"]
        assert set(m["per_class"]) == set(CLASSES) and 0.0 <= m["top1"] <= 1.0
        assert "top3" not in m  # three classes: top-3 is 1 by definition (issue 28)
        for rel in run["artifacts"].values():
            assert (cat.root / rel).stat().st_size > 0
        assert {"confusion_png", "per_class_png", "predictions_png"} <= set(
            run["artifacts"]
        )  # issue 16
        labels = json.loads((cat.root / run["artifacts"]["labels"]).read_text())
        assert labels == {"classes": sorted(CLASSES), "input_size": 64}

        stored = run_predictions(cat, run["id"])
        assert sorted(p.image_id for p in stored) == sorted(ids["test"])
        files = [image_file(cat, get_image(cat, p.image_id)) for p in stored]
        _, predicted = predict_files(cat, files, run_id=run["id"], top=3)
        assert [[c for c, _ in p.top_k] for p in predicted] == [
            [c for c, _ in s.top_k[:3]] for s in stored
        ]

        again = evaluate_run(cat, run["id"])
        assert again["top1"] == m["top1"] and again["confusion"] == m["confusion"]


def test_an_ensemble_is_one_run_and_one_model_that_predict_agrees_with(small_catalog):
    path, ids = small_catalog
    stages = []
    with open_catalog(path) as cat:
        run = train(
            cat,
            make_job("mobilenet_v2+efficientnet_lite0", **TINY),
            on_checkpoint=lambda stage, model: stages.append((stage, model.input_shape)),
        )
        assert run["status"] == "finished" and run["backbone"] == "mobilenet_v2+efficientnet_lite0"
        record = json.loads((cat.root / "runs" / str(run["id"]) / "features.json").read_text())
        widths = [np.load(pooled(p)).shape[-1] for p in record["train"][0]]
        assert widths == [1280, 1280]  # both members' pooled features, one file each
        stored = run_predictions(cat, run["id"])
        files = [image_file(cat, get_image(cat, p.image_id)) for p in stored]
        _, predicted = predict_files(cat, files, run_id=run["id"], top=3)
    assert [[c for c, _ in p.top_k] for p in predicted] == [
        [c for c, _ in s.top_k[:3]] for s in stored
    ]
    assert stages == [("head", (None, 64, 64, 3)), ("fine-tune 1", (None, 64, 64, 3))]


def test_each_ensemble_member_is_cut_where_fine_tune_from_says(small_catalog):
    """`--set fine_tune_from=a,b` cuts each member (an empty item: its default cut, here
    the deep one), and the run records the recipe it resolved."""
    path, _ = small_catalog
    job = make_job(
        "mobilenet_v2+efficientnet_lite0",
        **{**TINY, "fine_tune_from": "block_12_add,"},
        fine_tune_depth="deep",
    )
    with open_catalog(path) as cat:
        run = train(cat, job)
        record = json.loads((cat.root / "runs" / str(run["id"]) / "features.json").read_text())
    channels = [np.load(p, mmap_mode="r").shape[-1] for p in record["train"][0]]
    assert channels == [96, 80]  # block_12_add's 96 channels; Lite0's deep cut block7_add
    assert run["status"] == "finished"
    recipe = run["params"]["recipe"]
    assert (recipe["fine_tune_depth"], recipe["fine_tune_learning_rate"]) == ("deep", 6e-4)
    assert recipe["fine_tune_from"] == "block_12_add,"


def test_bad_cuts_and_settings_fail_before_a_run_starts(small_catalog):
    path, _ = small_catalog
    with open_catalog(path) as cat:
        for overrides, message in [
            ({"fine_tune_from": "block_9_add"}, "one layer per backbone"),
            ({"fine_tune_schedule": "cosine"}, "neither a request nor a recipe field"),
            ({"weights": "none,none,none"}, "one per backbone"),
        ]:
            with pytest.raises(TrainerError, match=message):
                train(cat, make_job("mobilenet_v2+efficientnet_lite0", **{**TINY, **overrides}))
        assert cat.db.execute("SELECT count(*) FROM runs").fetchone()[0] == 0


def test_smoothed_loss_is_keras_crossentropy_of_the_smoothed_one_hot_labels():
    """Models saved by earlier versions name this loss; it still loads and computes."""
    y_true = np.array([[0], [2]])
    y_pred = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]], np.float32)
    plain = SmoothedSparseCrossentropy(3)(y_true, y_pred)
    expected_plain = -np.mean(np.log([0.7, 0.6]))
    assert float(plain) == pytest.approx(expected_plain, rel=1e-5)
    smoothed = SmoothedSparseCrossentropy(3, 0.3)(y_true, y_pred)
    target = np.array([[0.8, 0.1, 0.1], [0.1, 0.1, 0.8]])
    expected = -np.mean(np.sum(target * np.log(y_pred), axis=1))
    assert float(smoothed) == pytest.approx(expected, rel=1e-5)


def test_test_subset_never_reaches_training(small_catalog, monkeypatch):
    path, ids = small_catalog
    decoded: set[int] = set()
    real_fill, real_batches = data_module.fill_cache, features_module.image_batches

    def spy_fill(examples, *args, **kwargs):
        decoded.update(e.image_id for e in examples)
        return real_fill(examples, *args, **kwargs)

    def spy_batches(examples, *args, **kwargs):
        decoded.update(e.image_id for e in examples)
        return real_batches(examples, *args, **kwargs)

    monkeypatch.setattr(train_module, "fill_cache", spy_fill)
    monkeypatch.setattr(features_module, "image_batches", spy_batches)
    with open_catalog(path) as cat:
        data = load_split(cat, None, val_fraction=0.2)
        run = train(cat, make_job("vgg16", **{**TINY, "size": 32, "fine_tune_epochs": 0}))
        record = json.loads((cat.root / "runs" / str(run["id"]) / "features.json").read_text())
    assert sorted(decoded) == sorted(ids["train"])
    assert not decoded & set(ids["test"])
    assert {e.image_id for e in data.test} == set(ids["test"])
    assert not {e.image_id for e in data.train + data.val} & set(ids["test"])
    # 2 feature passes (plain + augmented) over the train part only; val once.
    assert [np.load(pooled(p)).shape for (p,) in record["train"]] == [(len(data.train), 512)] * 2
    assert [np.load(pooled(p)).shape for p in record["val"]] == [(len(data.val), 512)]


def test_pretrained_efficientnet_lite0_learns_the_colour_classes(small_catalog):
    path, _ = small_catalog
    with open_catalog(path) as cat:
        run = train(
            cat,
            make_job(
                "efficientnet_lite0",
                weights="imagenet",
                epochs=25,
                fine_tune_epochs=0,
                size=64,
                val_fraction=0.0,
                batch_size=8,
                augment_passes=1,
            ),
        )
    assert run["metrics"]["top1"] == 1.0


def test_interrupted_run_resumes_from_its_saved_phase(small_catalog, monkeypatch):
    path, _ = small_catalog

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    with open_catalog(path) as cat:
        monkeypatch.setattr(train_module, "_phase_top", interrupt)
        with pytest.raises(KeyboardInterrupt):
            train(cat, make_job("mobilenet_v2", **TINY))
        run = cat.db.execute("SELECT id, status FROM runs").fetchone()
        assert run[1] == "interrupted"
        run_dir = cat.root / "runs" / str(run[0])
        assert (run_dir / "head.weights.h5").exists() and (run_dir / "features.json").exists()
        monkeypatch.undo()
        resumed = train(cat, None, resume=run[0])
        assert resumed["id"] == run[0] and resumed["status"] == "finished"
        assert get_run(cat, run[0])["metrics"]["test_images"] == len(CLASSES) * TEST_PER_CLASS


def test_validation_is_carved_per_class_with_a_seed(small_catalog):
    path, ids = small_catalog
    with open_catalog(path) as cat:
        a = load_split(cat, "default", val_fraction=0.2, seed=1)
        b = load_split(cat, "default", val_fraction=0.2, seed=1)
    assert [e.image_id for e in a.val] == [e.image_id for e in b.val]
    assert sorted(e.class_name for e in a.val) == sorted(CLASSES)  # one per class
    assert len(a.train) == len(CLASSES) * (TRAIN_PER_CLASS - 1)
    assert carve_validation(a.train, 0.0, 0) == (a.train, [])


def test_pending_images_are_dropped_with_accepted_only(small_catalog):
    path, ids = small_catalog
    with open_catalog(path) as cat:
        cat.db.execute(
            "UPDATE images SET status = 'accepted' WHERE id IN (?, ?, ?, ?)",
            ids["train"][:2] + ids["train"][5:7],
        )
        data = load_split(cat, "default", accepted_only=True, val_fraction=0.0)
    assert data.classes == sorted(CLASSES[:2]) and len(data.train) == 4 and data.test == []


def test_class_weights_balance_unequal_classes():
    weights = class_weights(np.array([0, 0, 0, 1]), 2)
    assert weights == pytest.approx({0: 4 / 6, 1: 2.0})


def test_metrics_from_a_known_confusion():
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.2, 0.5, 0.3], [0.5, 0.4, 0.1]])
    m = metrics_from(np.array([0, 1, 1, 2]), probs, ["a", "b", "c"])
    assert m["top1"] == 0.5 and "top3" not in m  # top-3 of three classes says nothing
    assert m["confusion"]["matrix"] == [[1, 0, 0], [0, 1, 1], [1, 0, 0]]
    assert m["per_class"]["b"] == {"precision": 1.0, "recall": 0.5, "support": 2}
    assert m["per_class"]["a"]["precision"] == 0.5


def test_flip_tta_model_gives_an_image_and_its_mirror_the_same_probabilities():

    from trainer.backbones import build_backbone
    from trainer.model import build_classifier, build_head

    keras.utils.set_random_seed(0)
    base = build_backbone("mobilenet_v2", None, 32)
    model = build_classifier(base, build_head(1280, 3), "tf", 32, flip_tta=True)
    images = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype(np.float32)
    probs = model.predict(images, verbose=0)
    np.testing.assert_allclose(probs, model.predict(images[:, :, ::-1], verbose=0), atol=1e-5)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)


def test_train_leaves_the_callers_job_as_it_was(small_catalog, monkeypatch):
    """train() resolves size, split and depth on its own copy of the job."""
    seen = {}

    def fake_train_in(cat, job, *args, **kwargs):
        seen["job"] = job
        return {}, {}

    monkeypatch.setattr(train_module, "_train_in", fake_train_in)
    monkeypatch.setattr(train_module, "evaluate_and_calibrate", lambda cat, run_id, data: None)
    path, _ = small_catalog
    job = make_job("mobilenet_v2", weights="none")
    with open_catalog(path) as cat:
        run = train(cat, job)
    assert (job.request.size, job.request.split, job.recipe.fine_tune_depth) == (None, None, "auto")
    size = job.spec.default_size
    assert (seen["job"].request.size, seen["job"].request.split) == (size, "default")
    assert (run["params"]["size"], run["params"]["split"]) == (size, "default")
    assert run["params"]["recipe"]["fine_tune_depth"] == "standard"
