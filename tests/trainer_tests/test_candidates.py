"""The head is a candidate: a fine-tune that does worse on validation is not shipped (issue 28).

A user's two-class photos made the default fine-tune collapse to chance while the head
alone was nearly perfect, and the run shipped the collapsed model.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from typer.testing import CliRunner

from catalog import get_run, open_catalog
from trainer.backbones import build_backbone
from trainer.candidates import (
    COLLAPSE_EPOCHS,
    CollapseStop,
    PreciseHeadStatistics,
    Scores,
    choose,
)
from trainer.cli import app
from trainer.config import make_job
from trainer.evaluate import load_run_model
from trainer.train import train

pytestmark = pytest.mark.slow  # imports Keras and trains

# Offline ImageNet weights: the head learns the colour classes from the frozen features.
LITE = dict(
    weights="imagenet",
    epochs=25,
    size=64,
    val_fraction=0.4,
    batch_size=8,
    augment_passes=1,
    flip_tta=False,
)


def test_the_better_candidate_on_validation_ships():
    head, worse, better = Scores(0.9, 0.3), Scores(0.5, 2.0), Scores(0.95, 0.4)
    assert choose(head, worse, None)["model"] == "head"
    assert choose(head, better, None)["model"] == "fine-tune"
    # Equal accuracy: the lower validation loss wins, either way round.
    assert choose(head, Scores(0.9, 0.2), None)["model"] == "fine-tune"
    assert choose(head, Scores(0.9, 0.5), None)["model"] == "head"
    stopped = choose(head, worse, "validation accuracy below 0.700")
    assert stopped["stopped"] and "was stopped (validation accuracy below 0.700)" in stopped["why"]
    assert stopped["head"] == {"accuracy": 0.9, "loss": 0.3}
    # Nothing to compare on: the fine-tune ships, and the record says why.
    unchecked = choose(None, None, None)
    assert unchecked["model"] == "fine-tune" and "no validation images" in unchecked["why"]
    # A fine-tune whose loss went to NaN never beats the head.
    assert choose(head, Scores(float("nan"), float("nan")), None)["model"] == "head"


def test_a_collapse_stops_the_fine_tune_only_after_epochs_in_a_row_below_the_head():
    stop = CollapseStop(head_accuracy=0.95)
    stop.set_model(SimpleNamespace(stop_training=False))
    below, recovered = {"val_accuracy": 0.5}, {"val_accuracy": 0.9}
    for epoch, logs in enumerate([below] * (COLLAPSE_EPOCHS - 1) + [recovered]):
        stop.on_epoch_end(epoch, logs)
    assert not stop.model.stop_training and stop.reason is None  # it came back in time
    for epoch in range(COLLAPSE_EPOCHS):
        stop.on_epoch_end(COLLAPSE_EPOCHS + epoch, below)
    assert stop.model.stop_training
    assert stop.reason and f"for {COLLAPSE_EPOCHS} epochs" in stop.reason


def test_a_collapsing_fine_tune_ships_the_head_and_says_so(small_catalog):
    """An absurd fine-tune rate wrecks the top of the backbone: the run stops it, puts the
    phase-1 weights back and ships the head on the untouched ImageNet backbone."""
    path, _ = small_catalog
    cfg = make_job(
        "efficientnet_lite0",
        **LITE,
        fine_tune_epochs=COLLAPSE_EPOCHS + 2,
        fine_tune_learning_rate=50.0,
    )
    with open_catalog(path) as cat:
        run = train(cat, cfg)
        shipped = run["metrics"]["shipped"]
        assert shipped["model"] == "head", shipped
        assert shipped["head"]["accuracy"] > shipped["fine_tune"]["accuracy"]
        assert shipped["stopped"] and "the head alone is as good or better" in shipped["why"]
        assert run["metrics"]["top1"] == 1.0  # the head's answer on the colour classes
        assert "unknown_features" not in run["artifacts"]  # the classifier's own are frozen
        model, _ = load_run_model(cat, run)
    fresh = build_backbone("efficientnet_lite0", "imagenet", 64)
    saved = next(layer for layer in model.layers if layer.name == fresh.name)
    for a, b in zip(saved.get_weights(), fresh.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)

    result = CliRunner().invoke(app, ["evaluate", str(run["id"]), "--catalog", str(path)])
    assert result.exit_code == 0 and "top-3" not in result.output  # three classes


def test_train_cli_says_which_model_it_shipped(small_catalog):
    path, _ = small_catalog
    args = ["--backbone", "efficientnet_lite0", "--weights", "imagenet", "--epochs", "25"]
    args += ["--size", "64", "--set", "val_fraction=0.4", "--batch-size", "8"]
    args += ["--set", "augment_passes=1", "--set", "fine_tune_epochs=1", "--catalog", str(path)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    with open_catalog(path) as cat:
        shipped = get_run(cat, 1)["metrics"]["shipped"]
    model = "the head on the frozen backbone" if shipped["model"] == "head" else "the fine-tune"
    assert f"run 1: ships {model}: {shipped['why']}" in result.output.replace("\n", " ")
    assert shipped["head"]["accuracy"] >= 0 and shipped["fine_tune"]["loss"] >= 0


class _Batches:
    """Indexable batches of (maps, labels, weights), as CachedRows gives them."""

    def __init__(self, maps: np.ndarray, batch: int) -> None:
        self.maps, self.batch = maps, batch

    def __len__(self) -> int:
        return -(-len(self.maps) // self.batch)

    def __getitem__(self, i: int):
        x = self.maps[i * self.batch : (i + 1) * self.batch]
        return x, np.zeros(len(x), np.int32), np.ones(len(x), np.float32)


def test_the_heads_batchnorm_statistics_are_those_of_the_current_features():
    """The moving averages lag about a hundred steps behind a fine-tune that moves the
    features; validation and the saved model must see the features as they are."""
    import keras

    from trainer.model import build_head, top_classifier

    inputs = keras.Input((4, 4, 8))
    top = keras.Model(inputs, keras.layers.Conv2D(16, 1, activation="relu")(inputs))
    head = build_head(16, 2)
    model = top_classifier(top, head)
    maps = np.random.default_rng(0).normal(size=(40, 4, 4, 8)).astype(np.float32)
    norm = head.get_layer("head_bn")
    norm.moving_mean.assign(np.full(64, 9.0, np.float32))  # statistics of other features
    norm.moving_variance.assign(np.full(64, 0.01, np.float32))
    statistics = PreciseHeadStatistics(model, head, _Batches(maps, 16), batches=2)
    statistics.update()

    pooled = keras.Model(model.inputs, model.get_layer("gap_0").output)(maps[:32])
    hidden = np.asarray(head.get_layer("head_dense")(pooled))  # the first two batches
    np.testing.assert_allclose(norm.moving_mean.numpy(), hidden.mean(0), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(norm.moving_variance.numpy(), hidden.var(0), rtol=1e-3, atol=1e-5)


def test_two_classes_report_no_top3_anywhere(tmp_path, monkeypatch):
    """Issue 28: a two-class run reported top-3 = 1.000 in every table, and predictions.png
    drew every mistake as "right in the top 2"."""
    import json

    from trainer_tests.traingen import class_image

    from catalog import Provenance, add_image
    from catalog.splits import assign
    from trainer import evaluate as evaluate_module
    from trainer import report as report_module

    path = tmp_path / "catalog.db"
    ids: dict[str, list[int]] = {"train": [], "test": []}
    with open_catalog(path) as cat:
        for label, name in enumerate(("Yeezy_350", "Yeezy_500")):
            for i in range(8):
                image = add_image(cat, class_image(label, 50 * label + i), name, Provenance("x"))
                ids["train" if i < 6 else "test"].append(image.image["id"])
        assign(cat, "default", [(i, s) for s, group in ids.items() for i in group], seed=0)
    titles, legends = [], []
    real_confusion, real_predictions = report_module.confusion_png, report_module.predictions_png
    monkeypatch.setattr(
        evaluate_module,
        "confusion_png",
        lambda c, p, title="": titles.append(title) or real_confusion(c, p, title=title),
    )

    def predictions(images, truths, top, out):
        legends.append(report_module.outcome_labels(top))
        return real_predictions(images, truths, top, out)

    monkeypatch.setattr(evaluate_module, "predictions_png", predictions)
    with open_catalog(path) as cat:
        run = train(
            cat, make_job("efficientnet_lite0", **{**LITE, "epochs": 3}, fine_tune_epochs=0)
        )
    assert "top3" not in run["metrics"] and set(run["metrics"]["per_class"]) == {
        "Yeezy_350",
        "Yeezy_500",
    }
    assert titles and "top-3" not in titles[0] and "top-1" in titles[0]
    assert legends == [["right", "wrong"]]
    listed = CliRunner().invoke(app, ["runs", "--json", "--catalog", str(path)])
    assert "top3" not in json.loads(listed.output)[0]["metrics"]
    table = CliRunner().invoke(app, ["runs", "--catalog", str(path)]).output.splitlines()
    header, row = table[1].split(), table[2].split()
    assert row[header.index("top-3")] == "-"
    shown = CliRunner().invoke(app, ["evaluate", "1", "--catalog", str(path)]).output
    assert "top-3" not in shown and "precision" in shown and "recall" in shown
