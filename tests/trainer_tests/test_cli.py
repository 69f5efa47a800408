"""`train` through its command line: train, runs, evaluate, predict, and offline failures."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.error

from typer.testing import CliRunner

from catalog import get_image, image_file, open_catalog
from catalog.runs import run_predictions
from trainer.cli import app

runner = CliRunner()


def test_train_vgg16_weights_none_then_runs_evaluate_predict(small_catalog):
    path, ids = small_catalog
    args = ["--backbone", "vgg16", "--weights", "none", "--epochs", "1", "--size", "32",
            "--fine-tune-epochs", "1", "--catalog", str(path)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "vgg16" in result.output and "finished" in result.output

    result = runner.invoke(app, ["runs", "--catalog", str(path)])
    assert result.exit_code == 0, result.output
    assert "vgg16" in result.output and "finished" in result.output

    result = runner.invoke(app, ["evaluate", "1", "--catalog", str(path)])
    assert result.exit_code == 0, result.output
    assert f"on {len(ids['test'])} test images" in result.output

    with open_catalog(path) as cat:
        stored = run_predictions(cat, 1)[0]
        image = image_file(cat, get_image(cat, stored.image_id))
    result = runner.invoke(app, ["predict", str(image), "--run", "1", "--top", "2", "--catalog", str(path)])
    assert result.exit_code == 0, result.output
    ranked = result.output.strip().splitlines()[-1].split("\t")[1].split()
    assert ranked[::2] == [c for c, _ in stored.top_k[:2]]


def test_imagenet_offline_fails_in_seconds_with_the_message(small_catalog, monkeypatch):
    path, _ = small_catalog

    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr("keras.src.utils.file_utils.urlretrieve", offline)
    started = time.monotonic()
    result = runner.invoke(app, ["--backbone", "resnet50", "--weights", "imagenet", "--catalog", str(path)])
    assert time.monotonic() - started < 60
    assert result.exit_code == 1
    assert "ImageNet weights for resnet50" in result.output
    assert "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5" in result.output
    assert "Traceback" not in result.output
    with open_catalog(path) as cat:
        assert cat.db.execute("SELECT status FROM runs").fetchall() == [("failed",)]


def test_errors_are_messages_not_tracebacks(small_catalog):
    path, _ = small_catalog
    for args, expected in [
        (["--backbone", "alexnet"], "unknown backbone 'alexnet'"),
        (["--backbone", "vgg16", "--split", "nope"], "unknown split 'nope'"),
        (["evaluate", "7"], "no run with id 7"),
        ([], "give --backbone NAME"),
        (["--backbone", "vgg16", "--weights", "none", "--size", "32", "--fine-tune-from", "nope"], "no inner layer 'nope'"),
    ]:
        result = runner.invoke(app, [*args, "--catalog", str(path)])
        assert result.exit_code == 1, result.output
        assert expected in result.output and "Traceback" not in result.output


def test_predict_without_runs_says_to_train_first(small_catalog, tmp_path):
    path, _ = small_catalog
    image = tmp_path / "x.png"
    image.write_bytes(b"not read")
    result = runner.invoke(app, ["predict", str(image), "--catalog", str(path)])
    assert result.exit_code == 1 and "no finished run" in result.output


def test_help_runs_as_a_subprocess():
    result = subprocess.run([sys.executable, "-m", "trainer.cli", "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "--backbone" in result.stdout and "predict" in result.stdout


def test_backbone_all_trains_the_three_original_backbones_and_compares_them(small_catalog):
    path, _ = small_catalog
    args = ["--backbone", "all", "--weights", "none", "--epochs", "1", "--fine-tune-epochs", "0",
            "--augment-passes", "1", "--size", "75", "--catalog", str(path)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    table = result.output[result.output.index("trained"):].splitlines()
    assert [line.split()[1] for line in table[2:5]] == ["resnet50", "vgg16", "inception_v3"]
    with open_catalog(path) as cat:
        rows = cat.db.execute("SELECT backbone, status FROM runs ORDER BY id").fetchall()
    assert rows == [("resnet50", "finished"), ("vgg16", "finished"), ("inception_v3", "finished")]
