"""Text from pages, file names and users is printed as plain text by every CLI (issue 13,
item 8)."""

from __future__ import annotations

import os

import pytest
from typer.testing import CliRunner

from clikit.text import plain
from curation.cli import app as curate_app
from trainer.cli import app as train_app

runner = CliRunner()
MARKUP = "[bold]x[/].jpg"
MARKUP_NAME = "[bold]x.jpg"  # a file name holds no slash
ESCAPE = "a\x1b[31mred\x1b]0;pwned\x07.jpg"


def test_plain_makes_controls_visible_and_caps():
    assert plain(ESCAPE) == "a\\x1b[31mred\\x1b]0;pwned\\x07.jpg"
    assert plain("\x9b31m\u202egpj.exe") == "\\x9b31m\\u202egpj.exe"
    assert plain(os.fsdecode(b"caf\xe9.jpg")) == "caf\\xe9.jpg"
    assert plain("a\nb") == "a\\nb" and plain("a\nb", newlines=True) == "a\nb"
    assert plain("x" * 50, 10) == "x" * 10 + "... (50 characters)"
    assert plain(MARKUP) == MARKUP


def _printable(output: str) -> None:
    assert "\x1b" not in output and "\x07" not in output, repr(output)
    assert "Traceback" not in output


def test_import_lists_odd_names_as_they_are(tmp_path, catalog_path):
    """Issue 13: `[bold]x[/].jpg` was shown as `x.jpg`; escape sequences reached the terminal."""
    folder = tmp_path / "ds" / "Yeezy_350"
    folder.mkdir(parents=True)
    names = [MARKUP_NAME, ESCAPE, os.fsdecode(b"caf\xe9 :smile:.jpg")]
    for name in names:
        (folder / name).write_bytes(b"not an image")
    result = runner.invoke(
        curate_app, ["import", str(tmp_path / "ds"), "--catalog", str(catalog_path)]
    )
    assert result.exit_code == 0, result.output
    _printable(result.output)
    assert f"{MARKUP_NAME}: not-an-image" in result.output
    assert "a\\x1b[31mred\\x1b]0;pwned\\x07.jpg: not-an-image" in result.output
    assert "caf\\xe9 :smile:.jpg: not-an-image" in result.output


def test_class_query_and_split_names_print_plain(catalog_path):
    result = runner.invoke(
        curate_app,
        ["classes", "add", "Odd_1", "--query", f"{MARKUP} \x1b[2J", "--catalog", str(catalog_path)],
    )
    assert result.exit_code == 0, result.output
    listed = runner.invoke(curate_app, ["classes", "list", "--catalog", str(catalog_path)])
    _printable(listed.output)
    assert f"Odd_1\t{MARKUP} \\x1b[2J" in listed.output


@pytest.mark.slow  # imports Keras
def test_predict_errors_print_names_plain(monkeypatch, tmp_path, catalog_path):
    from trainer import predict
    from trainer.predict import ImagePrediction

    bad = tmp_path / MARKUP_NAME
    bad.write_bytes(b"x")

    def fake(cat, paths, **kw):
        return {"id": 1, "backbone": "b"}, [
            ImagePrediction(p, [], f"not-an-image: {ESCAPE}") for p in paths
        ]

    monkeypatch.setattr(predict, "predict_files", fake)
    result = runner.invoke(train_app, ["predict", str(bad), "--catalog", str(catalog_path)])
    assert result.exit_code == 1
    _printable(result.output)
    assert f"{MARKUP_NAME}: not-an-image: a\\x1b[31m" in result.output
