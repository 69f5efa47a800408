"""'None of these' (issue 16): answer `unknown` when an image is far from every class of a run.

Softmax confidence cannot say it: it only compares the known classes with each other, and
the sneakers10 model gave a hot dog 0.92 and a cat a confident sneaker label. The score
here is the cosine distance from an image's pooled backbone features (what the head sees;
an ensemble's members are L2-normalised each, then joined, so each weighs the same) to
the nearest training image's. `bench/unknown.py` measured six scores on a sneakers10 run
(the default ensemble): AUROC of test images against the check photos and crops of them,
softmax 0.90, max logit 0.93, energy 0.94, centroid / nearest / 5th-nearest distance 1.00;
against other sneaker models (sneakers41) 0.83, 0.83, 0.84, 0.86, 0.84, 0.82.

The threshold is chosen at the end of every run on held-out distances: each training
image's distance to the nearest *other* training image (leave-one-out), and each
validation image's distance to the nearest training image. The rule is the conformal
quantile: the ceil((n + 1)(1 - ALPHA))-th smallest of the n held-out scores, so an image
of the trained classes is called unknown with probability about ALPHA when new images are
like the held-out ones. Nothing in it looks at non-class images. The validation part alone
(10%: about 30 images on sneakers10) is too small: below 1/ALPHA - 1 images the rank is
the largest score, and one odd thumbnail set the threshold. How many validation and test
images end above the threshold is stored beside it, to show whether the rule held.

The run keeps the training features it measures against in `runs/<id>/unknown.npz`
(at most MAX_REFERENCE images, float16) and the rule in its metrics under `unknown`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from catalog import Catalog, atomic_write, get_run, update_run

from .data import Example, SplitData, cache_dir, fill_cache, image_batches, test_examples
from .evaluate import load_run_model
from .progress import bar

SCORE = "nearest_cosine"  # the cosine distance to the nearest training image
ALPHA = 0.05  # the share of real images of the classes that may be called unknown
MAX_REFERENCE = 5000  # training images kept to measure against (memory and file size)
MAX_SCORED = 2000  # held-out and test images scored at most (time stays bounded)
REFERENCE_FILE = "unknown.npz"


@dataclass(frozen=True)
class UnknownRule:
    """What `predict` needs: unit-length reference features, each member's width, the threshold."""

    reference: np.ndarray
    widths: list[int]
    threshold: float

    def distances(self, features: np.ndarray) -> np.ndarray:
        return nearest_distance(normalise(features, self.widths), self.reference)


def feature_model(model: keras.Model) -> tuple[keras.Model, list[int]]:
    """The saved classifier as pixels -> (probabilities, pooled features); each member's width.

    The features are the plain view's (a layer's `output` is its first call's, and the
    classifier calls its layers on the plain image before the mirror image).
    """
    pools = sorted(
        (layer for layer in model.layers if re.fullmatch(r"gap(_\d+)?", layer.name)),
        key=lambda layer: int(layer.name[4:] or 0),
    )
    if not pools:
        raise ValueError(f"{model.name} has no pooling layer named gap: not a trainer model")
    names = {layer.name for layer in model.layers}
    source = model.get_layer("features") if "features" in names else pools[0]
    net = keras.Model(model.input, [model.output, source.output], name="classifier_features")
    return net, [int(p.output.shape[-1]) for p in pools]


def normalise(features: np.ndarray, widths: list[int]) -> np.ndarray:
    """Each member's block scaled to unit length, joined, scaled to unit length overall."""
    blocks = np.split(np.asarray(features, np.float32), np.cumsum(widths)[:-1], axis=1)
    unit = [b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12) for b in blocks]
    return np.concatenate(unit, axis=1) / math.sqrt(len(widths))


def nearest_distance(
    queries: np.ndarray, reference: np.ndarray, *, leave_one_out: bool = False
) -> np.ndarray:
    """Cosine distance from each unit-length query to its nearest reference row.

    `leave_one_out`: the queries are the reference itself, and a row's own match is skipped.
    """
    from sklearn.neighbors import NearestNeighbors  # only runs with a threshold need it

    index = NearestNeighbors(n_neighbors=1, metric="cosine", algorithm="brute").fit(reference)
    distances, _ = index.kneighbors(None if leave_one_out else queries)
    return distances[:, 0].astype(np.float32)


def conformal_threshold(scores: np.ndarray, alpha: float = ALPHA) -> tuple[float, float]:
    """(threshold, expected share above it): the ceil((n+1)(1-alpha))-th smallest score.

    With fewer than 1/alpha - 1 scores that rank is past the end: the largest score is
    taken, and the expected share is 1/(n+1) rather than alpha.
    """
    ordered = np.sort(np.asarray(scores, np.float64))
    n = len(ordered)
    rank = min(n, math.ceil((n + 1) * (1 - alpha)))
    return float(ordered[rank - 1]), round(1 - rank / (n + 1), 4)


