"""Figures readable at 50+ classes: normalised confusion matrix, confused pairs, sampled
predictions (issue 18)."""

from __future__ import annotations

import numpy as np
from PIL import Image

from trainer.report import (
    confused_pairs,
    confusion_png,
    figure_sample,
    normalise_rows,
    predictions_png,
)


def _confusion(n: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    matrix = np.diag(rng.integers(5, 20, n))
    for _ in range(n):
        i, j = rng.integers(0, n, 2)
        matrix[i, j] += rng.integers(1, 4)
    names = [
        f"nike_air_max_plus_tn_colourway_{i:02d}" if i % 5 == 0 else f"Class_{i:02d}"
        for i in range(n)
    ]
    return {"classes": names, "matrix": matrix.tolist()}


def test_confused_pairs_are_ordered_by_count_then_share():
    confusion = {"classes": ["a", "b", "c"], "matrix": [[8, 2, 0], [3, 1, 0], [0, 2, 2]]}
    assert confused_pairs(confusion, 2) == [
        {"true": "b", "predicted": "a", "count": 3, "rate": 0.75},
        {"true": "c", "predicted": "b", "count": 2, "rate": 0.5},
    ]
    assert normalise_rows(np.array([[0, 0], [1, 3]])).tolist() == [[0, 0], [0.25, 0.75]]


def test_confusion_png_at_50_classes_is_capped_in_size(tmp_path):
    """Issue 18: the 50-class matrix was a 3,700x3,150 px image, unreadable unless viewed at
    100%."""
    path = confusion_png(_confusion(50), tmp_path / "confusion.png", title="run 1")
    with Image.open(path) as im:
        width, height = im.size
    assert width <= 1700 and height <= 1300, (width, height)
    many = confusion_png(_confusion(120, seed=1), tmp_path / "confusion120.png", title="run 2")
    with Image.open(many) as im:
        assert im.size[0] <= 1700 and im.size[1] <= 1300, im.size


def test_predictions_figure_shows_mistakes_first_across_classes(tmp_path):
    """Issue 18: `predictions.png` showed the first 24 test images, all of one class."""
    truths = ["a"] * 30 + ["b"] * 5 + ["c"] * 5
    top = [[(t, 0.9)] for t in truths]
    top[31] = [("a", 0.6)]  # one mistake in b
    top[36] = [("b", 0.7)]  # one in c
    chosen = figure_sample(truths, top, count=8)
    assert chosen[:2] == [31, 36]
    assert {truths[i] for i in chosen[2:5]} == {"a", "b", "c"}
    images = np.zeros((40, 8, 8, 3), dtype=np.uint8)
    assert predictions_png(images, truths, top, tmp_path / "p.png").stat().st_size > 0


def test_per_class_png_draws_precision_and_recall_bars_per_class(tmp_path):
    """Issue 16: precision and recall per class were only numbers in the run's metrics."""
    from trainer.report import per_class_png

    per_class = {
        "Air_Force_1": {"precision": 1.0, "recall": 0.25, "support": 4},
        "Yeezy_350": {"precision": 0.5, "recall": 1.0, "support": 2},
    }
    path = per_class_png(per_class, tmp_path / "per_class.png", title="run 1")
    with Image.open(path) as im:
        pixels = np.asarray(im.convert("RGB")).reshape(-1, 3).astype(int)
        width, height = im.size
    blue, orange = (
        np.array([31, 119, 180]),
        np.array([255, 127, 14]),
    )  # matplotlib tab:blue, tab:orange
    blue_px = int((np.abs(pixels - blue).sum(axis=1) < 10).sum())
    orange_px = int((np.abs(pixels - orange).sum(axis=1) < 10).sum())
    # Bars of 1.0+0.5 (precision) against 0.25+1.0 (recall): blue a bit more than orange.
    assert blue_px > 0 and orange_px > 0 and 1.05 < blue_px / orange_px < 1.4, (blue_px, orange_px)
    assert width == 800 and height < 300
    many = {
        f"Class_{i:03d}": {"precision": i / 120, "recall": 1.0, "support": 1} for i in range(120)
    }
    with Image.open(per_class_png(many, tmp_path / "many.png", title="run 2")) as im:
        assert im.size[1] <= 100 * (1.6 + 0.32 * 80) + 1


def test_predictions_figure_has_a_legend_of_its_colours(tmp_path):
    """Issue 16: green, orange and red titles had no legend. With every image right, only the
    legend can put orange and red in the band above the first row."""
    truths = ["a", "b", "c"]
    top = [[(t, 0.9), ("d", 0.1)] for t in truths]
    path = predictions_png(np.zeros((3, 8, 8, 3), dtype=np.uint8), truths, top, tmp_path / "p.png")
    with Image.open(path) as im:
        band = np.asarray(im.convert("RGB"))[:30].reshape(-1, 3).astype(int)
    for colour in ((0, 128, 0), (255, 140, 0), (255, 0, 0)):  # green, darkorange, red
        assert (np.abs(band - colour).sum(axis=1) < 30).sum() > 20, colour
