"""Audit features from a trained run: `train audit --run ID`.

Confident learning is only as good as the out-of-fold probabilities it is given, and those
are only as good as the features. A run of the trainer has fine-tuned its backbones on the
split's own classes, so a K-fold linear model on its pooled features (what its head sees)
puts far more images in their class than one on frozen ImageNet features, for one
inference pass per image (bench/audit.py, figures in bench/RESULTS.md).

But the run trained on the split's train part with the labels as they were: it memorised
most of the wrong ones, so on its features alone a wrong label mostly looks right. The audit
therefore joins these probabilities with the frozen features' (`audit.product_of_experts`):
fewer flags, far more of them right. Test images were never trained on.

Features are kept as float16 under `cache/audit/run<ID>-<model digest>/` (one file per
image), so a second audit of the same run decodes nothing; another model file is another
folder.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from catalog import Catalog

from .cache import audit_dir
from .errors import TrainerError
from .vectors import read_vector, write_vector

Progress = Callable[[int, int], None]


def check_run(run: dict, split: str) -> None:
    """A run can audit a split when it finished training on that split."""
    if run["status"] != "finished":
        raise TrainerError(f"run {run['id']} is {run['status']}; audit with a finished run")
    if run["split"] != split:
        raise TrainerError(
            f"run {run['id']} trained on split {run['split']!r}, not {split!r}; "
            f"audit split {run['split']!r} or train on split {split!r} first"
        )


def run_features(
    cat: Catalog,
    rows: list[dict],
    run: dict,
    classes: list[str],
    batch_size: int = 32,
    on_progress: Progress | None = None,
) -> tuple[np.ndarray, list[dict], list[int]]:
    """((N, F) features, each member's block at unit length, the rows they belong to, ids of
    unreadable images), from the run's saved model, streamed `batch_size` images at a time.

    The run must know exactly `classes`, the split's classes now.
    """
    from .data import decode_rows
    from .evaluate import load_run_model
    from .unknown import feature_model, normalise

    model, trained = load_run_model(cat, run)
    if sorted(trained) != sorted(classes):
        raise TrainerError(
            f"run {run['id']} was trained on other classes than the split has now; train again"
        )
    net, widths = feature_model(model)
    size = int(model.input_shape[1])
    folder = _folder(cat, run)
    found = {r["id"]: read_vector(folder, r["sha256"]) for r in rows}
    todo = [r for r in rows if found[r["id"]] is None]
    done, unreadable = len(rows) - len(todo), []
    if on_progress:
        on_progress(done, len(rows))
    for start in range(0, len(todo), batch_size):
        chunk = todo[start : start + batch_size]
        batch, pixels, bad = decode_rows(cat, chunk, size)
        unreadable += bad
        if batch:
            _, features = net.predict_on_batch(np.stack(pixels).astype(np.float32))
            for r, vector in zip(batch, np.asarray(features).astype(np.float16), strict=True):
                found[r["id"]] = vector
                write_vector(folder, r["sha256"], vector)
        done += len(chunk)
        if on_progress:
            on_progress(done, len(rows))
    pairs = [(r, v) for r in rows if (v := found[r["id"]]) is not None]
    if not pairs:
        return np.zeros((0, sum(widths)), np.float32), [], unreadable
    stacked = np.stack([v for _, v in pairs]).astype(np.float32)
    return normalise(stacked, widths), [r for r, _ in pairs], unreadable


def _folder(cat: Catalog, run: dict) -> Path:
    model = cat.root / run["artifacts"]["model"]
    digest = hashlib.sha256()
    with open(model, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return audit_dir(cat) / f"run{run['id']}-{digest.hexdigest()[:16]}"
