"""Label audit: find mislabelled and off-topic images of a split.

1. Features: every usable image of the split (train and test) goes once, with its mirror
   image, through each frozen backbone of the spec (`a+b`); the pooled vectors of both
   views are kept as float16 under `cache/audit/` beside the catalog, one file per image
   and backbone, so a second audit decodes nothing. Images stream through in batches:
   memory holds one batch of pixels and the (N, 2, F) features, never all pixels. Per
   backbone the two views are averaged and scaled to unit length; backbones concatenated.
2. Out-of-fold probabilities: K-fold logistic regression on those features (scikit-learn),
   so each image is scored by a model that never saw its label. With `run`, the same on a
   trained run's fine-tuned features (`audit_run`), joined with the frozen ones.
3. Confident learning: `cleanlab.filter.find_label_issues` estimates how many labels are
   wrong and flags that many, lowest self-confidence first, and
   `cleanlab.rank.get_label_quality_scores` ranks them; images far from every class
   centroid in feature space are off-topic.

Nothing here changes an image: the findings go to `audits`/`audit_flags` and review
turns them into decisions.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from catalog import (
    USABLE_STATUSES,
    Catalog,
    Flag,
    class_names,
    get_run,
    record_audit,
    split_images,
)

from .backbones import get_backbone, parse_weights
from .cache import audit_dir
from .errors import TrainerError
from .spec import parse_spec
from .vectors import read_vector, write_vector

Progress = Callable[[int, int], None]
# Lite0 alone: its ImageNet weights load offline, and one backbone keeps a cold audit of a
# few thousand images within minutes on a CPU; an ensemble flags a little more precisely
# for twice the feature pass (bench/audit_levers.py, figures in bench/RESULTS.md).
DEFAULT_AUDIT_BACKBONE = "efficientnet_lite0"
# Off-topic: a distance to the nearest class centroid this many robust standard
# deviations (MAD) above the median: the usual outlier cut-off (2.5-3).
OFF_TOPIC_Z = 3.0
# Label errors: by default (0) cleanlab estimates how many labels are wrong (its confident
# joint) and flags that many, lowest self-confidence first: a rule that needs no threshold
# chosen on a benchmark. A positive value flags label quality below it instead.
MAX_QUALITY = 0.0
FILTER_BY = "low_self_confidence"


@dataclass
class AuditConfig:
    """What defines an audit; stored as the audit's `params`."""

    split: str | None = None
    folds: int = 5
    backbone: str = DEFAULT_AUDIT_BACKBONE
    weights: str = "imagenet"
    size: int | None = None
    batch_size: int = 32
    seed: int = 0
    off_topic_z: float = OFF_TOPIC_Z
    max_quality: float | None = None  # None: cleanlab's find_label_issues decides
    # A finished run of the split: out-of-fold probabilities on its fine-tuned features
    # (`audit_run`) are joined with the frozen ones (`product_of_experts`).
    run: int | None = None


@dataclass
class AuditResult:
    """An audit's outcome: its id, the flags (with sha256 and subset) and per-class counts."""

    audit_id: int
    split: str
    images: int
    flags: list[dict]
    per_class: dict[str, dict[str, int]]
    unreadable: list[int] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    # The audited images' ids and their out-of-fold probabilities, row for row (for benches).
    image_ids: list[int] = field(default_factory=list)
    probs: np.ndarray | None = None


