"""Honest advice (issue 16, item 2): a warning before training from scratch on a small set,
and `--backbone all` that trains every backbone it can and reports each failure at the end."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from catalog import open_catalog
from trainer import advice
from trainer.cli import app
from trainer.config import RunRequest, jobs_for
from trainer.errors import WeightsError

runner = CliRunner()


def test_scratch_warning_only_for_random_weights_on_a_small_split(small_catalog, monkeypatch):
    path, ids = small_catalog
    with open_catalog(path) as cat:
        warning = advice.scratch_warning(cat, jobs("vgg16", "none"))
        assert warning is not None
        assert (
            "vgg16 would train from random weights (--weights none) "
            f"on {len(ids['train'])} training images" in warning
        )
        assert "`train --backbone efficientnet_lite0`" in warning
        assert advice.scratch_warning(cat, jobs("vgg16", "imagenet")) is None
        both = advice.scratch_warning(cat, jobs("all", "none"))
        assert both is not None and both.startswith("inception_v3, resnet50, vgg16 would train")
        assert (
            advice.scratch_warning(cat, jobs("vgg16", "none", "no_such_split")) is None
        )  # training says why
        monkeypatch.setattr(advice, "SCRATCH_ENOUGH", len(ids["train"]))
        assert advice.scratch_warning(cat, jobs("vgg16", "none")) is None


def jobs(backbone: str, weights: str, split: str | None = None):
    return jobs_for(RunRequest(backbone, weights, split))


def _fake_train(cat, job, **kwargs):
    backbone = job.spec.text
    if backbone == "resnet50":
        raise WeightsError(
            "could not get the ImageNet weights for resnet50 (offline).\nsecond line"
        )
    return {
        "id": {"vgg16": 2, "inception_v3": 3}[backbone],
        "backbone": backbone,
        "split": "default",
        "weights": job.request.weights,
        "status": "finished",
        "metrics": {"top1": 0.5},
    }


@pytest.mark.slow  # imports Keras (trainer.train)
def test_backbone_all_trains_the_others_and_reports_each_failure_at_the_end(
    small_catalog, monkeypatch
):
    """Issue 16: `train --backbone all` stopped at the first backbone whose weights were missing."""
    import trainer.train

    path, _ = small_catalog
    monkeypatch.setattr(trainer.train, "train", _fake_train)
    result = runner.invoke(
        app, ["--backbone", "all", "--weights", "imagenet", "--catalog", str(path)]
    )
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert [line.split()[1] for line in lines if line.strip()[:1].isdigit()] == [
        "vgg16",
        "inception_v3",
    ]
    assert (
        lines[-1] == "failed: resnet50: could not get the ImageNet weights for resnet50 (offline)."
    )
    assert "warning:" not in result.output  # ImageNet weights: no advice needed


@pytest.mark.slow  # imports Keras (trainer.train)
def test_train_weights_none_warns_before_training_starts(small_catalog, monkeypatch):
    """Issue 16: `--weights none` cost 14 minutes for top-1 0.12 (chance 0.10) without a word."""
    import trainer.train

    path, _ = small_catalog
    seen = []
    monkeypatch.setattr(
        trainer.train,
        "train",
        lambda cat, job, **kw: seen.append(job.spec.text) or _fake_train(cat, job),
    )
    result = runner.invoke(
        app, ["--backbone", "vgg16", "--weights", "none", "--catalog", str(path)]
    )
    assert result.exit_code == 0, result.output
    assert result.output.startswith("warning: vgg16 would train from random weights")
    assert "efficientnet_lite0" in result.output and seen == ["vgg16"]
