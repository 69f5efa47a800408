"""Classify image files with a saved run: the same decoding and model as `evaluate`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from catalog import (
    IMAGE_MAX_BYTES,
    Catalog,
    InputFileError,
    InvalidImage,
    default_run,
    finished_runs,
    get_run,
    latest_finished_run,
    read_input_file,
    validate_image,
)

from .data import decode
from .errors import TrainerError
from .evaluate import load_run_model, top_k
from .unknown import UnknownRule, feature_model, features_source, load_rule

CHUNK = 64  # files decoded and classified at a time: memory stays flat, progress moves


@dataclass
class ImagePrediction:
    """The top-k (class, probability) pairs for one image file, or why it has none."""

    path: Path
    top_k: list[tuple[str, float]]
    error: str | None = None
    # Cosine distance to the nearest training image, when the run has an unknown rule.
    distance: float | None = None
    unknown: bool = False


def predict_files(
    cat: Catalog,
    paths: list[Path],
    *,
    run_id: int | None = None,
    top: int = 3,
    on_progress: Callable[[int], object] | None = None,
    unknown: bool = True,
    unknown_threshold: float | None = None,
) -> tuple[dict, list[ImagePrediction]]:
    """Predict each file with run `run_id` (default: see `choose_run`); the run says why in
    `chosen`.

    `on_progress(n)` is called as each chunk of `n` files is done (checked or classified).
    With `unknown`, an image far from every class of the run is marked `unknown`
    by the run's stored rule, its threshold replaced by `unknown_threshold` when given; the
    returned run's `unknown_rule` is the threshold used, or None (off, or a run without one).

    Example:
        >>> run, preds = predict_files(cat, [Path("shoe.jpg")], top=3)
        >>> preds[0].top_k[0]
        ('Yeezy_350', 0.97)
    """
    if top < 1:
        raise TrainerError(f"--top must be at least 1. Received: top={top}")
    run = choose_run(cat, run_id)
    model, classes = load_run_model(cat, run)
    size = int(model.input_shape[1])
    rule = load_rule(cat, run, unknown_threshold) if unknown else None
    nets = _networks(cat, run, model, rule is not None)
    results = [ImagePrediction(p, []) for p in paths]
    for start in range(0, len(results), CHUNK):
        chunk = results[start : start + CHUNK]
        _predict_chunk(nets, rule, classes, size, chunk, min(top, len(classes)))
        if on_progress:
            on_progress(len(chunk))
    return {**run, "unknown_rule": rule.threshold if rule else None}, results


def choose_run(cat: Catalog, run_id: int | None = None) -> dict:
    """The run that answers: `run_id`, else the one `train use` marked, else the newest
    finished run whose top-1 beats chance (a useless newest run should not answer silently).

    The returned row has `chosen`, a phrase saying why this run, for the user.
    """
    if run_id is not None:
        return {**get_run(cat, run_id), "chosen": "given with --run"}
    marked = default_run(cat)
    if marked is not None:
        return {**marked, "chosen": "marked with `train use`"}
    for run in finished_runs(cat):
        top1, chance = run["metrics"].get("top1", 0.0), chance_of(run)
        if top1 > chance:
            return {
                **run,
                "chosen": (
                    f"the newest finished run above chance (top-1 {top1:.2f}, chance {chance:.2f})"
                ),
            }
    run = latest_finished_run(cat)
    return {
        **run,
        "chosen": (
            "the newest finished run, but no finished run scores above chance: "
            "its answers mean little"
        ),
    }


def chance_of(run: dict) -> float:
    """Top-1 of guessing: one over the number of classes the run was scored on."""
    classes = run["metrics"].get("per_class") or {}
    return 1 / len(classes) if classes else 0.0


def _networks(cat: Catalog, run: dict, model, with_rule: bool) -> tuple:
    """(classifier, features net or None): with a rule, the features come from the run's
    frozen backbones where it kept them, else from the classifier's own second output."""
    if not with_rule:
        return model, None
    source = features_source(cat, run, model)
    if source is model:
        return feature_model(model)[0], None
    return model, feature_model(source)[0]


def _predict_chunk(
    nets: tuple,
    rule: UnknownRule | None,
    classes: list[str],
    size: int,
    chunk: list[ImagePrediction],
    k: int,
) -> None:
    """Classify the readable files of `chunk`; with a `rule`, measure their distances too."""
    for result in chunk:
        result.error = _unreadable(result.path)
    readable = [r for r in chunk if r.error is None]
    if not readable:
        return
    images = np.stack([decode(r.path, size) for r in readable]).astype(np.float32)
    net, features_net = nets
    out = net.predict(images, batch_size=32, verbose=0)
    probs = out[0] if rule and features_net is None else out
    for result, best in zip(readable, top_k(probs, classes, k), strict=True):
        result.top_k = best
    if rule:
        features = out[1] if features_net is None else features_net.predict(images, verbose=0)[1]
        for result, distance in zip(readable, rule.distances(features), strict=True):
            result.distance = float(distance)
            result.unknown = bool(distance > rule.threshold)


def _unreadable(path: Path) -> str | None:
    """Why a file cannot be classified (the catalog's own validation), or None."""
    try:
        # A FIFO or /dev/zero is refused before it is opened, a huge file before it is read.
        validate_image(read_input_file(path, IMAGE_MAX_BYTES), min_side=1)
    except (InvalidImage, InputFileError) as exc:
        return str(exc)
    return None