def run_audit(cat: Catalog, cfg: AuditConfig, on_progress: Progress | None = None) -> AuditResult:
    """Audit a split's usable images and record the flags; returns what was found.

    Example:
        >>> result = run_audit(cat, AuditConfig(split="default", folds=5))
        >>> [f["sha256"] for f in result.flags if f["kind"] == "off_topic"]
    """
    from .data import resolve_split

    started = time.perf_counter()
    run = get_run(cat, cfg.run) if cfg.run is not None else None
    split = resolve_split(cat, cfg.split or (run["split"] if run else None))
    if run is not None:
        from .audit_run import check_run

        check_run(run, split)
    parse_spec(cfg.backbone, cfg.weights)  # a bad spec fails before any work
    rows = split_images(cat, split, statuses=USABLE_STATUSES)
    classes = [name for name in class_names(cat) if any(r["class"] == name for r in rows)]
    if len(classes) < 2:
        raise TrainerError(
            f"split {split!r} has {len(classes)} class(es) with usable images; "
            "an audit needs at least 2"
        )
    views, kept, unreadable = split_features(cat, rows, cfg, on_progress)
    features, tuned = combine(views), None
    if run is not None:
        kept, features, tuned, missing = _with_run(
            cat, run, kept, features, classes, cfg, on_progress
        )
        unreadable += missing
    labels = np.array([classes.index(r["class"]) for r in kept])
    t_features = time.perf_counter() - started
    probs = out_of_fold_probabilities(features, labels, cfg.folds, cfg.seed)
    if tuned is not None:
        probs = product_of_experts(
            probs, out_of_fold_probabilities(tuned, labels, cfg.folds, cfg.seed)
        )
    flags = find_flags(features, labels, probs, cfg.off_topic_z, cfg.max_quality)
    records = [
        Flag(kept[i]["id"], classes[labels[i]], None if s is None else classes[s], q, kind)
        for i, s, q, kind in flags
    ]
    params = {
        **asdict(cfg),
        "split": split,
        "sizes": {m.name: m.size for m in audit_members(cat, cfg)},
        "images": len(kept),
        "unreadable": unreadable,
    }
    # what the features came from: the frozen backbone, and the run when one was used
    source = f"{cfg.backbone} + run {run['id']} ({run['backbone']})" if run else cfg.backbone
    audit_id = record_audit(cat, split, source, params, records)
    by_id = {r["id"]: r for r in kept}
    listed = [
        {**asdict(f), "sha256": by_id[f.image_id]["sha256"], "subset": by_id[f.image_id]["subset"]}
        for f in records
    ]
    listed.sort(key=lambda f: (f["score"], f["image_id"]))
    seconds = {"features": t_features, "total": time.perf_counter() - started}
    return AuditResult(
        audit_id,
        split,
        len(kept),
        listed,
        per_class_counts(kept, records),
        unreadable,
        seconds,
        [r["id"] for r in kept],
        probs,
    )


def _with_run(cat, run, kept, features, classes, cfg, on_progress):
    """(rows, frozen features, the run's features, ids unreadable now) for the rows both
    feature passes could read."""
    from .audit_run import run_features

    tuned, rows, missing = run_features(cat, kept, run, classes, cfg.batch_size, on_progress)
    if missing:  # unreadable now, readable a moment ago (a file changed underneath)
        have = {r["id"] for r in rows}
        features = features[np.array([r["id"] in have for r in kept])]
    return rows, features, tuned, missing


def per_class_counts(rows: list[dict], flags: list[Flag]) -> dict[str, dict[str, int]]:
    """class -> {"images", "label", "off_topic"}: how many of each given class were flagged."""
    counts: dict[str, dict[str, int]] = {}
    for r in rows:
        counts.setdefault(r["class"], {"images": 0, "label": 0, "off_topic": 0})["images"] += 1
    for f in flags:
        counts[f.given_class][f.kind] += 1
    return dict(sorted(counts.items()))


# --- 1. features -------------------------------------------------------------------------

VIEWS = 2  # the image and its mirror: cached apart, so a classifier can train on both


def feature_extractor(backbone: str, weights: str, size: int):
    """Raw pixels -> (batch, VIEWS, F): the frozen backbone's pooled features of the image
    and of its mirror."""
    import keras

    from .backbones import build_backbone
    from .layers import HorizontalFlip, Preprocess

    base = build_backbone(backbone, parse_weights(weights), size)
    base.trainable = False
    inputs = keras.Input((size, size, 3), name="pixels")
    prepare = Preprocess(get_backbone(backbone).preprocess, name="preprocess")
    pool = keras.layers.GlobalAveragePooling2D(name="gap")
    views = [inputs, HorizontalFlip(name="mirror")(inputs)]
    pooled = [keras.layers.Reshape((1, -1))(pool(base(prepare(v), training=False))) for v in views]
    return keras.Model(
        inputs,
        keras.layers.Concatenate(axis=1, dtype="float32", name="features")(pooled),
        name="audit_features",
    )


def feature_cache(cat: Catalog, backbone: str, weights: str, size: int) -> Path | None:
    """Where an image's (VIEWS, F) features are kept; None for random weights (not reproducible)."""
    if weights == "none":
        return None
    tag = weights if weights == "imagenet" else Path(weights).stem
    return audit_dir(cat) / f"{backbone}-{tag}-{size}-views"


