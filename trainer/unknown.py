"""'None of these': answer `unknown` when an image is far from every class of a run.

Softmax confidence cannot say it: it only compares the known classes with each other, so
a photo of something else can still get a confident sneaker label. The score here is the
cosine distance from an image's pooled backbone features (what the head sees; an
ensemble's members are L2-normalised each, then joined, so each weighs the same) to the
nearest training image's: of the six scores `bench/unknown.py` compares (softmax, max
logit, energy, centroid, nearest and 5th-nearest distance), the distances separated
off-topic pictures best (bench/RESULTS.md).

The threshold is chosen at the end of every run on held-out distances: each training
image's distance to the nearest *other* training image (leave-one-out), and each
validation image's distance to the nearest training image. The rule is the conformal
quantile: the ceil((n + 1)(1 - ALPHA))-th smallest of the n held-out scores, so an image
of the trained classes is called unknown with probability about ALPHA when new images are
like the held-out ones. Nothing in it looks at non-class images. The validation part alone
(10% of a small split: a few dozen images) is too small: below 1/ALPHA - 1 images the rank is
the largest score, and one odd thumbnail set the threshold. How many validation and test
images end above the threshold is stored beside it, to show whether the rule held.

The run keeps the training features it measures against in `runs/<id>/unknown.npz`
(at most MAX_REFERENCE images, float16) and the rule in its metrics under `unknown`.
"""

from __future__ import annotations

import math
import re
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from catalog import Catalog, atomic_write, get_run, update_run
from clikit.progress import bar

from .arrays import NpyRows
from .data import Example, SplitData, cache_dir, features_dir, fill_cache, image_batches
from .errors import TrainerError
from .evaluate import evaluate_model, load_run_model, run_test_examples
from .features import recorded_plain_maps

SCORE = "nearest_cosine"  # the cosine distance to the nearest training image
ALPHA = 0.05  # the share of real images of the classes that may be called unknown
MAX_REFERENCE = 5000  # training images kept to measure against (memory and file size)
MAX_SCORED = 2000  # held-out and test images scored at most (time stays bounded)
REFERENCE_FILE = "unknown.npz"
# When a calibrated rule is refused (see `degenerate`): features this alike have collapsed
# (ImageNet features of one kind of product stay well below it), a threshold this small
# calls any new picture unknown, a rule may call at most this share of validation photos
# unknown (checked from this many), and must call at least this share of the generated
# off-topic pictures unknown.
COLLAPSED_SIMILARITY = 0.99
MIN_THRESHOLD = 1e-3
MAX_VAL_SHARE, MIN_VAL_CHECKED = 0.25, 20
MIN_PROBE_SHARE = 0.5


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
    pools = _pools(model)
    names = {layer.name for layer in model.layers}
    source = model.get_layer("features") if "features" in names else pools[0]
    net = keras.Model(model.input, [model.output, source.output], name="classifier_features")
    return net, [int(p.output.shape[-1]) for p in pools]


