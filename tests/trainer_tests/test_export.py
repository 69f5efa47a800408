"""`train export` (issue 31): each format, run with its own runtime, answers as the Keras model.

Two small real runs are trained once for the module: EfficientNet-Lite0 alone and the
recommended ensemble `mobilenet_v2+efficientnet_lite0`. Their ImageNet weights for
EfficientNet-Lite0 install with the project (offline); a backbone with random weights at
32 px gives the same probabilities for every image, so a comparison with it would prove
nothing. MobileNetV2 in the ensemble keeps random weights (`none`, no download).

The fast tests (missing packages, refused choices) import neither Keras nor TensorFlow.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from trainer_tests.traingen import (
    CLASSES,
    TEST_PER_CLASS,
    TRAIN_PER_CLASS,
    build_catalog,
    class_image,
)
from typer.testing import CliRunner

from catalog import Provenance, add_image, get_image, image_file, open_catalog, split_images
from trainer.cli import app
from trainer.exported import EXTRA, FLOAT_TOLERANCE, FORMATS, predict_exported

runner = CliRunner()
TINY = dict(
    epochs=30,
    learning_rate=0.01,  # the head on 15 images, decisive within 30 epochs on cached features
    fine_tune_epochs=0,
    size=32,
    batch_size=8,
    augment_passes=1,
    val_fraction=0.0,
)
RUNS = {
    "single": ("efficientnet_lite0", "imagenet"),
    "ensemble": ("mobilenet_v2+efficientnet_lite0", "none,imagenet"),
}
CRAWLED = 2  # train images of each class marked as found by an engine, for the model card
KERAS_ANSWERS: dict[str, list] = {}  # run key -> `train predict`'s answers for the test files


# --- fast: no Keras -------------------------------------------------------------------------


def test_a_missing_export_package_is_one_line_naming_the_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "tf2onnx", None)  # find_spec and import both fail
    result = runner.invoke(app, ["export", "--format", "onnx", "--catalog", str(tmp_path / "c.db")])
    assert result.exit_code == 1
    assert result.output.strip() == f"error: --format onnx needs tf2onnx: {EXTRA}"
    assert not (tmp_path / "c.db").exists()  # refused before the catalog opened


def test_a_missing_runtime_is_one_line_naming_the_extra(monkeypatch, tmp_path):
    (tmp_path / "model.onnx").write_bytes(b"")
    (tmp_path / "labels.json").write_text(json.dumps({"classes": ["a", "b"], "input_size": 8}))
    image = tmp_path / "x.png"
    image.write_bytes(class_image(0, 0))
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    result = runner.invoke(app, ["predict", str(image), "--model", str(tmp_path)])
    assert result.exit_code == 1
    assert result.output.strip() == f"error: running an ONNX model needs onnxruntime: {EXTRA}"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--format", "tflite"],
            "use --format onnx, litert or saved_model. Received: format='tflite'",
        ),
        (["--format", "litert", "--quantize", "int4"], "use --quantize float16 or int8"),
        (["--format", "onnx", "--quantize", "int8"], "--quantize is for --format litert only"),
    ],
)
def test_export_refuses_a_wrong_choice_before_loading_anything(args, message, tmp_path):
    result = runner.invoke(app, ["export", *args, "--catalog", str(tmp_path / "c.db")])
    assert result.exit_code == 1 and message in result.output, result.output


def test_predict_model_refuses_run_and_threshold_and_a_folder_without_a_model(tmp_path):
    image = tmp_path / "x.png"
    image.write_bytes(class_image(0, 0))
    for extra, message in [
        (["--run", "1"], "give --run or --model, not both"),
        (["--unknown-threshold", "0.3"], "an exported model has no `unknown` rule"),
        ([], "is not a model `train export` wrote"),
    ]:
        result = runner.invoke(app, ["predict", str(image), "--model", str(tmp_path), *extra])
        assert result.exit_code == 1 and message in result.output, result.output


# --- slow: real runs, real exports ----------------------------------------------------------


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(catalog path, {"single": run, "ensemble": run}, test image files), trained once."""
    from trainer.config import make_job
    from trainer.train import train

    path = tmp_path_factory.mktemp("export") / "catalog.db"
    ids = build_catalog(path)
    with open_catalog(path) as cat:
        for name in CLASSES:  # some images as a crawl would have stored them
            rows = [r for r in split_images(cat, "default", "train") if r["class"] == name]
            for r in rows[:CRAWLED]:
                cat.db.execute(
                    "UPDATE images SET origin = 'download', engine = 'bing', query = ? "
                    "WHERE id = ?",
                    [f"{name} sneaker photo", r["id"]],
                )
        cat.db.commit()
        runs = {
            key: train(cat, make_job(backbone, weights=weights, **TINY), verbose=0)
            for key, (backbone, weights) in RUNS.items()
        }
        files = [image_file(cat, get_image(cat, i)) for i in ids["test"]]
        # Added after the runs: the model card's provenance must not count it.
        add_image(cat, class_image(0, 999), CLASSES[0], Provenance("import"))
    return path, runs, files