@dataclass
class AuditInput:
    """One backbone of the audit's spec, its weights, input size and cache folder."""

    name: str
    weights: str
    size: int
    folder: Path | None


def audit_members(cat: Catalog, cfg: AuditConfig) -> list[AuditInput]:
    """The spec's backbones (`a+b`: features concatenated), each at `cfg.size` or its own size."""
    found = []
    for member in parse_spec(cfg.backbone, cfg.weights).members:
        size = cfg.size or member.backbone.input_size
        cache = feature_cache(cat, member.name, member.weights, size)
        found.append(AuditInput(member.name, member.weights, size, cache))
    return found


def split_features(
    cat: Catalog,
    rows: list[dict],
    cfg: AuditConfig,
    on_progress: Progress | None = None,
):
    """({backbone: (N, VIEWS, F) float32}, the rows they belong to, ids of unreadable images).

    Cached images are read back; the rest stream through each backbone `batch_size` at a
    time, decoded once per input size. An unreadable image is skipped and reported.
    """
    parts = audit_members(cat, cfg)
    found: dict[str, dict[int, np.ndarray]] = {m.name: {} for m in parts}
    todo = []
    for r in rows:
        missing = False
        for m in parts:
            cached = read_vector(m.folder, r["sha256"]) if m.folder else None
            if cached is None or cached.shape[0] != VIEWS:
                missing = True
            else:
                found[m.name][r["id"]] = cached
        if missing:
            todo.append(r)
    done = len(rows) - len(todo)
    if on_progress:
        on_progress(done, len(rows))
    unreadable: list[int] = []
    models = {m.name: feature_extractor(m.name, m.weights, m.size) for m in parts} if todo else {}
    for start in range(0, len(todo), cfg.batch_size):
        batch = todo[start : start + cfg.batch_size]
        unreadable += _extract_batch(cat, batch, parts, models, found)
        done += len(batch)
        if on_progress:
            on_progress(done, len(rows))
    kept = [r for r in rows if all(r["id"] in found[m.name] for m in parts)]
    return (
        {m.name: _stack([found[m.name][r["id"]] for r in kept]) for m in parts},
        kept,
        unreadable,
    )


def _extract_batch(cat, batch, parts, models, found) -> list[int]:
    """Features of `batch` for every member lacking them, written to the cache; unreadable ids."""
    from .data import decode_rows

    pixels: dict[int, tuple[list[dict], list[np.ndarray]]] = {}
    unreadable: list[int] = []
    for size in sorted({m.size for m in parts}):
        ok, arrays, bad = decode_rows(cat, batch, size)
        unreadable += [i for i in bad if i not in unreadable]
        pixels[size] = (ok, arrays)
    for m in parts:
        ok, arrays = pixels[m.size]
        need = [i for i, r in enumerate(ok) if r["id"] not in found[m.name]]
        if not need:
            continue
        out = models[m.name].predict_on_batch(np.stack([arrays[i] for i in need]).astype("float32"))
        for i, vector in zip(need, np.asarray(out).astype(np.float16), strict=True):
            found[m.name][ok[i]["id"]] = vector
            if m.folder:
                write_vector(m.folder, ok[i]["sha256"], vector)
    return unreadable


def _stack(vectors: list[np.ndarray]) -> np.ndarray:
    return np.stack(vectors).astype(np.float32) if vectors else np.zeros((0, VIEWS, 0), np.float32)


def combine(views: dict[str, np.ndarray], average: bool = True) -> np.ndarray:
    """(N, D): per backbone, the views averaged (or the first view alone) and scaled to unit
    length, then the backbones concatenated, so each backbone weighs the same."""
    return np.concatenate(
        [_unit(v.mean(axis=1) if average else v[:, 0]) for v in views.values()], axis=1
    )


# --- 2. out-of-fold probabilities --------------------------------------------------------


