"""Evaluate a saved run on its split's test subset: metrics, predictions, figures.

The test subset is read here and nowhere in training. Predictions go to the catalog's
`predictions` table; the confusion matrix is returned as data and drawn by `report`.
"""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np

from catalog import (
    Catalog,
    Prediction,
    get_run,
    save_predictions,
    update_run,
    write_text_atomic,
)
from clikit.progress import bar

from . import layers  # noqa: F401  (registers Preprocess so saved models load)
from .data import Example, cache_dir, fill_cache, image_batches, pixels, test_examples
from .errors import TrainerError
from .report import (
    MAX_FIGURE_IMAGES,
    confused_pairs,
    confusion_png,
    figure_sample,
    per_class_png,
    predictions_png,
)

STORED_TOP_K = 5
CONFUSED_PAIRS = 10  # stored in the run's metrics and printed by `train evaluate`


def load_run_model(cat: Catalog, run: dict) -> tuple[keras.Model, list[str]]:
    """The run's saved model and its label order; a clear error if the files are gone."""
    paths = run["artifacts"]
    if "model" not in paths or not (cat.root / paths["model"]).is_file():
        raise TrainerError(
            f"run {run['id']} has no saved model (status {run['status']}); train it again"
        )
    labels = json.loads((cat.root / paths["labels"]).read_text())
    # compile=False: the optimizer state is for training, not needed to predict.
    return keras.saving.load_model(cat.root / paths["model"], compile=False), labels["classes"]


def top_k(probs: np.ndarray, classes: list[str], k: int) -> list[list[tuple[str, float]]]:
    """Per row, the k best (class, probability) pairs, best first (ties: lower label first)."""
    order = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    return [
        [(classes[j], float(row[j])) for j in idx] for row, idx in zip(probs, order, strict=True)
    ]


def metrics_from(true: np.ndarray, probs: np.ndarray, classes: list[str]) -> dict:
    """top-1, top-3 (only with more than three classes: below that it is 1 by definition),
    per-class precision/recall/support and the confusion matrix (rows: true)."""
    n = len(classes)
    predicted = probs.argmax(axis=1)
    top3 = np.argsort(-probs, axis=1, kind="stable")[:, :3]
    confusion = np.zeros((n, n), dtype=int)
    np.add.at(confusion, (true, predicted), 1)
    per_class = {}
    for i, name in enumerate(classes):
        tp, col, row = confusion[i, i], confusion[:, i].sum(), confusion[i].sum()
        per_class[name] = {
            "precision": round(float(tp / col), 4) if col else 0.0,
            "recall": round(float(tp / row), 4) if row else 0.0,
            "support": int(row),
        }
    scores = {"top1": round(float((predicted == true).mean()), 4) if len(true) else 0.0}
    if n > 3:
        hit = (top3 == true[:, None]).any(axis=1)
        scores["top3"] = round(float(hit.mean()), 4) if len(true) else 0.0
    return {
        **scores,
        "test_images": int(len(true)),
        "per_class": per_class,
        "confusion": {"classes": classes, "matrix": confusion.tolist()},
    }


def evaluate_run(cat: Catalog, run_id: int, *, batch_size: int = 32) -> dict:
    """Score run `run_id`'s saved model on its test subset and record the results.

    Example:
        >>> evaluate_run(cat, 3)["top1"]
        0.92
    """
    run = get_run(cat, run_id)
    model, classes = load_run_model(cat, run)
    examples = run_test_examples(cat, run, classes)
    return evaluate_model(cat, run, model, classes, examples, batch_size=batch_size)[0]


def run_test_examples(cat: Catalog, run: dict, classes: list[str]) -> list[Example]:
    """The test images a run is scored on (its split's, of the classes it knows)."""
    return test_examples(
        cat, run["split"], classes, accepted_only=run["params"].get("accepted_only", False)
    )