@pytest.fixture(scope="module")
def exports(trained, tmp_path_factory):
    """export(run key, format) -> ExportResult, each exported once for the module."""
    from trainer.export import export_run
    from trainer.quiet import import_keras

    import_keras()
    path, runs, _ = trained
    done: dict = {}

    def export(key: str, fmt: str):
        if (key, fmt) not in done:
            out = tmp_path_factory.mktemp(f"{key}-{fmt}")
            with open_catalog(path) as cat:
                done[key, fmt] = export_run(cat, runs[key]["id"], fmt, out=out)
        return done[key, fmt]

    return export


@pytest.mark.slow
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("key", list(RUNS))
def test_each_format_answers_as_the_keras_model_on_every_test_image(trained, exports, key, fmt):
    from trainer.predict import predict_files

    path, runs, files = trained
    result = exports(key, fmt)
    assert {p.name for p in result.folder.iterdir()} == {
        result.model.name,
        "labels.json",
        "MODEL.md",
    }
    assert result.check and result.check.images == len(CLASSES) * TEST_PER_CLASS
    assert result.check.agrees(), result.check.lines()

    # Independently of the export's own check: `train predict --model` against `train predict`.
    model, exported = predict_exported(result.folder, files, top=len(CLASSES))
    assert model.format == fmt and _input_dtype(model) == "uint8"
    if key not in KERAS_ANSWERS:  # the Keras model's, once per run
        with open_catalog(path) as cat:
            KERAS_ANSWERS[key] = predict_files(
                cat, files, run_id=runs[key]["id"], top=len(CLASSES), unknown=False
            )[1]
    keras = KERAS_ANSWERS[key]
    for ours, theirs in zip(exported, keras, strict=True):
        assert ours.top_k[0][0] == theirs.top_k[0][0], (ours, theirs)
        theirs_p = dict(theirs.top_k)
        assert all(abs(p - theirs_p[c]) <= FLOAT_TOLERANCE for c, p in ours.top_k)
    # The runs are decisive enough that 1e-3 tells a right answer from a wrong one.
    assert min(t.top_k[0][1] - t.top_k[1][1] for t in keras) > 10 * FLOAT_TOLERANCE


def _input_dtype(model) -> str:
    """The input dtype the exported file itself declares, read with its runtime."""
    if model.format == "onnx":
        import onnxruntime as ort

        return ort.InferenceSession(str(model.path)).get_inputs()[0].type[len("tensor(") : -1]
    if model.format == "litert":
        from ai_edge_litert.interpreter import Interpreter

        return np.dtype(Interpreter(str(model.path)).get_input_details()[0]["dtype"]).name
    import tensorflow as tf

    serve = tf.saved_model.load(str(model.path)).signatures["serving_default"]
    return serve.structured_input_signature[1]["pixels"].dtype.name


@pytest.mark.slow
@pytest.mark.parametrize("key", list(RUNS))
def test_an_export_without_the_preprocessing_is_caught(trained, key):
    """The export's scaling is in its graph: a model left without it (pixels fed to the
    backbones unscaled) fails the same comparison the exports pass."""
    from trainer.evaluate import load_run_model
    from trainer.export import compare, uint8_model
    from trainer.exported import ExportedModel
    from trainer.layers import Preprocess

    path, runs, _ = trained
    with open_catalog(path) as cat:
        run = runs[key]
        model, classes = load_run_model(cat, run)
        wrong, _ = load_run_model(cat, run)
        for layer in wrong.layers:
            if isinstance(layer, Preprocess):
                layer.mode = "none"  # before its first call: the traced graph has no scaling
        for net, caught in ((wrong, True), (model, False)):
            pixels = uint8_model(net)
            as_export = ExportedModel(
                Path("keras"),
                "onnx",
                "keras",
                classes,
                32,
                lambda x, m=pixels: m.predict(x, verbose=0),
            )
            check = compare(cat, run, model, classes, as_export)
            assert check.agrees() is not caught, check
            if caught:  # far outside the tolerance, not a rounding matter
                assert check.max_difference > 10 * FLOAT_TOLERANCE, check