def _pools(model: keras.Model) -> list[keras.layers.Layer]:
    """The classifier's pooling layers `gap`, `gap_1`, ...: one per member, in member order."""
    pools = sorted(
        (layer for layer in model.layers if re.fullmatch(r"gap(_\d+)?", layer.name)),
        key=lambda layer: int(layer.name[4:] or 0),
    )
    if not pools:
        raise ValueError(f"{model.name} has no pooling layer named gap: not a trainer model")
    return pools


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

    Alone (not after `train`), so its own pass over the test images. The training and
    validation features come from the run's cached maps when they are still there.

    Example:
        >>> calibrate_run(cat, 3, data)["threshold"]
        0.281
    """
    run = get_run(cat, run_id)
    model, classes = load_run_model(cat, run)
    source = features_source(cat, run, model)
    net, widths = feature_model(source)
    tests = run_test_examples(cat, run, classes)
    picks = _picks(run, data, tests)
    test = _test_features(cat, net, source, tests, picks, batch_size)
    return _calibrate(cat, run, source, (net, widths), data, picks, test, batch_size)


def evaluate_and_calibrate(
    cat: Catalog, run_id: int, data: SplitData, *, batch_size: int = 32
) -> dict:
    """The end of a `train` run: `evaluate_run` and `calibrate_run` with the model loaded once
    and one pass over the test images for both; the run's metrics.

    Their seconds go into the run's `seconds` as `evaluate` and `unknown`.
    """
    started = time.perf_counter()
    run = get_run(cat, run_id)
    model, classes = load_run_model(cat, run)
    source = features_source(cat, run, model)
    net, widths = feature_model(source)
    tests = run_test_examples(cat, run, classes)
    picks = _picks(run, data, tests)
    if source is model:  # one pass over the test images gives probabilities and features
        _, test = evaluate_model(
            cat, run, net, classes, tests, batch_size=batch_size, keep=picks.test
        )
    else:
        evaluate_model(cat, run, model, classes, tests, batch_size=batch_size)
    evaluated = time.perf_counter()
    if source is not model:
        test = _test_features(cat, net, source, tests, picks, batch_size)
    _calibrate(cat, run, source, (net, widths), data, picks, test, batch_size)
    seconds = {
        **get_run(cat, run_id)["metrics"].get("seconds", {}),
        "evaluate": round(evaluated - started, 2),
        "unknown": round(time.perf_counter() - evaluated, 2),
    }
    return update_run(cat, run_id, metrics={"seconds": seconds})["metrics"]


def features_source(cat: Catalog, run: dict, model: keras.Model) -> keras.Model:
    """The model whose pooled features the rule measures: the frozen backbones a fine-tuned
    run keeps beside its classifier, else the classifier itself (a head-only run, whose
    backbones are the frozen ones, and runs from before the frozen copy was kept).

    A fine-tune pulls the classes' features together and off-topic pictures in with them:
    measured in fine-tuned features, the rule called a flat gradient a sneaker and more
    real photos unknown than it was chosen for. The frozen ImageNet features did neither.
    """
    rel = run["artifacts"].get("unknown_features")
    if not rel:
        return model
    path = cat.root / rel
    try:
        return keras.saving.load_model(path, compile=False)
    except (OSError, ValueError) as exc:
        raise TrainerError(_broken(run, path, "missing or damaged", exc)) from exc


def _broken(run: dict, path: Path, what: str, exc: BaseException) -> str:
    return (
        f"run {run['id']}'s unknown rule file {path} is {what} ({type(exc).__name__}); "
        "answer without it with --no-unknown, or train the run again"
    )


def _test_features(
    cat: Catalog,
    net: keras.Model,
    source: keras.Model,
    tests: list[Example],
    picks: _Picks,
    batch_size: int,
) -> np.ndarray | None:
    chosen = [tests[i] for i in picks.test]
    if not chosen:
        return None
    return embed(net, chosen, int(source.input_shape[1]), cache_dir(cat), batch_size, "test")[1]


@dataclass(frozen=True)
class _Picks:
    """The rows calibration uses: sorted indices into the train, validation and test images."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray


def _picks(run: dict, data: SplitData, tests: list[Example]) -> _Picks:
    rng = np.random.default_rng(int(run["params"].get("seed", 0)))
    return _Picks(
        _sample(len(data.train), MAX_REFERENCE, rng),
        _sample(len(data.val), MAX_SCORED, rng),
        _sample(len(tests), MAX_SCORED, rng),
    )


