"""Two-phase fine-tuning of a registry backbone on a catalog split, recorded as a run.

Phase 1 trains the head on cached features of the frozen backbone; phase 2 unfreezes the
top of the backbone (BatchNorm excepted) at a low learning rate and trains it on cached
activations of the frozen bottom (see `features`). Each phase backs up its
state every epoch, so `train --resume RUN` continues an interrupted run where it stopped.

`--backbone a+b` trains an ensemble as one run: each member is cut and cached as above,
the head sees their pooled features concatenated, phase 2 fine-tunes every member's top,
and the saved model takes raw pixels once. With `flip_tta` (the default) the saved model
averages each image's and its mirror image's probabilities (bench/RESULTS.md: it lowered
the cross-validated log loss).

A run is a `config.Job`: the user's request, its parsed spec and its recipe.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import keras
import numpy as np

from catalog import (
    RUNS_FOLDER,
    Catalog,
    disk_full,
    fail_run,
    get_run,
    start_run,
    update_run,
    write_text_atomic,
)

from . import backend
from .backbones import build_backbone, parse_weights
from .candidates import (
    CollapseStop,
    EpochProgress,
    PreciseHeadStatistics,
    choose,
    validation_scores,
)
from .config import Job, job_from_params
from .data import (
    SplitData,
    cache_dir,
    class_weights,
    features_dir,
    fill_cache,
    labels_of,
    load_split,
)
from .errors import TrainerError
from .features import (
    FEATURES_FILE,
    CachedRows,
    Halves,
    feature_pass,
    pass_seeds,
    pooled_pass,
)
from .heartbeat import beating
from .model import (
    HeadConfig,
    build_classifier,
    build_features,
    build_head,
    freeze,
    split_backbone,
    top_classifier,
    unfreeze,
)
from .plan import resolve, work_plan
from .unknown import evaluate_and_calibrate

MODEL_FILE, LABELS_FILE = "model.keras", "labels.json"
# The frozen backbones as pixels -> pooled features, kept beside a fine-tuned model: the
# `unknown` rule measures distances in these features (see `unknown`).
FEATURES_MODEL_FILE = "unknown_features.keras"
HEAD_STATISTICS_BATCHES = 16  # training batches the head's BatchNorm statistics are taken on
# Called with (stage, classifier) after phase 1 and after each fine-tune epoch: the
# classifier takes raw pixels, as the saved model will. For measuring, e.g. accuracy
# against time in a benchmark; what it returns is ignored and nothing it does reaches training.
Checkpoint = Callable[[str, keras.Model], object]
RUNS_DIR = RUNS_FOLDER  # beside the catalog; artefact paths are stored relative to its folder


def train(
    cat: Catalog,
    job: Job | None,
    *,
    resume: int | None = None,
    verbose: int = 0,
    on_checkpoint: Checkpoint | None = None,
) -> dict:
    """Train, save, evaluate on the test subset and record everything; returns the run row.

    `job` is what to train (`config.jobs_for`); with `resume` it is None and the stored
    run's own job is continued. `on_checkpoint(stage, classifier)` is called after phase 1
    and after each fine-tune epoch; the time it takes is recorded as `seconds.checkpoints`
    and is part of `total`.

    Example:
        >>> [job] = jobs_for(RunRequest("mobilenet_v2", weights="mobilenet.weights.h5"))
        >>> train(cat, job)["metrics"]["top1"]
    """
    processes, process_id = backend.initialize_hosts()  # before anything runs on JAX
    if resume is not None:
        run = get_run(cat, resume)
        if run["status"] == "finished":
            raise TrainerError(f"run {resume} already finished; nothing to resume")
        job = job_from_params(run["params"])
    assert job is not None, "train() needs a job or a run to resume"
    weights = [parse_weights(m.weights) for m in job.spec.members]
    request = job.request
    data = load_split(
        cat,
        request.split,
        accepted_only=request.accepted_only,
        val_fraction=job.recipe.val_fraction,
        seed=request.seed,
        exclude_flagged=request.exclude_flagged,
    )
    # The run's own job, completed: the caller's is left as it was.
    job = resolve(job.with_request(split=data.split), len(data.train), len(data.classes))
    # The layout is checked before a run row exists: a bad --devices records no failed run.
    spread = Spread(
        backend.configure(devices=request.devices),
        len(data.train),
        len(data.val),
        class_weights(labels_of(data.train), len(data.classes)),
    )
    spread.batch = backend.check_batch(request.batch_size)
    if process_id != 0:  # only process 0 writes the run's row, model and reports
        return _train_worker(cat, job, data, weights, spread, verbose)
    if resume is None:
        run = start_run(cat, job.spec.text, data.split, request.weights, job.params())
    run_dir = cat.root / RUNS_DIR / str(run["id"])
    run_dir.mkdir(parents=True, exist_ok=True)
    update_run(cat, run["id"], status="running")
    backend.share_run_id(run["id"])
    with beating(cat, run["id"]):  # a killed process stops beating: `train runs` shows it died
        try:
            metrics, artifacts = _train_in(
                cat, job, data, weights, run_dir, verbose, on_checkpoint, spread
            )
        except KeyboardInterrupt:
            update_run(cat, run["id"], status="interrupted")
            raise
        except BaseException as exc:
            full = disk_full(exc, f"run {run['id']}'s files in {run_dir} or the caches beside it")
            fail_run(cat, run["id"], str(full or exc))
            if full is not None:
                raise full from None
            raise
        update_run(cat, run["id"], metrics=metrics, artifacts=artifacts)
        # The test metrics and the `unknown` threshold, in one pass over the test images.
        evaluate_and_calibrate(cat, run["id"], data)
    return update_run(cat, run["id"], status="finished", finished=True)


@dataclass
class Spread:
    """How a run is spread: the device layout `backend.configure` chose, the split's train
    count before sharding (each process plans with it), and this process's part of a
    global batch."""

    device: dict
    train_count: int
    val_count: int
    class_weights: dict[int, float]
    batch: int = 0


def _train_worker(
    cat: Catalog,
    job: Job,
    data: SplitData,
    weights: list[str | None],
    spread: Spread,
    verbose: int,
) -> dict:
    """A process other than 0 of a run over several processes: it trains its shard in step
    with the others, in a folder of its own that is removed at the end, and returns the run's
    row as process 0 has written it so far."""
    run_id = backend.share_run_id(None)
    with tempfile.TemporaryDirectory(prefix=f"run-{run_id}-process-") as folder:
        _train_in(cat, job, data, weights, Path(folder), verbose, None, spread)
    return get_run(cat, run_id)


def _train_in(
    cat: Catalog,
    job: Job,
    data: SplitData,
    weights: list[str | None],
    run_dir: Path,
    verbose: int,
    on_checkpoint: Checkpoint | None = None,
    spread: Spread | None = None,
) -> tuple[dict, dict]:
    started = time.perf_counter()
    request = job.request
    assert request.size is not None, "train() gives the run its input size (plan.resolve)"
    assert spread is not None, "train() chooses the device layout (backend.configure)"
    size: int = request.size
    counts = data.counts()
    processes, process_id = backend.process()
    data = _shard(data, processes, process_id)
    backend.seed_everything(request.seed)
    modes = [m.backbone.preprocess for m in job.spec.members]
    timings: dict[str, float] = {}

    def checkpoint(stage: str) -> None:
        if on_checkpoint is not None:
            t = time.perf_counter()
            on_checkpoint(
                stage, build_classifier(bases, head, modes, size, flip_tta=request.flip_tta)
            )
            timings["checkpoints"] = timings.get("checkpoints", 0.0) + _lap(t)

    with backend.strategy_scope():
        bases, parts = _build_members(job, weights, size)
        y_train, y_val = labels_of(data.train), labels_of(data.val)
        plan = work_plan(job, spread.train_count)
        pixel_cache, root, batch = cache_dir(cat), features_dir(cat), backend.inference_batch_size()
        fill_cache(data.train + data.val, size, pixel_cache)
        timings["decode"] = _lap(started)
        t = time.perf_counter()
        # [pass][member] paths of float16 maps on disk; nothing of them stays in memory.
        train_maps = [
            feature_pass(parts, data.train, size, pixel_cache, root, s, batch)
            for s in pass_seeds(plan["augment_passes"], request.seed)
        ]
        val_maps = (
            feature_pass(parts, data.val, size, pixel_cache, root, None, batch)
            if data.val
            else None
        )
        timings["bottom"] = _lap(t)
        _record_features(run_dir / FEATURES_FILE, plan, train_maps, val_maps)
        phases = PhaseInputs(
            job,
            parts,
            train_maps,
            val_maps,
            y_train,
            y_val,
            len(data.classes),
            run_dir,
            verbose,
            spread,
        )
        head = _phase_head(phases, timings)
        checkpoint("head")
        shipped = {"model": "head", "why": "no fine-tune epochs were asked for"}
        frozen: list[list] | None = None
        if job.recipe.fine_tune_epochs > 0:
            t = time.perf_counter()
            each_epoch = keras.callbacks.LambdaCallback(
                on_epoch_end=lambda epoch, logs: checkpoint(f"fine-tune {epoch + 1}")
            )
            shipped, frozen = _phase_top(phases, head, plan["fine_tune_samples"], [each_epoch])
            timings["fine_tune"] = _lap(t)
        for base in bases:
            freeze(base)
        model = build_classifier(bases, head, modes, size, flip_tta=request.flip_tta)
        if process_id == 0:
            with backend.alone():
                model.save(run_dir / MODEL_FILE)
        # (another process's folder is its own temporary one, outside the catalog's)
        rel = run_dir.relative_to(cat.root).as_posix() if process_id == 0 else run_dir.name
        artifacts = {"model": f"{rel}/{MODEL_FILE}", "labels": f"{rel}/{LABELS_FILE}"}
        if frozen is not None and shipped["model"] == "fine-tune":
            _restore_tops(parts, frozen)  # the saved model above keeps the fine-tuned weights
            if process_id == 0:
                with backend.alone():
                    build_features(bases, modes, size).save(run_dir / FEATURES_MODEL_FILE)
            artifacts["unknown_features"] = f"{rel}/{FEATURES_MODEL_FILE}"
    write_text_atomic(
        run_dir / LABELS_FILE, json.dumps({"classes": data.classes, "input_size": size}, indent=1)
    )
    timings["total"] = _lap(started)
    metrics = {
        "seconds": {k: round(v, 2) for k, v in timings.items()},
        "counts": counts,
        "device": spread.device,
        "plan": plan,
        "shipped": shipped,
    }
    return metrics, artifacts


def _shard(data: SplitData, processes: int, process_id: int) -> SplitData:
    """This process's part of the train and validation images: every processes-th one
    (each process decodes and caches only its own); the test images stay whole (process 0
    evaluates)."""
    if processes == 1:
        return data
    return replace(
        data, train=data.train[process_id::processes], val=data.val[process_id::processes]
    )


def _restore_tops(parts: list[Halves], weights: list[list]) -> None:
    for member, values in zip(parts, weights, strict=True):
        member.top.set_weights(values)


def _build_members(
    job: Job, weights: list[str | None], size: int
) -> tuple[list[keras.Model], list[Halves]]:
    """Each backbone built, frozen and cut in two, with the key its cached maps are filed under."""
    bases, parts = [], []
    deep = job.recipe.fine_tune_depth == "deep"
    cuts = job.spec.cuts(job.recipe.fine_tune_from, deep=deep)
    for i, (member, w, cut) in enumerate(zip(job.spec.members, weights, cuts, strict=True)):
        entry = member.backbone
        base = build_backbone(entry.name, w, size)
        freeze(base)
        bottom, top = split_backbone(base, entry.preprocess, size, cut, tag=f"_{i}" if i else "")
        key = {
            "backbone": entry.name,
            "weights": _weights_identity(w, job, i),
            "cut": cut,
            "size": size,
            "policy": keras.mixed_precision.global_policy().name,
            "backend": keras.backend.backend(),
        }
        bases.append(base)
        parts.append(Halves(bottom, top, key))
    return bases, parts


def _weights_identity(weights: str | None, job: Job, index: int) -> str:
    """What makes two runs' backbone weights the same: a file's content, or the seeded random
    init."""
    if weights is None:
        return f"random:{job.spec.text}:{index}:seed{job.request.seed}"
    if weights == "imagenet":
        return "imagenet"
    digest = hashlib.sha256()
    with open(weights, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return f"sha256:{digest.hexdigest()}"


def _record_features(
    path: Path, plan: dict, train_maps: list[list[Path]], val_maps: list[Path] | None
) -> None:
    """Which cache files this run trained on (written once: a resumed run keeps it)."""
    if path.exists():
        return
    record = {
        "plan": plan,
        "train": [[str(p) for p in per_pass] for per_pass in train_maps],
        "val": [str(p) for p in val_maps] if val_maps else [],
    }
    write_text_atomic(path, json.dumps(record, indent=1))


def _lap(since: float) -> float:
    return time.perf_counter() - since


def _by_member(per_pass: list[list[Path]]) -> list[list[Path]]:
    """[pass][member] -> [member][pass]."""
    return [list(files) for files in zip(*per_pass, strict=True)]


@dataclass(frozen=True)
class PhaseInputs:
    """What both training phases read: the run's job, the cut backbones, the cached maps
    on disk, the labels, and where the run keeps its files."""

    job: Job
    parts: list[Halves]
    train_maps: list[list[Path]]  # [pass][member] paths of float16 bottom maps
    val_maps: list[Path] | None  # [member], or None without a validation subset
    y_train: np.ndarray
    y_val: np.ndarray
    n_classes: int
    run_dir: Path
    verbose: int
    spread: Spread

    def rows(
        self, files: list[list[Path]], labels: np.ndarray, total: int, **options
    ) -> CachedRows:
        """Batches of cached rows of `total` images (over all processes), each batch this
        process's part of a global one: over several devices padded so that they take equal
        parts, over several processes as many batches in every process (see `CachedRows`)."""
        processes, _ = backend.process()
        batch, replicas = self.spread.batch, self.spread.device["devices"]
        limit = options.pop("max_samples", None)
        if processes == 1:
            return CachedRows(files, labels, batch, pad_to=replicas, max_samples=limit, **options)
        # The largest shard's samples per epoch, in every process.
        samples = -(-total // processes) * len(files[0])
        if limit:
            limit = -(-limit // processes)
            samples = min(samples, limit)
        steps = -(-samples // batch)
        return CachedRows(
            files, labels, batch, pad_to=batch, steps=steps, max_samples=limit, **options
        )


def _phase_head(inputs: PhaseInputs, timings: dict[str, float]) -> keras.Model:
    """Phase 1: pooled features once per image and pass (on disk), then the head trains on
    them; `timings` gets the seconds of `features` and `head`."""
    recipe, request = inputs.job.recipe, inputs.job.request
    parts, n_classes, y_train = inputs.parts, inputs.n_classes, inputs.y_train
    width = sum(int(m.top.output.shape[-1]) for m in parts)
    head = build_head(width, n_classes, HeadConfig(recipe.head_width, recipe.dropout))
    head_weights = inputs.run_dir / "head.weights.h5"
    if head_weights.exists():  # resuming after phase 1 finished
        head.load_weights(head_weights)
        return head
    t = time.perf_counter()
    batch = backend.inference_batch_size()
    train_f = [pooled_pass(parts, per_pass, batch) for per_pass in inputs.train_maps]
    val_f = pooled_pass(parts, inputs.val_maps, batch) if inputs.val_maps else None
    timings["features"] = _lap(t)
    t = time.perf_counter()
    spread = inputs.spread
    train_ds = inputs.rows(
        _by_member(train_f),
        y_train,
        spread.train_count,
        weights=spread.class_weights,
        shuffle=True,
        seed=request.seed,
        concat=True,
    )
    val_ds = (
        inputs.rows([[p] for p in val_f], inputs.y_val, spread.val_count, concat=True)
        if val_f
        else None
    )
    _compile(head, recipe.learning_rate, n_classes)
    head.fit(
        train_ds,
        epochs=request.epochs,
        verbose=inputs.verbose,
        validation_data=val_ds,
        callbacks=_callbacks(
            recipe.patience, inputs.run_dir / "backup" / "head", val_ds is not None
        ),
    )
    head.save_weights(head_weights)
    timings["head"] = _lap(t)
    return head


def _phase_top(
    inputs: PhaseInputs,
    head: keras.Model,
    samples: int,
    extra: Sequence[keras.callbacks.Callback] = (),
) -> tuple[dict, list[list]]:
    """Phase 2: the top of each backbone (BatchNorm excepted) and the head, on the cached maps.

    Batches of maps are read from disk and converted to float32 one at a time; each epoch
    draws at most `samples` of them, and `extra` callbacks run beside the run's own.

    The head alone is scored on the validation images first and stays a candidate (see
    `candidates`): when the fine-tune does not beat it, the tops and the head get their
    phase-1 weights back. Returns the `shipped` record and the tops' phase-1 weights.
    """
    recipe, request = inputs.job.recipe, inputs.job.request
    parts, n_classes, y_train = inputs.parts, inputs.n_classes, inputs.y_train
    for m in parts:
        unfreeze(m.top)
    model = top_classifier([m.top for m in parts], head)
    spread = inputs.spread
    train_ds = inputs.rows(
        _by_member(inputs.train_maps),
        y_train,
        spread.train_count,
        weights=spread.class_weights,
        shuffle=True,
        seed=request.seed + 1,
        max_samples=samples,
    )
    val_ds = (
        inputs.rows([[p] for p in inputs.val_maps], inputs.y_val, spread.val_count)
        if inputs.val_maps
        else None
    )
    assert recipe.fine_tune_learning_rate is not None, "train() resolves it (plan.resolve)"
    _compile(model, recipe.fine_tune_learning_rate, n_classes)
    # Before fit: a resumed phase 2 restores its backup when fit starts, so these are the
    # phase-1 weights on a first run and a resumed one alike.
    frozen, head_weights = [m.top.get_weights() for m in parts], head.get_weights()
    head_scores = validation_scores(model, val_ds) if val_ds is not None else None
    stop = CollapseStop(head_scores.accuracy) if head_scores is not None else None
    statistics = PreciseHeadStatistics(model, head, _Gathered(train_ds), HEAD_STATISTICS_BATCHES)
    backup = inputs.run_dir / "backup" / "fine_tune"
    model.fit(
        train_ds,
        epochs=recipe.fine_tune_epochs,
        verbose=inputs.verbose,
        validation_data=val_ds,
        callbacks=[
            *_callbacks(recipe.patience, backup, val_ds is not None),
            *([stop] if stop else []),
            statistics,
            EpochProgress(
                "fine-tune epoch", recipe.fine_tune_epochs, train_ds.samples, spread.batch
            ),
            *extra,
        ],
    )
    fine_scores = validation_scores(model, val_ds) if val_ds is not None else None
    shipped = choose(head_scores, fine_scores, stop.reason if stop else None)
    if shipped["model"] == "head":
        _restore_tops(parts, frozen)
        head.set_weights(head_weights)
    return shipped, frozen


class _Gathered:
    """Batch i of `rows` with every other process's batch i joined to it: the head's
    BatchNorm statistics are taken on these, so every process sets the same values (a
    replicated variable must hold the same value everywhere). One process: `rows` itself."""

    def __init__(self, rows: CachedRows) -> None:
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> tuple:
        return (backend.gather(self.rows[index][0]),)


def _compile(model: keras.Model, rate: float, n_classes: int) -> None:
    model.compile(
        optimizer=keras.optimizers.Adam(rate),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        # top-3 only says something with more than three classes
        metrics=[
            "accuracy",
            *(
                [keras.metrics.SparseTopKCategoricalAccuracy(3, name="top3")]
                if n_classes > 3
                else []
            ),
        ],
    )


def _callbacks(patience: int, backup: Path, has_val: bool) -> list[keras.callbacks.Callback]:
    """BackupAndRestore (the resume mechanism: weights, optimizer and epoch) and early
    stopping, which ends with the best epoch's weights (Keras restores them at the end of
    training even when it did not stop early)."""
    monitor = "val_loss" if has_val else "loss"
    return [
        keras.callbacks.BackupAndRestore(str(backup)),
        keras.callbacks.EarlyStopping(
            monitor=monitor, patience=patience, restore_best_weights=True
        ),
    ]