@pytest.mark.slow
def test_export_cli_default_run_and_a_quantised_litert_prints_the_change(trained, tmp_path):
    path, runs, files = trained
    single = runs["single"]["id"]
    assert runner.invoke(app, ["use", str(single), "--catalog", str(path)]).exit_code == 0
    out = tmp_path / "int8"
    result = runner.invoke(
        app,
        [
            "export",
            "--format",
            "litert",
            "--quantize",
            "int8",
            "--out",
            str(out),
            "--catalog",
            str(path),
        ],
    )
    assert result.exit_code == 0, result.output
    assert f"run {single} (efficientnet_lite0): marked with `train use`" in result.output
    assert (
        "exported as litert (int8)" in result.output and str(out / "model.tflite") in result.output
    )
    assert re.search(
        r"top-1 \d\.\d{3} \(the Keras model: \d\.\d{3}, change [+-]\d\.\d{3}\)", result.output
    )
    assert "(N, 32, 32, 3)" in result.output
    # int8 weights: about a quarter of the float file (EfficientNet-Lite0: 14 MB).
    assert (out / "model.tflite").stat().st_size < 6e6
    answered = runner.invoke(app, ["predict", *map(str, files), "--model", str(out), "--top", "1"])
    assert answered.exit_code == 0, answered.output
    lines = [line for line in answered.output.splitlines() if "\t" in line]
    assert len(lines) == len(files) and all(
        line.split("\t")[1].split()[0] in CLASSES for line in lines
    )
    assert "(litert, LiteRT" in answered.output and "no `unknown` rule" in answered.output


@pytest.mark.slow
def test_the_model_card_says_classes_scores_unknown_contract_provenance_rights(trained, exports):
    _, runs, _ = trained
    run = runs["ensemble"]
    card = (exports("ensemble", "onnx").folder / "MODEL.md").read_text()
    m = run["metrics"]
    assert card.startswith(
        f"# Model card: run {run['id']} (mobilenet_v2+efficientnet_lite0), exported as onnx"
    )
    assert all(f"`{c}`" in card for c in CLASSES)
    assert f"top-1 {m['top1']:.3f} on {m['test_images']} test images" in card
    assert (
        f"above {m['unknown']['threshold']:.3f}" in card
        and "This export does not contain that rule" in card
    )
    assert "`uint8` 0-255, shape `(N, 32, 32, 3)`" in card
    assert "for `mobilenet_v2`: x / 127.5 - 1; for `efficientnet_lite0`: (x - 127) / 128" in card
    assert "mirror image averaged" in card and "pip install onnxruntime numpy pillow" in card
    train_n, test_n = TRAIN_PER_CLASS, TEST_PER_CLASS
    for name in CLASSES:  # the image added after the run is not counted
        crawled = f"import {train_n + test_n - CRAWLED}, bing {CRAWLED}"
        assert f'| {name} | {train_n} | {test_n} | {crawled} | "{name} sneaker photo" |' in card
    assert "remain their owners' work" in card
    assert "the same top-1 class as the Keras model on 6 of 6" in card


@pytest.mark.slow
def test_read_pixels_reads_as_the_trainer_decodes(trained):
    from trainer.data import decode
    from trainer.exported import read_pixels

    _, _, files = trained
    for f in files[:2]:
        assert np.array_equal(read_pixels(f, 40), decode(f, 40))


@pytest.mark.slow
def test_a_fresh_venv_with_only_the_runtime_follows_the_model_card(trained, exports, tmp_path):
    """A user without this project: the card's install line and script, in a new venv."""
    _, _, files = trained
    folder = exports("ensemble", "onnx").folder
    card = (folder / "MODEL.md").read_text()
    install = re.search(r"```bash\n(pip install [^\n]+)\n", card).group(1)
    script = re.search(r"```python\n(.*?)```", card, re.S).group(1)
    (folder / "classify.py").write_text(script)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = subprocess.run(
        [str(venv / "bin" / "python"), "-m", *install.split(), "--quiet"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if pip.returncode != 0:
        pytest.skip(f"pip could not install the runtime (no package index?): {pip.stderr[-300:]}")
    ran = subprocess.run(
        [str(venv / "bin" / "python"), str(folder / "classify.py"), *map(str, files)],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    ours = runner.invoke(app, ["predict", *map(str, files), "--model", str(folder), "--top", "1"])
    expected = [line.strip() for line in ours.output.splitlines() if "\t" in line]
    assert ran.stdout.splitlines() == expected
