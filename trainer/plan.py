"""How much work a run does, decided before any backend loads: its fine-tune depth, rate
and input size by images per class, its augmentation passes and fine-tune samples by
dataset size.

Kept free of Keras so the command line and fast tests can use it.
"""

from __future__ import annotations

from dataclasses import replace

from .backbones import RECOMMENDED_BACKBONE, default_size
from .config import TrainConfig

SCHEDULES = ("constant", "cosine")  # the fine-tune learning rate over its epochs
DEPTHS = ("auto", "standard", "deep")
# A deep fine-tune (one stage more, at twice the rate) needs data: on a sneakers41 CV fold
# (~64 training images per class) it raised top-1 from 0.744 to 0.807, on sneakers10's
# 3 folds (~18 per class) it lowered it (bench/tune.py, issue 11). The line between them is
# not measured more finely than that; 50 sits between the two.
DEEP_PER_CLASS = 50
FINE_TUNE_RATES = {"standard": 3e-4, "deep": 6e-4}
# A deep fine-tune of the recommended ensemble upscales its input from the members' 224 px
# to 288: the photos this tool gathers are small (sneakers41 ~140 px, sneakers10 ~200 px),
# and at 288 the cut's maps are 18x18 instead of 14x14. Deep at 288 raised sneakers41's CV
# fold from 0.807 / 0.901 to 0.823 / 0.918 (top-1 / top-3) and its default split from
# 0.814 / 0.925 to 0.847 / 0.938, for 1.2-1.8x the time; on sneakers10's 3 folds (standard
# depth) 288 gave 0.848 / 0.967 against 0.865 / 0.950, no top-1 gain, so small sets stay
# at 224 (bench/tune.py `deep-s288`, `s288`).
DEEP_SIZE = 288


def resolve_depth(cfg: TrainConfig, n_train: int, n_classes: int) -> TrainConfig:
    """`cfg` with `fine_tune_depth` auto resolved by images per class, and the fine-tune
    learning rate of that depth where none was given."""
    depth = cfg.fine_tune_depth
    if depth == "auto":
        depth = "deep" if n_train >= DEEP_PER_CLASS * max(1, n_classes) else "standard"
    rate = cfg.fine_tune_learning_rate or FINE_TUNE_RATES[depth]
    return replace(cfg, fine_tune_depth=depth, fine_tune_learning_rate=rate)


def resolve_size(cfg: TrainConfig) -> TrainConfig:
    """`cfg` with its input size: as given, else `DEEP_SIZE` for a deep fine-tune of the
    recommended ensemble, else the spec's own (the largest member's). After resolve_depth."""
    if cfg.size:
        return cfg
    if cfg.backbone == RECOMMENDED_BACKBONE and cfg.fine_tune_depth == "deep":
        return replace(cfg, size=DEEP_SIZE)
    return replace(cfg, size=default_size(cfg.backbone))


def work_plan(cfg: TrainConfig, n_train: int, n_members: int) -> dict:
    """How many augment passes and fine-tune samples per epoch this run does (issue 10).

    Time grows with passes x images (every pass runs the backbone over every image, and
    each fine-tune epoch runs the top forward and backward over every pass of every
    image). Up to `image_pass_budget` image-passes (images x passes x backbones) the
    configured passes run in full, as on sneakers10 (~280 train images: 5 passes); above
    it fewer passes (at least the plain one), and each fine-tune epoch draws at most
    `fine_tune_samples` (shared by the backbones) fresh random samples, so 5,000 images
    train within 20 minutes on 2 CPU cores (bench/train.py --scale). A budget of 0 turns
    the limit off.
    """
    work = max(1, n_train * n_members)
    passes = (
        cfg.augment_passes
        if cfg.image_pass_budget <= 0
        else max(1, min(cfg.augment_passes, cfg.image_pass_budget // work))
    )
    samples = passes * n_train
    if cfg.fine_tune_samples > 0:
        samples = min(samples, max(cfg.batch_size, cfg.fine_tune_samples // n_members))
    return {"augment_passes": passes, "fine_tune_samples": samples}
