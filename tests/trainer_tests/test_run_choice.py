"""Which run answers `train predict`, `train use RUN`, and failed runs with their reason
(issue 16, item 6)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from catalog import CatalogError, open_catalog
from catalog.runs import start_run, update_run
from trainer import predict
from trainer.cli import app

pytestmark = pytest.mark.slow  # imports Keras (trainer.predict)

runner = CliRunner()
FOUR_CLASSES = {name: {"precision": 1.0, "recall": 1.0, "support": 2} for name in "abcd"}


def _run(cat, status: str, top1: float | None = None, error: str | None = None) -> int:
    run_id = start_run(cat, "mobilenet_v2", "default", "none", {})["id"]
    metrics = {"top1": top1, "top3": 1.0, "per_class": FOUR_CLASSES} if top1 is not None else {}
    if error:
        metrics["error"] = error
    update_run(cat, run_id, status=status, metrics=metrics, finished=True)
    return run_id


def test_predict_skips_a_newest_run_at_chance_and_says_so(cat):
    """Issue 16: predict without --run used the newest finished run even when it scored at
    chance."""
    good = _run(cat, "finished", top1=0.9)
    _run(cat, "finished", top1=0.25)  # four classes: 0.25 is chance
    _run(cat, "failed", error="boom")
    chosen = predict.choose_run(cat)
    assert chosen["id"] == good and "above chance (top-1 0.90, chance 0.25)" in chosen["chosen"]


def test_predict_uses_the_marked_run_then_an_explicit_one(cat):
    useless = _run(cat, "finished", top1=0.1)
    _run(cat, "finished", top1=0.9)
    assert "no finished run scores above chance" not in predict.choose_run(cat)["chosen"]
    update_run(cat, 2, metrics={"top1": 0.2})
    assert "no finished run scores above chance" in predict.choose_run(cat)["chosen"]
    from catalog.runs import set_default_run

    set_default_run(cat, useless)
    assert (predict.choose_run(cat)["id"], predict.choose_run(cat)["chosen"]) == (
        useless,
        "marked with `train use`",
    )
    assert predict.choose_run(cat, 2)["id"] == 2


def test_train_use_refuses_an_unfinished_run_and_marks_a_finished_one(catalog_path):
    with open_catalog(catalog_path) as cat:
        failed, done = _run(cat, "failed", error="x"), _run(cat, "finished", top1=0.5)
    result = runner.invoke(app, ["use", str(failed), "--catalog", str(catalog_path)])
    assert result.exit_code == 1 and f"run {failed} is failed, not finished" in result.output
    result = runner.invoke(app, ["use", str(done), "--catalog", str(catalog_path)])
    assert result.exit_code == 0, result.output
    assert f"train predict now uses run {done} (mobilenet_v2, top-1 0.500)" in result.output
    with open_catalog(catalog_path) as cat:
        assert cat.db.execute("SELECT key, value FROM settings").fetchall() == [
            ("default_run", str(done))
        ]
    listed = runner.invoke(app, ["runs", "--catalog", str(catalog_path)])
    assert f"*{done}" in listed.output


def test_train_runs_hides_failed_runs_unless_all_and_gives_the_reason(catalog_path):
    with open_catalog(catalog_path) as cat:
        failed = _run(
            cat, "failed", error="ImageNet weights for vgg16 are not available offline\nmore"
        )
        done = _run(cat, "finished", top1=0.9)
    result = runner.invoke(app, ["runs", "--catalog", str(catalog_path)])
    assert result.exit_code == 0, result.output
    assert [line.split()[0] for line in result.output.splitlines()[2:-1]] == [str(done)]
    assert "1 failed runs not shown: `train runs --all`" in result.output
    result = runner.invoke(app, ["runs", "--all", "--catalog", str(catalog_path)])
    assert (
        "failed" in result.output
        and "  ImageNet weights for vgg16 are not available offline\n" in result.output
    )
    assert "more" not in result.output  # the first line only
    data = json.loads(
        runner.invoke(app, ["runs", "--all", "--json", "--catalog", str(catalog_path)]).output
    )
    assert [(r["id"], r["reason"]) for r in data][1][0] == failed


class _Model:
    input_shape = (None, 32, 32, 3)

    def predict(self, images, **kwargs):
        return np.tile([0.7, 0.3], (len(images), 1))


def test_predict_says_which_run_answered(catalog_path, tmp_path, monkeypatch):
    with open_catalog(catalog_path) as cat:
        run_id = _run(cat, "finished", top1=0.9)
    monkeypatch.setattr(predict, "load_run_model", lambda cat, run: (_Model(), ["a", "b"]))
    image = tmp_path / "shoe.png"
    Image.new("RGB", (40, 40), "red").save(image)
    result = runner.invoke(app, ["predict", str(image), "--catalog", str(catalog_path)])
    assert result.exit_code == 0, result.output
    assert (
        f"answered by run {run_id} (mobilenet_v2): the newest finished run above chance"
        in result.output
    )
    assert result.stdout.strip().endswith("a 0.700  b 0.300")


def test_default_run_without_a_marked_run_is_none(cat):
    from catalog.runs import default_run, set_default_run

    assert default_run(cat) is None
    with pytest.raises(CatalogError, match="no run with id 9"):
        set_default_run(cat, 9)
