"""How much work a run does, decided before any backend loads: its fine-tune depth, rate
and input size by images per class, its augmentation passes and fine-tune samples by
dataset size. Every rule reads the run's recipe; none compares backbone names.

Kept free of Keras so the command line and fast tests can use it.
"""

from __future__ import annotations

from .config import Job


def resolve(job: Job, n_train: int, n_classes: int) -> Job:
    """`job` with its fine-tune depth (`auto`: deep from the recipe's images per class),
    the fine-tune rate of that depth where none was given, and its input size: as given,
    else the recipe's `deep_size` for a deep fine-tune, else the spec's own."""
    recipe = job.recipe
    depth = recipe.fine_tune_depth
    if depth == "auto":
        depth = "deep" if n_train >= recipe.deep_per_class * max(1, n_classes) else "standard"
    rate = recipe.fine_tune_learning_rate or (
        recipe.deep_rate if depth == "deep" else recipe.standard_rate
    )
    size = job.request.size
    if not size:
        size = (depth == "deep" and recipe.deep_size) or job.spec.default_size
    return job.with_recipe(fine_tune_depth=depth, fine_tune_learning_rate=rate).with_request(
        size=size
    )


def work_plan(job: Job, n_train: int) -> dict:
    """How many augment passes and fine-tune samples per epoch this run does.

    Time grows with passes x images (every pass runs the backbone over every image, and
    each fine-tune epoch runs the top forward and backward over every pass of every
    image). Up to the recipe's `image_pass_budget` image-passes (images x passes x
    backbones) the recipe's passes run in full; above it fewer passes (at least the plain
    one), and each fine-tune epoch draws at most `fine_tune_samples` (shared by the
    backbones) fresh random samples, so large sets train in bounded time
    (bench/train.py --scale). A budget of 0 turns the limit off.
    """
    recipe, n_members = job.recipe, len(job.spec.members)
    work = max(1, n_train * n_members)
    passes = (
        recipe.augment_passes
        if recipe.image_pass_budget <= 0
        else max(1, min(recipe.augment_passes, recipe.image_pass_budget // work))
    )
    samples = passes * n_train
    if recipe.fine_tune_samples > 0:
        samples = min(samples, max(job.request.batch_size, recipe.fine_tune_samples // n_members))
    return {"augment_passes": passes, "fine_tune_samples": samples}
