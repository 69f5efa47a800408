"""The bad-input corpus through `train predict` (issue 6): a line per file, never a traceback."""

from __future__ import annotations

import pytest
from badcorpus import write_corpus
from imagegen import image_bytes
from predict_output import ranked_classes
from typer.testing import CliRunner

from catalog import Provenance, add_image, open_catalog, splits
from trainer.cli import app as train_app

pytestmark = pytest.mark.slow  # trains and predicts with Keras


def test_predict_classifies_good_files_and_names_each_bad_one(tmp_path):
    db = tmp_path / "c.db"
    with open_catalog(db) as cat:
        ids = [
            add_image(cat, image_bytes(seed, (64, 64)), cls, Provenance(origin="import")).image[
                "id"
            ]
            for cls, seeds in (("Yeezy_350", range(0, 6)), ("Yeezy_500", range(10, 16)))
            for seed in seeds
        ]
        splits.assign(
            cat, "default", [(i, "test" if n % 3 == 0 else "train") for n, i in enumerate(ids)]
        )
    runner = CliRunner()
    trained = runner.invoke(
        train_app,
        [
            "--backbone",
            "mobilenet_v2",
            "--weights",
            "none",
            "--epochs",
            "1",
            "--set",
            "fine_tune_epochs=1",
            "--size",
            "32",
            "--set",
            "augment_passes=1",
            "--catalog",
            str(db),
        ],
    )
    assert trained.exit_code == 0, trained.output
    cases = write_corpus(tmp_path / "bad")
    files = [str(tmp_path / "bad" / c.filename) for c in cases]
    result = runner.invoke(train_app, ["predict", *files, "--catalog", str(db)])
    assert result.exit_code == 1, result.output  # some files could not be classified
    assert "Traceback" not in result.output
    lines = {line.split("\t")[0]: line for line in result.stdout.splitlines() if "\t" in line}
    errors = " ".join(result.stderr.split())
    for case, path in zip(cases, files, strict=True):
        if case.outcome in ("ok", "too-small", "unsupported-format"):
            # Classifiable: a small image or a TIFF still decodes; each gets its top 2 classes.
            if case.outcome == "unsupported-format":
                assert f"{case.filename}: unsupported-format" in errors
                continue
            assert sorted(ranked_classes(lines[path])) == ["Yeezy_350", "Yeezy_500"], case.filename
        else:
            assert path not in lines and f"{case.filename}: {case.outcome}" in errors, case.filename
