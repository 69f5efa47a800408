"""How much work a run plans (trainer/plan.py): no backend is imported here."""

from __future__ import annotations

from trainer.config import TrainConfig
from trainer.plan import DEEP_PER_CLASS, DEEP_SIZE, resolve_depth, resolve_size, work_plan


def test_auto_depth_goes_deep_from_enough_images_per_class_and_keeps_what_was_given():
    """Issue 11: the deep fine-tune helped sneakers41 (~64 images per class) and hurt
    sneakers10 (~18 per class), so `auto` decides by images per class."""
    cfg = TrainConfig()
    small = resolve_depth(cfg, DEEP_PER_CLASS * 10 - 1, 10)
    big = resolve_depth(cfg, DEEP_PER_CLASS * 10, 10)
    assert (small.fine_tune_depth, small.fine_tune_learning_rate) == ("standard", 3e-4)
    assert (big.fine_tune_depth, big.fine_tune_learning_rate) == ("deep", 6e-4)
    assert cfg.fine_tune_depth == "auto" and cfg.fine_tune_learning_rate is None
    given = TrainConfig(fine_tune_depth="standard", fine_tune_learning_rate=1e-4)
    kept = resolve_depth(given, 100_000, 10)
    assert (kept.fine_tune_depth, kept.fine_tune_learning_rate) == ("standard", 1e-4)


def test_a_deep_fine_tune_of_the_recommended_ensemble_upscales_and_nothing_else_does():
    """Session 6: 288 px helped sneakers41 (deep) and not sneakers10 (standard)."""
    big, small = DEEP_PER_CLASS * 10, DEEP_PER_CLASS * 10 - 1
    assert resolve_size(resolve_depth(TrainConfig(), big, 10)).size == DEEP_SIZE == 288
    assert resolve_size(resolve_depth(TrainConfig(), small, 10)).size == 224
    lite2 = TrainConfig("efficientnet_lite2")
    assert resolve_size(resolve_depth(lite2, big, 10)).size == 260  # only the recommended one
    given = TrainConfig(size=160)
    assert resolve_size(resolve_depth(given, big, 10)).size == 160  # what was given stays
    assert TrainConfig().size is None  # the caller's config is not changed


def test_work_plan_keeps_small_sets_whole_and_bounds_large_ones():
    cfg = TrainConfig("efficientnet_lite0")
    assert work_plan(cfg, 280, 1) == {
        "augment_passes": 5,
        "fine_tune_samples": 5 * 280,
    }  # sneakers10: as before
    assert work_plan(cfg, 280, 2) == {"augment_passes": 5, "fine_tune_samples": 5 * 280}
    assert work_plan(cfg, 4500, 1) == {"augment_passes": 4, "fine_tune_samples": 9000}
    assert work_plan(cfg, 4500, 2) == {"augment_passes": 2, "fine_tune_samples": 4500}
    assert work_plan(cfg, 50_000, 1) == {"augment_passes": 1, "fine_tune_samples": 9000}
    unbounded = TrainConfig("efficientnet_lite0", image_pass_budget=0, fine_tune_samples=0)
    assert work_plan(unbounded, 50_000, 1) == {"augment_passes": 5, "fine_tune_samples": 250_000}
