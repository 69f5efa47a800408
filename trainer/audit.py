"""Label audit (issue 15): find mislabelled and off-topic images of a split.

1. Features: every usable image of the split (train and test) goes once, with its mirror
   image, through the frozen backbone; the two pooled feature vectors are averaged and
   kept as float16 under `cache/audit/` beside the catalog, one file per image, so a
   second audit decodes nothing. Images stream through in batches: memory holds one
   batch of pixels and the (N, F) features, never all pixels.
2. Out-of-fold probabilities: K-fold logistic regression on those features (scikit-learn),
   so each image is scored by a model that never saw its label.
3. Confident learning: `cleanlab.filter.find_label_issues` flags the label errors and
   `cleanlab.rank.get_label_quality_scores` ranks them; cleanlab's `OutOfDistribution`
   (kNN distance on the features) finds images unlike any class: off-topic.

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
    atomic_write,
    class_names,
    image_file,
    record_audit,
    split_images,
)

from .backbones import get_backbone, parse_weights
from .errors import TrainerError

Progress = Callable[[int, int], None]
DEFAULT_AUDIT_BACKBONE = "efficientnet_lite0"
# Off-topic: a kNN distance this many robust standard deviations (MAD) above the median;
# high, so only images unlike the whole set count (a small set has a noisy MAD).
OFF_TOPIC_Z = 5.0
# Label errors: cleanlab's label quality (the out-of-fold probability of the given label)
# below this. On the noisy sneakers41 bench it was more precise and found more than
# find_label_issues' own estimate of how many labels are wrong (see README).
MAX_QUALITY = 0.02


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
    max_quality: float | None = MAX_QUALITY  # None: cleanlab's find_label_issues decides


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


def run_audit(cat: Catalog, cfg: AuditConfig, on_progress: Progress | None = None) -> AuditResult:
    """Audit a split's usable images and record the flags; returns what was found.

    Example:
        >>> result = run_audit(cat, AuditConfig(split="default", folds=5))
        >>> [f["sha256"] for f in result.flags if f["kind"] == "off_topic"]
    """
    from .data import resolve_split

    started = time.perf_counter()
    split = resolve_split(cat, cfg.split)
    entry = get_backbone(cfg.backbone)
    size = cfg.size or entry.input_size
    rows = split_images(cat, split, statuses=USABLE_STATUSES)
    classes = [name for name in class_names(cat) if any(r["class"] == name for r in rows)]
    if len(classes) < 2:
        raise TrainerError(
            f"split {split!r} has {len(classes)} class(es) with usable images; an audit needs at "
            "least 2"
        )
    features, kept, unreadable = split_features(cat, rows, cfg, size, on_progress)
    t_features = time.perf_counter() - started
    labels = np.array([classes.index(r["class"]) for r in kept])
    probs = out_of_fold_probabilities(features, labels, cfg.folds, cfg.seed)
    flags = find_flags(features, labels, probs, cfg.off_topic_z, cfg.max_quality)
    records = [
        Flag(kept[i]["id"], classes[labels[i]], None if s is None else classes[s], q, kind)
        for i, s, q, kind in flags
    ]
    params = {
        **asdict(cfg),
        "split": split,
        "size": size,
        "images": len(kept),
        "unreadable": unreadable,
    }
    audit_id = record_audit(cat, split, cfg.backbone, params, records)
    by_id = {r["id"]: r for r in kept}
    listed = [
        {**asdict(f), "sha256": by_id[f.image_id]["sha256"], "subset": by_id[f.image_id]["subset"]}
        for f in records
    ]
    listed.sort(key=lambda f: (f["score"], f["image_id"]))
    seconds = {"features": t_features, "total": time.perf_counter() - started}
    return AuditResult(
        audit_id, split, len(kept), listed, per_class_counts(kept, records), unreadable, seconds
    )


def per_class_counts(rows: list[dict], flags: list[Flag]) -> dict[str, dict[str, int]]:
    """class -> {"images", "label", "off_topic"}: how many of each given class were flagged."""
    counts: dict[str, dict[str, int]] = {}
    for r in rows:
        counts.setdefault(r["class"], {"images": 0, "label": 0, "off_topic": 0})["images"] += 1
    for f in flags:
        counts[f.given_class][f.kind] += 1
    return dict(sorted(counts.items()))


# --- 1. features -------------------------------------------------------------------------


def feature_extractor(backbone: str, weights: str, size: int):
    """Raw pixels -> the frozen backbone's pooled features, averaged over the image and its
    mirror."""
    import keras

    from .backbones import build_backbone
    from .layers import HorizontalFlip, Preprocess

    base = build_backbone(backbone, parse_weights(weights), size)
    base.trainable = False
    inputs = keras.Input((size, size, 3), name="pixels")
    prepare = Preprocess(get_backbone(backbone).preprocess, name="preprocess")
    pool = keras.layers.GlobalAveragePooling2D(name="gap")
    views = [inputs, HorizontalFlip(name="mirror")(inputs)]
    pooled = [pool(base(prepare(view), training=False)) for view in views]
    return keras.Model(
        inputs,
        keras.layers.Average(dtype="float32", name="features")(pooled),
        name="audit_features",
    )


def feature_cache(cat: Catalog, backbone: str, weights: str, size: int) -> Path | None:
    """Where an image's features are kept; None for random weights (not reproducible)."""
    if weights == "none":
        return None
    tag = weights if weights == "imagenet" else Path(weights).stem
    return cat.root / "cache" / "audit" / f"{backbone}-{tag}-{size}"