def _calibrate(
    cat: Catalog,
    run: dict,
    model: keras.Model,
    features: tuple[keras.Model, list[int]],
    data: SplitData,
    picks: _Picks,
    test_features: np.ndarray | None,
    batch_size: int,
) -> dict:
    """The threshold from the picked train and validation images, checked on the test
    features given; stored with the reference features. Returns the summary.

    `features` is `feature_model(model)`, which the caller has already built."""
    net, widths = features
    run_dir = cat.root / Path(run["artifacts"]["model"]).parent

    def unit(part: str, examples: list[Example], rows: np.ndarray) -> np.ndarray:
        """From the run's cached plain maps when they are all still on disk, else
        from pixels (the cache was cleared, or holds other images)."""
        features = _from_maps(cat, run_dir, model, part, examples, rows, batch_size)
        if features is None:
            chosen = [examples[i] for i in rows]
            size = int(model.input_shape[1])
            features = embed(net, chosen, size, cache_dir(cat), batch_size, part)[1]
        return normalise(features, widths)

    reference = unit("train", data.train, picks.train)
    loo = nearest_distance(reference, reference, leave_one_out=True)
    val = np.zeros(0, np.float32)
    if len(picks.val):
        val = nearest_distance(unit("val", data.val, picks.val), reference)
    threshold, expected = conformal_threshold(np.concatenate([loo, val]))
    test = np.zeros(0, np.float32)
    if test_features is not None and len(test_features):
        test = nearest_distance(normalise(test_features, widths), reference)
    rel = Path(run["artifacts"]["model"]).parent / REFERENCE_FILE
    _save_reference(cat.root / rel, reference, widths)
    summary = _summary(threshold, expected, len(reference), loo, val, test)
    probes = nearest_distance(normalise(_probe_features(net, model), widths), reference)
    summary["probes_unknown"] = [int((probes > threshold).sum()), len(probes)]
    why = degenerate(reference, threshold, val, probes)
    summary.update(usable=why is None, **({"why": why} if why else {}))
    update_run(cat, run["id"], metrics={"unknown": summary}, artifacts={"unknown": rel.as_posix()})
    return summary


def degenerate(
    reference: np.ndarray, threshold: float, val: np.ndarray, probes: np.ndarray
) -> str | None:
    """Why a calibrated rule cannot be used, or None when it can.

    - the features collapsed: every image looks alike, so distances say nothing;
    - the threshold is so small that any new picture is unknown;
    - it calls most validation photos of the classes unknown;
    - it calls most generated off-topic pictures (flat colours, noise, gradients) known.
    """
    similarity = mean_similarity(reference)
    if similarity > COLLAPSED_SIMILARITY:
        return (
            f"the features collapsed (mean cosine similarity of the training images "
            f"{similarity:.3f}): distances in them cannot tell a class from anything else"
        )
    if threshold < MIN_THRESHOLD:
        return f"the threshold {threshold:.2e} is so small that nearly every picture is unknown"
    if len(val) >= MIN_VAL_CHECKED and (val > threshold).mean() > MAX_VAL_SHARE:
        return (
            f"it calls {int((val > threshold).sum())} of {len(val)} validation photos of the "
            "classes unknown"
        )
    if len(probes) and (probes > threshold).mean() < MIN_PROBE_SHARE:
        return (
            f"it calls {int((probes <= threshold).sum())} of {len(probes)} generated off-topic "
            "pictures (flat colours, noise, gradients) known"
        )
    return None


def mean_similarity(unit: np.ndarray) -> float:
    """The mean cosine similarity over all pairs of distinct unit-length rows, in O(n):
    |sum|^2 counts every ordered pair once and each row with itself once."""
    n = len(unit)
    if n < 2:
        return 0.0
    total = unit.astype(np.float64).sum(axis=0)
    return float((total @ total - n) / (n * (n - 1)))


def probe_images(size: int) -> np.ndarray:
    """Generated pictures of nothing: flat colours, noise, gradients (0-255, NHWC)."""
    rng = np.random.default_rng(11)
    ramp = np.broadcast_to(np.linspace(0, 255, size, dtype=np.float32), (size, size))
    flat = [np.full((size, size, 3), c, np.float32) for c in ((0, 0, 0), (255,) * 3, (128,) * 3)]
    flat += [np.full((size, size, 3), (30, 60, 200), np.float32)]
    noise = [
        np.repeat(rng.integers(0, 256, (size, size, 1)), 3, axis=2).astype(np.float32),
        rng.integers(0, 256, (size, size, 3)).astype(np.float32),
    ]
    gradients = [np.stack([ramp] * 3, -1), np.stack([ramp.T] * 3, -1)]
    return np.stack(flat + noise + gradients)


def _probe_features(net: keras.Model, model: keras.Model) -> np.ndarray:
    out = net.predict_on_batch(probe_images(int(model.input_shape[1])))
    return np.asarray(out[1], np.float32)


