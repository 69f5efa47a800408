"""Names from users and file names printed by `train` are data, never Rich markup or
terminal control: a split or file named with brackets, escape sequences or invalid UTF-8 is
printed as itself (controls made visible) by every command that prints it. (Class names
are folder names, letters and digits only: `catalog.check_class_name`.)"""

from __future__ import annotations

import os
import warnings

import pytest
from trainer_tests.traingen import CLASSES, build_catalog, class_image
from typer.testing import CliRunner

from trainer.cli import app

pytestmark = pytest.mark.slow  # trains a tiny Keras model

SPLIT = "[/y][bold]split\x1b[31m"
runner = CliRunner()


def shown(output: str, name: str) -> bool:
    """The name as `clikit.plain` shows it: brackets kept, ESC made visible."""
    return name.replace("\x1b", "\\x1b") in output


def test_train_runs_evaluate_predict_and_audit_print_names_plain(catalog_path, tmp_path):
    build_catalog(catalog_path, SPLIT)
    catalog = ["--catalog", str(catalog_path)]
    tiny = ["--backbone", "vgg16", "--weights", "none", "--size", "32", "--epochs", "1"]
    trained = runner.invoke(app, [*tiny, "--split", SPLIT, "--set", "fine_tune_epochs=0", *catalog])
    assert trained.exit_code == 0, trained.output
    assert shown(trained.output, SPLIT)

    runs = runner.invoke(app, ["runs", *catalog])
    assert runs.exit_code == 0 and shown(runs.output, SPLIT), runs.output

    evaluated = runner.invoke(app, ["evaluate", "1", *catalog])
    assert evaluated.exit_code == 0, evaluated.output
    assert all(name in evaluated.output for name in CLASSES)

    picture = tmp_path / os.fsdecode(b"[bold]\xff\x1b[2J.png")
    picture.write_bytes(class_image(0, 7))
    predicted = runner.invoke(app, ["predict", str(picture), "--no-unknown", *catalog])
    assert predicted.exit_code == 0, predicted.output
    assert "[bold]\\xff\\x1b[2J.png" in predicted.output  # the byte and ESC shown as escapes
    assert any(name in predicted.output for name in CLASSES)

    audited = runner.invoke(
        app,
        ["audit", "--split", SPLIT, "--folds", "2", "--weights", "none", "--size", "32", *catalog],
    )
    assert audited.exit_code == 0, audited.output
    assert shown(audited.output, SPLIT) and CLASSES[0] in audited.output
    for result in (trained, runs, evaluated, predicted, audited):
        assert "\x1b" not in result.output and "Traceback" not in result.output
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a control character in a figure title warns
        again = runner.invoke(app, ["evaluate", "1", *catalog])
    assert again.exit_code == 0, again.output
