"""A catalog that can only be read (a read-only share, an archive) can still be read."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from imagegen import image_bytes
from typer.testing import CliRunner

from catalog import Provenance, add_image, open_catalog
from catalog import db as db_module
from catalog.splits import assign
from curation.cli import app as curate
from trainer.cli import app as train

runner = CliRunner()


@pytest.fixture
def archived(tmp_path, monkeypatch) -> Path:
    """A catalog with a split, then made unwritable for this process (SQLite's own read-only
    mode enforces it even for root, who may write any file)."""
    path = tmp_path / "catalog.db"
    with open_catalog(path) as cat:
        ids = [
            add_image(cat, image_bytes(s), "Yeezy_350", Provenance("import")).image["id"]
            for s in range(4)
        ]
        assign(cat, "default", [(i, "train" if i % 2 else "test") for i in ids], seed=0)
    real = os.access
    monkeypatch.setattr(
        db_module.os, "access", lambda p, mode: False if mode == os.W_OK else real(p, mode)
    )
    return path


def test_commands_that_only_read_work_on_a_read_only_catalog(archived, tmp_path):
    """Issue 27: `curate stats`, `curate classes list`, `train runs` and export refused."""
    before = archived.read_bytes()
    for app, args in [
        (curate, ["stats"]),
        (curate, ["classes", "list"]),
        (train, ["runs"]),
        (curate, ["export", str(tmp_path / "out")]),
    ]:
        result = runner.invoke(app, [*args, "--catalog", str(archived)])
        assert result.exit_code == 0, (args, result.output)
    assert (
        "Yeezy_350" in runner.invoke(curate, ["classes", "list", "--catalog", str(archived)]).output
    )
    assert (
        len(list((tmp_path / "out").rglob("*.png"))) + len(list((tmp_path / "out").rglob("*.jpg")))
        == 4
    )
    assert archived.read_bytes() == before


def test_a_command_that_writes_says_in_one_line_that_the_catalog_is_read_only(archived):
    before = archived.read_bytes()
    for args in (["dedup"], ["split", "--name", "other"], ["classes", "add", "NB_550"]):
        result = runner.invoke(curate, [*args, "--catalog", str(archived)])
        assert result.exit_code == 1, (args, result.output)
        assert f"catalog {archived} is read-only" in result.output.replace("\n", ""), args
        assert "Traceback" not in result.output
    assert archived.read_bytes() == before