def _from_maps(
    cat: Catalog,
    run_dir: Path,
    model: keras.Model,
    part: str,
    examples: list[Example],
    rows: np.ndarray,
    batch_size: int,
) -> np.ndarray | None:
    """The pooled features of `examples[rows]` from the run's cached plain maps; None when
    they are gone or do not fit the model (the caller then runs the model on pixels: a
    finished run is not failed over a cache)."""
    maps = recorded_plain_maps(run_dir, features_dir(cat), examples, part)
    tops = top_feature_models(model, [key.get("cut", "") for _, key in maps]) if maps else None
    if not maps or not tops:
        return None
    try:
        return embed_maps(tops, [path for path, _ in maps], rows, batch_size, part)
    except (OSError, ValueError):  # a truncated file, maps of another shape
        return None


def top_feature_models(model: keras.Model, cuts: list[str]) -> list[keras.Model] | None:
    """Per member of the saved classifier: its cut layer's maps -> its pooled features (the
    fine-tuned top, then its `gap` layer), as `feature_model` takes them; None when the
    model does not have one member per cut.

    A member is the backbone its pooling layer is called on. Keras has no public way to ask
    a layer what made its input, so this reads the input's `_keras_history`; without it
    the caller falls back to pixels (and the tests say so).
    """
    pools = _pools(model)
    if not cuts or len(pools) != len(cuts):
        return None
    nets = []
    for pool, cut in zip(pools, cuts, strict=True):
        history = getattr(pool.input, "_keras_history", None)
        backbone = getattr(history, "operation", None)
        if not isinstance(backbone, keras.Model) or cut not in {x.name for x in backbone.layers}:
            return None
        top = keras.Model(backbone.get_layer(cut).output, backbone.output)
        nets.append(keras.Model(top.input, pool(top.output), name=f"top_features_{pool.name}"))
    return nets


def embed_maps(
    tops: list[keras.Model], maps: list[Path], rows: np.ndarray, batch_size: int, what: str
) -> np.ndarray:
    """The members' pooled features of `rows` of their float16 maps files, joined, in batches.

    The maps were rounded to float16 when cached, so these differ from the pixel path's
    features by that rounding: far below the threshold's stored precision, for a fraction
    of the time (bench/RESULTS.md, "unknown threshold from cached maps").
    """
    readers = [NpyRows(path) for path in maps]
    out = []
    with bar(f"unknown: {what} features (cached maps)", len(rows)) as advance:
        for start in range(0, len(rows), batch_size):
            chunk = rows[start : start + batch_size]
            pooled = [
                np.asarray(top.predict_on_batch(reader.take(chunk).astype(np.float32)), np.float32)
                for top, reader in zip(tops, readers, strict=True)
            ]
            out.append(np.concatenate(pooled, axis=1))
            advance(len(chunk))
    widths = sum(int(top.output.shape[-1]) for top in tops)
    return np.concatenate(out) if out else np.zeros((0, widths), np.float32)


def load_rule(cat: Catalog, run: dict, threshold: float | None = None) -> UnknownRule | None:
    """The run's stored rule (`threshold` replaces its threshold), or None for a run without one."""
    stored = run["metrics"].get("unknown")
    rel = run["artifacts"].get("unknown")
    if not stored or not rel:
        return None
    if threshold is None and stored.get("usable") is False:
        return None  # predict says why; a threshold given by the user is used as given
    try:
        with np.load(cat.root / rel) as saved:
            reference = saved["reference"].astype(np.float32)
            widths = [int(w) for w in saved["widths"]]
    except FileNotFoundError as exc:
        raise TrainerError(_broken(run, cat.root / rel, "missing", exc)) from exc
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as exc:
        raise TrainerError(_broken(run, cat.root / rel, "damaged", exc)) from exc
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


def _sample(n: int, limit: int, rng: np.random.Generator) -> np.ndarray:
    """At most `limit` of the indices 0..n-1, a seeded random subset, sorted."""
    if n <= limit:
        return np.arange(n)
    return np.sort(rng.choice(n, limit, replace=False))


def _save_reference(path: Path, reference: np.ndarray, widths: list[int]) -> None:
    with atomic_write(path) as fh:  # a file object: np.savez would add .npz to a bare name
        np.savez(fh, reference=reference.astype(np.float16), widths=np.array(widths))