def evaluate_model(
    cat: Catalog,
    run: dict,
    model: keras.Model,
    classes: list[str],
    examples: list[Example],
    *,
    batch_size: int = 32,
    keep: np.ndarray | None = None,
) -> tuple[dict, np.ndarray | None]:
    """Score `model` (the run's, loaded) on `examples` and record the results; (metrics, features).

    `model` gives probabilities, or (probabilities, pooled features) as
    `unknown.feature_model` builds it: then the features of the rows `keep` (sorted
    indices) come back too, so the end of a run scores and calibrates in one pass over
    the test images. Otherwise the features are None.
    """
    if not examples:
        raise TrainerError(
            f"split {run['split']!r} has no usable test images to evaluate run {run['id']} on"
        )
    size = int(model.input_shape[1])
    probs, features = _predict_streamed(model, examples, size, cache_dir(cat), batch_size, keep)
    true = np.array([e.label for e in examples])
    metrics = metrics_from(true, probs, classes)
    metrics["confused_pairs"] = confused_pairs(metrics["confusion"], CONFUSED_PAIRS)
    best = top_k(probs, classes, min(STORED_TOP_K, len(classes)))
    save_predictions(
        cat,
        run["id"],
        [Prediction(e.image_id, e.class_name, b) for e, b in zip(examples, best, strict=True)],
    )
    rel = Path(run["artifacts"]["model"]).parent
    run_dir = cat.root / rel
    _write_json(run_dir / "confusion.json", metrics["confusion"])
    confusion_png(metrics["confusion"], run_dir / "confusion.png", title=_title(run, metrics))
    per_class_png(metrics["per_class"], run_dir / "per_class.png", title=_title(run, metrics))
    _predictions_figure(examples, best, size, cache_dir(cat), run_dir / "predictions.png")
    names = ("confusion.json", "confusion.png", "per_class.png", "predictions.png")
    artifacts = {name.replace(".", "_"): (rel / name).as_posix() for name in names}
    update_run(cat, run["id"], metrics=metrics, artifacts=artifacts)
    return metrics, features


def _predict_streamed(
    model: keras.Model,
    examples: list[Example],
    size: int,
    folder: Path,
    batch_size: int,
    keep: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Probabilities for every example, batch by batch (a large test subset never sits in memory
    whole); with a two-output model, the features of rows `keep` as well."""
    fill_cache(examples, size, folder)
    probs, kept = [], []
    wanted = np.zeros(len(examples), bool)
    if keep is not None:
        wanted[keep] = True
    start = 0
    with bar("evaluate", len(examples)) as advance:
        for batch in image_batches(examples, size, folder, batch_size):
            out = model.predict_on_batch(batch.astype(np.float32))
            p, f = out if isinstance(out, (list, tuple)) else (out, None)
            probs.append(np.asarray(p, dtype=np.float32))
            rows = wanted[start : start + len(batch)]
            if f is not None and rows.any():
                kept.append(np.asarray(f, dtype=np.float32)[rows])
            start += len(batch)
            advance(len(batch))
    features = np.concatenate(kept) if kept else None
    return np.concatenate(probs), features


def _predictions_figure(examples: list, best: list, size: int, folder: Path, path: Path) -> None:
    """The predictions grid: only the images it shows are read (mistakes first, across classes)."""
    chosen = figure_sample([e.class_name for e in examples], best, MAX_FIGURE_IMAGES)
    images = pixels([examples[i] for i in chosen], size, folder)
    predictions_png(
        images, [examples[i].class_name for i in chosen], [best[i] for i in chosen], path
    )


def _title(run: dict, metrics: dict) -> str:
    top3 = f", top-3 {metrics['top3']:.2f}" if "top3" in metrics else ""
    return (
        f"run {run['id']}: {run['backbone']} on {run['split']}, top-1 {metrics['top1']:.2f}{top3}"
    )


def _write_json(path: Path, data: object) -> None:
    write_text_atomic(path, json.dumps(data, indent=1))