def embed(
    net: keras.Model,
    examples: list[Example],
    size: int,
    folder: Path | None,
    batch: int,
    what: str = "images",
) -> tuple[np.ndarray, np.ndarray]:
    """(probabilities, features) of `examples`, streamed from the pixel cache."""
    probs, feats = [], []
    fill_cache(examples, size, folder)
    with bar(f"unknown: {what} features", len(examples)) as advance:
        for pixels in image_batches(examples, size, folder, batch):
            p, f = net.predict_on_batch(pixels.astype(np.float32))
            probs.append(np.asarray(p, np.float32))
            feats.append(np.asarray(f, np.float32))
            advance(len(pixels))
    return np.concatenate(probs), np.concatenate(feats)


def calibrate_run(cat: Catalog, run_id: int, data: SplitData, *, batch_size: int = 32) -> dict:
    """Choose and store run `run_id`'s unknown threshold; returns what goes into its metrics.

    Example:
        >>> calibrate_run(cat, 3, data)["threshold"]
        0.281
    """
    run = get_run(cat, run_id)
    model, classes = load_run_model(cat, run)
    net, widths = feature_model(model)
    size, folder = int(model.input_shape[1]), cache_dir(cat)
    rng = np.random.default_rng(int(run["params"].get("seed", 0)))

    def unit(examples: list[Example], what: str) -> np.ndarray:
        return normalise(embed(net, examples, size, folder, batch_size, what)[1], widths)

    reference = unit(_sample(data.train, MAX_REFERENCE, rng), "train")

    def scored(examples: list[Example], what: str) -> np.ndarray:
        if not examples:
            return np.zeros(0, np.float32)
        return nearest_distance(unit(_sample(examples, MAX_SCORED, rng), what), reference)

    loo = nearest_distance(reference, reference, leave_one_out=True)
    val = scored(data.val, "validation")
    threshold, expected = conformal_threshold(np.concatenate([loo, val]))
    accepted_only = run["params"].get("accepted_only", False)
    tests = test_examples(cat, run["split"], classes, accepted_only=accepted_only)
    test = scored(tests, "test")
    rel = Path(run["artifacts"]["model"]).parent / REFERENCE_FILE
    _save_reference(cat.root / rel, reference, widths)
    summary = _summary(threshold, expected, len(reference), loo, val, test)
    update_run(cat, run_id, metrics={"unknown": summary}, artifacts={"unknown": rel.as_posix()})
    return summary


def load_rule(cat: Catalog, run: dict, threshold: float | None = None) -> UnknownRule | None:
    """The run's stored rule (`threshold` replaces its threshold), or None for a run without one."""
    stored = run["metrics"].get("unknown")
    rel = run["artifacts"].get("unknown")
    if not stored or not rel or not (cat.root / rel).is_file():
        return None
    with np.load(cat.root / rel) as saved:
        reference = saved["reference"].astype(np.float32)
        widths = [int(w) for w in saved["widths"]]
    return UnknownRule(reference, widths, stored["threshold"] if threshold is None else threshold)


def _summary(
    threshold: float,
    expected: float,
    references: int,
    loo: np.ndarray,
    val: np.ndarray,
    test: np.ndarray,
) -> dict:
    """The rule as stored in the run's metrics, with how it did on validation and test images."""
    return {
        "score": SCORE,
        "threshold": round(threshold, 6),
        "alpha": ALPHA,
        "held_out": len(loo) + len(val),
        "source": f"{len(loo)} train images left out one at a time, {len(val)} validation images",
        "expected_share": expected,
        "reference_images": references,
        # [called unknown, scored]: whether the rule held on images it was not chosen on
        "val_unknown": [int((val > threshold).sum()), len(val)],
        "test_unknown": [int((test > threshold).sum()), len(test)],
    }


def _sample(examples: list[Example], limit: int, rng: np.random.Generator) -> list[Example]:
    """At most `limit` examples, a seeded random subset kept in their order."""
    if len(examples) <= limit:
        return examples
    keep = np.sort(rng.choice(len(examples), limit, replace=False))
    return [examples[i] for i in keep]


def _save_reference(path: Path, reference: np.ndarray, widths: list[int]) -> None:
    with atomic_write(path) as fh:  # a file object: np.savez would add .npz to a bare name
        np.savez(fh, reference=reference.astype(np.float16), widths=np.array(widths))