def head_classifier(seed: int = 0):
    """L2-normalised features -> multinomial logistic regression.

    Chosen with injected label noise (bench/audit.py): C=10 on unit-length features gave
    more precise flags than a standardised, strongly regularised model (C=0.05).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import Normalizer

    return make_pipeline(Normalizer(), LogisticRegression(C=10, max_iter=300, random_state=seed))


def fold_splitter(labels: np.ndarray, folds: int, seed: int):
    """Stratified K folds, shuffled with `seed`; fewer when no class has `folds` images."""
    from sklearn.model_selection import StratifiedKFold

    if folds < 2:
        raise TrainerError(f"an audit needs at least 2 folds. Received: folds={folds}")
    largest = int(np.bincount(labels).max())
    return StratifiedKFold(n_splits=min(folds, largest), shuffle=True, random_state=seed)


def out_of_fold_probabilities(
    features: np.ndarray, labels: np.ndarray, folds: int, seed: int
) -> np.ndarray:
    """(N, K) probabilities, each row from the fold model that did not train on that image."""
    import warnings

    from sklearn.model_selection import cross_val_predict

    splitter = fold_splitter(labels, folds, seed)
    with warnings.catch_warnings():
        # Classes smaller than `folds` are fine: their missing columns are filled with 0.
        warnings.simplefilter("ignore", UserWarning)
        probs = cross_val_predict(
            head_classifier(seed), features, labels, cv=splitter, method="predict_proba"
        )
    return np.asarray(probs, dtype=np.float64)


def product_of_experts(frozen: np.ndarray, tuned: np.ndarray) -> np.ndarray:
    """The normalised geometric mean of two sets of out-of-fold probabilities.

    A run's fine-tuned features put more images in their class than frozen ones, but the
    run also memorised most wrong labels of its train part, so on its features alone a
    wrong label mostly looks right. The frozen features never saw a label. Where either
    model doubts the given label the product does too, and where both agree the doubt is
    sharper: it flags better than either alone (bench/audit.py, figures in
    bench/RESULTS.md).
    """
    log = 0.5 * (np.log(np.clip(frozen, 1e-12, None)) + np.log(np.clip(tuned, 1e-12, None)))
    joint = np.exp(log - log.max(axis=1, keepdims=True))
    return joint / joint.sum(axis=1, keepdims=True)


# --- 3. confident learning ---------------------------------------------------------------


def find_flags(
    features: np.ndarray,
    labels: np.ndarray,
    probs: np.ndarray,
    off_topic_z: float = OFF_TOPIC_Z,
    max_quality: float | None = None,
):
    """[(index, suggested label or None, score, kind)] for the flagged images.

    kind `off_topic`: the features are far from every class centroid (`off_topic_mask`)
    and the out-of-fold model does not put the image in its given class; no class is
    suggested. kind `label`: with `max_quality=None` cleanlab's confident
    learning (`find_label_issues`, filter_by `FILTER_BY`) says the label is wrong, else the
    label quality is below `max_quality`; the most probable other class is suggested.
    `score` is cleanlab's label quality (0..1, low is bad).
    """
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    quality = get_label_quality_scores(labels, probs)
    if max_quality is None:
        issues = find_label_issues(labels, probs, filter_by=FILTER_BY, n_jobs=1)
    else:
        issues = quality < max_quality
    # An image the fold model (which never saw it) puts in its given class resembles that
    # class: not off-topic, however far it is from the centroids (small sets, odd angles).
    off_topic = off_topic_mask(features, labels, off_topic_z) & (probs.argmax(axis=1) != labels)
    flags: list[tuple[int, int | None, float, str]] = []
    for i in np.flatnonzero(issues | off_topic):
        if off_topic[i]:
            flags.append((int(i), None, float(quality[i]), "off_topic"))
        else:
            ranked = [int(k) for k in np.argsort(-probs[i]) if k != labels[i]]
            flags.append((int(i), ranked[0], float(quality[i]), "label"))
    return flags


def off_topic_mask(features: np.ndarray, labels: np.ndarray, z: float) -> np.ndarray:
    """Images unlike every class: the cosine distance to the nearest class centroid (the
    mean direction of the images labelled so) more than `z` robust deviations (1.4826 MAD)
    above the median.

    Centroids rather than nearest neighbours: off-topic images often look like each other
    (plain-colour boxes, logos), so their nearest neighbours are close while every class
    is far. Labels barely move a centroid unless a class is mostly wrong.
    """
    if len(features) < 3:
        return np.zeros(len(features), dtype=bool)
    unit = _unit(features)
    centroids = _unit(np.stack([unit[labels == k].mean(axis=0) for k in np.unique(labels)]))
    distance = 1.0 - (unit @ centroids.T).max(axis=1)
    median = float(np.median(distance))
    spread = 1.4826 * float(np.median(np.abs(distance - median))) or 1e-12
    return (distance - median) / spread > z


def _unit(features: np.ndarray) -> np.ndarray:
    return features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)
