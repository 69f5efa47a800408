"""How much work a run plans, and the recipe it plans from (trainer/plan.py, recipe.py,
config.py, spec.py): no backend is imported here."""

from __future__ import annotations

from dataclasses import replace
from unittest import mock

import pytest

import trainer.spec
from trainer.config import Job, RunRequest, job_from_params, jobs_for
from trainer.errors import TrainerError
from trainer.plan import resolve, work_plan
from trainer.recipe import RECIPES, Recipe, parse_settings, recipe_for
from trainer.spec import parse_spec

PER_CLASS = Recipe().deep_per_class


def job(backbone: str = "mobilenet_v2+efficientnet_lite0", **settings) -> Job:
    [one] = jobs_for(RunRequest(backbone, weights="none"), settings)
    return one


def test_auto_depth_goes_deep_from_enough_images_per_class_and_keeps_what_was_given():
    small = resolve(job(), PER_CLASS * 10 - 1, 10).recipe
    big = resolve(job(), PER_CLASS * 10, 10).recipe
    assert (small.fine_tune_depth, small.fine_tune_learning_rate) == ("standard", 3e-4)
    assert (big.fine_tune_depth, big.fine_tune_learning_rate) == ("deep", 6e-4)
    assert job().recipe.fine_tune_depth == "auto" and job().recipe.fine_tune_learning_rate is None
    given = job(fine_tune_depth="standard", fine_tune_learning_rate=1e-4)
    kept = resolve(given, 100_000, 10).recipe
    assert (kept.fine_tune_depth, kept.fine_tune_learning_rate) == ("standard", 1e-4)
    fewer = job(deep_per_class=5)  # the line itself is a recipe field
    assert resolve(fewer, 50, 10).recipe.fine_tune_depth == "deep"


def test_the_size_comes_from_the_recipe_and_never_from_the_member_order():
    big, small = PER_CLASS * 10, PER_CLASS * 10 - 1
    one, other = job("mobilenet_v2+efficientnet_lite0"), job("efficientnet_lite0+mobilenet_v2")
    assert one.recipe == other.recipe
    assert resolve(one, big, 10).request.size == resolve(other, big, 10).request.size == 288
    assert resolve(one, small, 10).request.size == 224  # standard depth: the members' own
    assert resolve(job("efficientnet_lite2"), big, 10).request.size == 260  # no deep size
    given = replace(one, request=replace(one.request, size=160))
    assert resolve(given, big, 10).request.size == 160  # what was given stays
    assert one.request.size is None  # the caller's job is not changed
    assert resolve(job("efficientnet_lite2", deep_size=320), big, 10).request.size == 320


def test_recipes_are_keyed_by_the_set_of_members():
    for names in RECIPES:
        assert isinstance(names, frozenset)
    assert recipe_for(["efficientnet_lite0", "mobilenet_v2"]) == recipe_for(
        ["mobilenet_v2", "efficientnet_lite0"]
    )
    assert recipe_for(["vgg16"]) == Recipe()


def test_work_plan_keeps_small_sets_whole_and_bounds_large_ones():
    one, two = job("efficientnet_lite0"), job("mobilenet_v2+efficientnet_lite0")
    assert work_plan(one, 280) == {"augment_passes": 5, "fine_tune_samples": 5 * 280}
    assert work_plan(two, 280) == {"augment_passes": 5, "fine_tune_samples": 5 * 280}
    assert work_plan(one, 4500) == {"augment_passes": 4, "fine_tune_samples": 9000}
    assert work_plan(two, 4500) == {"augment_passes": 2, "fine_tune_samples": 4500}
    assert work_plan(one, 50_000) == {"augment_passes": 1, "fine_tune_samples": 9000}
    unbounded = job("efficientnet_lite0", image_pass_budget=0, fine_tune_samples=0)
    assert work_plan(unbounded, 50_000) == {"augment_passes": 5, "fine_tune_samples": 250_000}