def split_features(
    cat: Catalog, rows: list[dict], cfg: AuditConfig, size: int, on_progress: Progress | None
):
    """((N, F) float32 features, the rows they belong to, ids of unreadable images).

    Cached images are read back; the rest stream through the backbone `batch_size` at a
    time. An unreadable image is skipped and reported, the others go on.
    """
    from .data import decode

    folder = feature_cache(cat, cfg.backbone, cfg.weights, size)
    found: dict[int, np.ndarray] = {}
    todo = []
    for r in rows:
        cached = _read(folder, r["sha256"]) if folder else None
        if cached is None:
            todo.append(r)
        else:
            found[r["id"]] = cached
    done = len(found)
    if on_progress:
        on_progress(done, len(rows))
    unreadable: list[int] = []
    model = feature_extractor(cfg.backbone, cfg.weights, size) if todo else None
    for start in range(0, len(todo), cfg.batch_size):
        batch, pixels = [], []
        for r in todo[start : start + cfg.batch_size]:
            try:
                pixels.append(decode(image_file(cat, r), size))
                batch.append(r)
            except TrainerError:
                unreadable.append(r["id"])
        if batch:
            assert model is not None  # built above whenever there is anything to do
            out = np.asarray(model.predict_on_batch(np.stack(pixels).astype(np.float32))).astype(
                np.float16
            )
            for r, vector in zip(batch, out, strict=True):
                found[r["id"]] = vector
                if folder:
                    _write(folder, r["sha256"], vector)
        done += len(todo[start : start + cfg.batch_size])
        if on_progress:
            on_progress(done, len(rows))
    kept = [r for r in rows if r["id"] in found]
    features = (
        np.stack([found[r["id"]] for r in kept]).astype(np.float32)
        if kept
        else np.zeros((0, 0), np.float32)
    )
    return features, kept, unreadable


def _path(folder: Path, sha256: str) -> Path:
    return folder / sha256[:2] / f"{sha256}.npy"


def _read(folder: Path, sha256: str) -> np.ndarray | None:
    path = _path(folder, sha256)
    try:
        from .data import load_npy  # the data module loads Keras; the CLI imports this one at start

        return load_npy(path) if path.exists() else None
    except (OSError, ValueError):
        return None  # a damaged cache file is computed again


def _write(folder: Path, sha256: str, vector: np.ndarray) -> None:
    path = _path(folder, sha256)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path, prefix="tmp", suffix=".npy") as fh:  # a reader never sees half
        np.save(fh, vector)


# --- 2. out-of-fold probabilities --------------------------------------------------------


def head_classifier(seed: int = 0):
    """L2-normalised features -> multinomial logistic regression.

    Chosen on sneakers41 with injected noise (bench/audit.py): C=10 on unit-length features
    gave more precise flags than a standardised, strongly regularised model (C=0.05).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import Normalizer

    return make_pipeline(Normalizer(), LogisticRegression(C=10, max_iter=300, random_state=seed))


def out_of_fold_probabilities(
    features: np.ndarray, labels: np.ndarray, folds: int, seed: int
) -> np.ndarray:
    """(N, K) probabilities, each row from the fold model that did not train on that image."""
    import warnings

    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    if folds < 2:
        raise TrainerError(f"an audit needs at least 2 folds. Received: folds={folds}")
    largest = int(np.bincount(labels).max())
    splitter = StratifiedKFold(n_splits=min(folds, largest), shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        # Classes smaller than `folds` are fine: their missing columns are filled with 0.
        warnings.simplefilter("ignore", UserWarning)
        probs = cross_val_predict(
            head_classifier(seed), features, labels, cv=splitter, method="predict_proba"
        )
    return np.asarray(probs, dtype=np.float64)


# --- 3. confident learning ---------------------------------------------------------------


def find_flags(
    features: np.ndarray,
    labels: np.ndarray,
    probs: np.ndarray,
    off_topic_z: float = OFF_TOPIC_Z,
    max_quality: float | None = MAX_QUALITY,
):
    """[(index, suggested label or None, score, kind)] for the flagged images.

    kind `off_topic`: the features are far from every other image (cleanlab's kNN
    OutOfDistribution score, a robust outlier below the median); no class is suggested.
    kind `label`: the label quality is below `max_quality`, or with `max_quality=None`
    cleanlab's confident learning (`find_label_issues`) says the label is wrong; the most
    probable other class is suggested. `score` is cleanlab's label quality (0..1, low is bad).
    """
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    quality = get_label_quality_scores(labels, probs)
    if max_quality is None:
        issues = find_label_issues(labels, probs, filter_by="both")
    else:
        issues = quality < max_quality
    off_topic = off_topic_mask(features, off_topic_z)
    flags: list[tuple[int, int | None, float, str]] = []
    for i in np.flatnonzero(issues | off_topic):
        if off_topic[i]:
            flags.append((int(i), None, float(quality[i]), "off_topic"))
        else:
            ranked = [int(k) for k in np.argsort(-probs[i]) if k != labels[i]]
            flags.append((int(i), ranked[0], float(quality[i]), "label"))
    return flags


def off_topic_mask(features: np.ndarray, z: float) -> np.ndarray:
    """Images far from their nearest neighbours: cleanlab's kNN out-of-distribution score
    turned back into a distance (-log), more than `z` robust deviations (1.4826 MAD) above
    the median distance."""
    from cleanlab.outlier import OutOfDistribution

    if len(features) < 3:
        return np.zeros(len(features), dtype=bool)
    k = min(10, len(features) - 1)
    scores = OutOfDistribution(params={"k": k}).fit_score(features=_unit(features), verbose=False)
    distance = -np.log(np.maximum(scores, 1e-300))
    median = float(np.median(distance))
    spread = 1.4826 * float(np.median(np.abs(distance - median))) or 1e-12
    return (distance - median) / spread > z


def _unit(features: np.ndarray) -> np.ndarray:
    return features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)
