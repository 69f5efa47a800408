"""Two-phase fine-tuning of a registry backbone on a catalog split, recorded as a run.

Phase 1 trains the head on cached features of the frozen backbone; phase 2 unfreezes the
top of the backbone (BatchNorm excepted) at a low learning rate and trains it on cached
activations of the frozen bottom (see `features`). Each phase backs up its
state every epoch, so `train --resume RUN` continues an interrupted run where it stopped.

`--backbone a+b` trains an ensemble as one run: each member is cut and cached as above,
the head sees their pooled features concatenated, phase 2 fine-tunes every member's top,
and the saved model takes raw pixels once. With `flip_tta` (the default) the saved model
averages each image's and its mirror image's probabilities: in 5-fold cross-validation on
the sneakers10 train subset it lowered the log loss for every head configuration tried.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path

import keras
import numpy as np

from catalog import Catalog
from catalog.runs import get_run, start_run, update_run

from . import backend
from .backbones import build_backbone, default_size, members, parse_weights, run_specs
from .config import TrainConfig
from .data import SplitData, cache_dir, class_weights, labels_of, load_split, pixels
from .errors import TrainerError
from .evaluate import evaluate_run
from .features import bottom_maps, cached_features
from .model import HeadConfig, build_classifier, build_head, freeze, split_backbone, top_classifier, unfreeze

MODEL_FILE, LABELS_FILE = "model.keras", "labels.json"
# Called with (stage, classifier) after phase 1 and after each fine-tune epoch: the
# classifier takes raw pixels, as the saved model will. For measuring, e.g. accuracy
# against time in a benchmark; what it returns is ignored and nothing it does reaches training.
Checkpoint = Callable[[str, keras.Model], object]
RUNS_DIR = "runs"  # beside the catalog; artefact paths are stored relative to its folder


def train_backbones(cat: Catalog, cfg: TrainConfig, *, verbose: int = 0) -> list[dict]:
    """Train `cfg.backbone` (a name or an ensemble `a+b`), or each of the original three
    when it is `all`; the run rows. Every spec is checked before the first run starts.

    Example:
        >>> runs = train_backbones(cat, TrainConfig("all", weights="none", epochs=1))
    """
    names = run_specs(cfg.backbone, cfg.weights)
    return [train(cat, replace(cfg, backbone=name), verbose=verbose) for name in names]


def train(
    cat: Catalog, cfg: TrainConfig, *, resume: int | None = None, verbose: int = 0, on_checkpoint: Checkpoint | None = None
) -> dict:
    """Train, save, evaluate on the test subset and record everything; returns the run row.

    `on_checkpoint(stage, classifier)` is called after phase 1 and after each fine-tune
    epoch; the time it takes is recorded as `seconds.checkpoints` and is part of `total`.

    Example:
        >>> run = train(cat, TrainConfig("mobilenet_v2", weights="mobilenet.weights.h5", epochs=30))
        >>> run["metrics"]["top1"]
    """
    if resume is not None:
        run = get_run(cat, resume)
        if run["status"] == "finished":
            raise TrainerError(f"run {resume} already finished; nothing to resume")
        cfg = TrainConfig.from_params(run["params"])
    parts = members(cfg.backbone, cfg.weights)
    if cfg.fine_tune_from and len(parts) > 1:
        raise TrainerError("--fine-tune-from names a layer of one backbone; an ensemble fine-tunes each member from its default cut")
    cfg.size = cfg.size or default_size(cfg.backbone)
    weights = [parse_weights(w) for _, w in parts]
    data = load_split(cat, cfg.split, accepted_only=cfg.accepted_only, val_fraction=cfg.val_fraction, seed=cfg.seed,
                      exclude_flagged=cfg.exclude_flagged)
    cfg.split = data.split
    if resume is None:
        run = start_run(cat, cfg.backbone, data.split, cfg.weights, asdict(cfg))
    run_dir = cat.root / RUNS_DIR / str(run["id"])
    run_dir.mkdir(parents=True, exist_ok=True)
    update_run(cat, run["id"], status="running")
    try:
        metrics, artifacts = _train_in(cat, cfg, data, weights, run_dir, verbose, on_checkpoint)
    except KeyboardInterrupt:
        update_run(cat, run["id"], status="interrupted")
        raise
    except BaseException as exc:
        update_run(cat, run["id"], status="failed", metrics={"error": str(exc)[:500]}, finished=True)
        raise
    update_run(cat, run["id"], metrics=metrics, artifacts=artifacts)
    evaluate_run(cat, run["id"])
    return update_run(cat, run["id"], status="finished", finished=True)


def _train_in(cat: Catalog, cfg: TrainConfig, data: SplitData, weights: list[str | None], run_dir: Path, verbose: int,
              on_checkpoint: Checkpoint | None = None):
    started = time.perf_counter()
    info = backend.configure()
    backend.seed_everything(cfg.seed)
    entries = [entry for entry, _ in members(cfg.backbone, cfg.weights)]
    modes = [entry.preprocess for entry in entries]
    timings: dict[str, float] = {}

    def checkpoint(stage: str) -> None:
        if on_checkpoint is not None:
            t = time.perf_counter()
            on_checkpoint(stage, build_classifier(bases, head, modes, cfg.size, flip_tta=cfg.flip_tta))
            timings["checkpoints"] = timings.get("checkpoints", 0.0) + _lap(t)

    with backend.strategy_scope():
        bases, bottoms, tops = [], [], []
        for i, (entry, w) in enumerate(zip(entries, weights)):
            base = build_backbone(entry.name, w, cfg.size)
            freeze(base)
            cut = (cfg.fine_tune_from if len(entries) == 1 else None) or entry.cut
            bottom, top = split_backbone(base, entry.preprocess, cfg.size, cut, tag=f"_{i}" if i else "")
            bases.append(base), bottoms.append(bottom), tops.append(top)
        x_train = pixels(data.train, cfg.size, cache_dir(cat))
        x_val = pixels(data.val, cfg.size, cache_dir(cat))
        y_train, y_val = labels_of(data.train), labels_of(data.val)
        timings["decode"] = _lap(started)
        t = time.perf_counter()
        m_train = bottom_maps(bottoms, x_train, cfg.augment_passes, cfg.seed, cfg.batch_size)
        m_val = (bottom_maps(bottoms, x_val, 1, cfg.seed, cfg.batch_size) if len(x_val) else [m[:1, :0] for m in m_train])
        m_val = [m[0] for m in m_val]
        timings["bottom"] = _lap(t)
        head = _phase_head(cfg, tops, m_train, y_train, m_val, y_val, len(data.classes), run_dir, verbose, timings)
        checkpoint("head")
        if cfg.fine_tune_epochs > 0:
            t = time.perf_counter()
            each_epoch = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: checkpoint(f"fine-tune {epoch + 1}"))
            _phase_top(cfg, tops, head, m_train, y_train, m_val, y_val, len(data.classes), run_dir, verbose, [each_epoch])
            timings["fine_tune"] = _lap(t)
        for base in bases:
            freeze(base)
        model = build_classifier(bases, head, modes, cfg.size, flip_tta=cfg.flip_tta)
    model.save(run_dir / MODEL_FILE)
    (run_dir / LABELS_FILE).write_text(json.dumps({"classes": data.classes, "input_size": cfg.size}, indent=1))
    timings["total"] = _lap(started)
    metrics = {"seconds": {k: round(v, 2) for k, v in timings.items()}, "counts": data.counts(), "device": info}
    rel = run_dir.relative_to(cat.root).as_posix()
    artifacts = {"model": f"{rel}/{MODEL_FILE}", "labels": f"{rel}/{LABELS_FILE}"}
    return metrics, artifacts


def _lap(since: float) -> float:
    return time.perf_counter() - since


def _phase_head(cfg, tops, m_train, y_train, m_val, y_val, n_classes, run_dir, verbose, timings):
    """Phase 1: pooled features once per image and pass, then the head trains on them."""
    t = time.perf_counter()
    f_train, f_val = cached_features(run_dir / "features.npz", tops, m_train, m_val, cfg.batch_size)
    timings["features"] = _lap(t)
    t = time.perf_counter()
    head = build_head(f_train.shape[-1], n_classes, HeadConfig(cfg.head_width, cfg.dropout))
    head_weights = run_dir / "head.weights.h5"
    if head_weights.exists():  # resuming after phase 1 finished
        head.load_weights(head_weights)
        return head
    x, y = _flatten_passes(f_train, y_train)
    _compile(head, cfg.learning_rate, n_classes)
    head.fit(
        x, y, batch_size=cfg.batch_size, epochs=cfg.epochs, shuffle=True, verbose=verbose,
        validation_data=(f_val, y_val) if len(y_val) else None,
        class_weight=class_weights(y, n_classes),
        callbacks=_callbacks(cfg, run_dir / "backup" / "head", len(y_val) > 0),
    )
    head.save_weights(head_weights)
    timings["head"] = _lap(t)
    return head


def _phase_top(cfg, tops, head, m_train, y_train, m_val, y_val, n_classes, run_dir, verbose, extra=()) -> None:
    """Phase 2: the top of each backbone (BatchNorm excepted) and the head, on the cached maps."""
    for top in tops:
        unfreeze(top)
    model = top_classifier(tops, head)
    flat = [_flatten_passes(m, y_train) for m in m_train]
    x, y = [f[0] for f in flat], flat[0][1]
    x, m_val = (x[0], m_val[0]) if len(x) == 1 else (x, m_val)
    _compile(model, cfg.fine_tune_learning_rate, n_classes)
    model.fit(
        x, y, batch_size=cfg.batch_size, epochs=cfg.fine_tune_epochs, shuffle=True, verbose=verbose,
        validation_data=(m_val, y_val) if len(y_val) else None,
        class_weight=class_weights(y, n_classes),
        callbacks=[*_callbacks(cfg, run_dir / "backup" / "fine_tune", len(y_val) > 0), *extra],
    )


def _flatten_passes(per_pass: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(passes, N, ...) -> (passes * N, ...) with the labels repeated to match."""
    return per_pass.reshape(-1, *per_pass.shape[2:]), np.tile(labels, per_pass.shape[0])


def _compile(model: keras.Model, lr: float, n_classes: int) -> None:
    model.compile(
        optimizer=keras.optimizers.Adam(lr),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy", keras.metrics.SparseTopKCategoricalAccuracy(min(3, n_classes), name="top3")],
    )


def _callbacks(cfg: TrainConfig, backup: Path, has_val: bool) -> list[keras.callbacks.Callback]:
    # BackupAndRestore is the resume mechanism: it restores weights, optimizer and epoch.
    monitor = "val_loss" if has_val else "loss"
    return [
        keras.callbacks.BackupAndRestore(str(backup)),
        keras.callbacks.EarlyStopping(monitor=monitor, patience=cfg.patience, restore_best_weights=True),
    ]