def test_settings_are_typed_and_checked_against_the_recipe_fields():
    assert parse_settings(["fine_tune_epochs=0", "fine-tune-learning-rate=none"]) == {
        "fine_tune_epochs": 0,
        "fine_tune_learning_rate": None,
    }
    assert parse_settings(["dropout=0.25", "fine_tune_from=block_9_add,"]) == {
        "dropout": 0.25,
        "fine_tune_from": "block_9_add,",
    }
    for bad, says in [
        ("bogus=1", "KEY one of"),
        ("fine_tune_epochs", "KEY=VALUE"),
        ("fine_tune_epochs=two", "an integer"),
        ("fine_tune_epochs=-1", "at least 0"),
        ("fine_tune_depth=deeper", "one of auto, standard, deep"),
        ("dropout=1.5", "between"),
        ("patience=none", "an integer"),  # not optional
        ("label_smoothing=0.1", "KEY one of"),  # measured, left off, gone
    ]:
        with pytest.raises(TrainerError, match=says):
            parse_settings([bad])


def test_a_cut_that_does_not_fit_the_spec_is_refused_before_anything_trains():
    with pytest.raises(TrainerError, match="one layer per backbone"):
        job(fine_tune_from="block_9_add")
    assert job(fine_tune_from="block_9_add,").recipe.fine_tune_from == "block_9_add,"


def test_a_spec_is_parsed_once_per_run():
    with mock.patch.object(trainer.spec, "_member_names", wraps=trainer.spec._member_names) as m:
        jobs = jobs_for(RunRequest("mobilenet_v2+efficientnet_lite0", "none"), {})
        resolved = resolve(jobs[0], 1000, 10)
        work_plan(resolved, 1000)
        resolved.spec.cuts(resolved.recipe.fine_tune_from, deep=True)
        assert m.call_count == 1
        assert len(jobs_for(RunRequest("all", "none"))) == 3
        assert m.call_count == 4  # one per original backbone


def test_stored_params_of_old_and_new_runs_load_onto_the_two_halves():
    old = {  # a run row's params before the recipe layer: one flat dict
        "backbone": "efficientnet_lite0+mobilenet_v2",
        "weights": "none",
        "split": "default",
        "epochs": 3,
        "fine_tune_epochs": 2,
        "fine_tune_depth": "deep",
        "fine_tune_learning_rate": 6e-4,
        "size": 96,
        "label_smoothing": 0.0,
        "fine_tune_schedule": "constant",
        "fine_tune_ema": 0.0,
    }
    loaded = job_from_params(old)
    assert loaded.request.epochs == 3 and loaded.request.size == 96
    assert loaded.recipe.fine_tune_epochs == 2 and loaded.recipe.fine_tune_depth == "deep"
    assert [m.name for m in loaded.spec.members] == ["efficientnet_lite0", "mobilenet_v2"]
    again = job_from_params(loaded.params())
    assert again == loaded
    assert "recipe" in loaded.params() and "fine_tune_epochs" not in loaded.params()


def test_spec_members_weights_and_cuts():
    spec = parse_spec("mobilenet_v2+efficientnet_lite0", "a.h5,imagenet")
    assert [(m.name, m.weights) for m in spec.members] == [
        ("mobilenet_v2", "a.h5"),
        ("efficientnet_lite0", "imagenet"),
    ]
    assert spec.names == frozenset({"mobilenet_v2", "efficientnet_lite0"})
    assert spec.default_size == 224
    assert parse_spec("mobilenet_v2+efficientnet_lite2").default_size == 260
    assert spec.cuts(None, deep=False) == ["block_12_add", "block10_add"]
    assert spec.cuts("block_9_add, block7_add", deep=False) == ["block_9_add", "block7_add"]
    assert spec.cuts(",block7_add", deep=False) == ["block_12_add", "block7_add"]
    assert spec.cuts(None, deep=True) == ["block_9_add", "block7_add"]
    assert spec.cuts("block_12_add,", deep=True) == ["block_12_add", "block7_add"]
    assert parse_spec("vgg16").cuts(None, deep=True) == ["block4_pool"]  # no deep cut
    for backbone, weights, says in [
        ("mobilenet_v2+alexnet", "none", "unknown backbone"),
        ("mobilenet_v2+mobilenet_v2", "none", "each backbone once"),
        ("mobilenet_v2+efficientnet_lite0", "none,none,none", "one per backbone"),
    ]:
        with pytest.raises(TrainerError, match=says):
            parse_spec(backbone, weights)
