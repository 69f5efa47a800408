"""Every command line: help with an example, and the foundation commands end to end."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from imagegen import image_bytes
from typer.testing import CliRunner

from crawler.cli import app as crawl_app
from curation.cli import app as curate_app
from trainer.cli import app as train_app

runner = CliRunner()
APPS = {"crawl": crawl_app, "curate": curate_app, "train": train_app}


def _commands(group, prefix: str):
    yield prefix, group
    if hasattr(group, "commands"):  # a group (typer vendors its own click classes)
        for name, sub in group.commands.items():
            yield from _commands(sub, f"{prefix} {name}")


@pytest.mark.parametrize("name", sorted(APPS))
def test_every_command_has_help_with_an_example(name):
    root = typer.main.get_command(APPS[name])
    for path, command in _commands(root, name):
        assert command.help, f"`{path}` has no help text"
        if not hasattr(command, "commands"):
            assert "Example" in command.help, f"`{path}` has no example in its help"


@pytest.mark.parametrize("script", ["crawl", "curate", "train"])
def test_installed_console_scripts_run(script):
    exe = shutil.which(script) or str(Path(sys.executable).parent / script)
    result = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "--catalog" in result.stdout or "Usage" in result.stdout


def test_curate_import_then_stats(tmp_path, write_image):
    for i in range(3):
        write_image(tmp_path / "ds" / "train" / "Yeezy_350" / f"{i}.jpg", i)
    write_image(tmp_path / "ds" / "test" / "Yeezy_350" / "t.jpg", 10)
    (tmp_path / "ds" / "train" / "Yeezy_350" / "bad.jpg").write_text("<html></html>")
    db = str(tmp_path / "c.db")
    result = runner.invoke(curate_app, ["import", str(tmp_path / "ds"), "--catalog", db])
    assert result.exit_code == 0, result.output
    assert (
        "4 new" in result.output and "1 failed" in result.output and "not-an-image" in result.output
    )
    again = runner.invoke(curate_app, ["import", str(tmp_path / "ds"), "--catalog", db])
    assert again.exit_code == 0 and "0 new" in again.output
    stats = runner.invoke(curate_app, ["stats", "--catalog", db, "--json"])
    assert stats.exit_code == 0, stats.output
    data = json.loads(stats.output)
    row = next(r for r in data["classes"] if r["class"] == "Yeezy_350")
    assert (data["split"], row["train"], row["test"], row["pending"]) == ("imported", 3, 1, 4)
    table = runner.invoke(curate_app, ["stats", "--catalog", db])
    assert table.exit_code == 0 and "Yeezy_350" in table.output and "imported" in table.output


def test_catalog_path_from_environment(tmp_path, write_image):
    write_image(tmp_path / "ds" / "Yeezy_500" / "a.jpg", 1)
    env = {"IMAGESET_CATALOG": str(tmp_path / "env.db")}
    result = runner.invoke(curate_app, ["import", str(tmp_path / "ds")], env=env)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "env.db").exists()


def test_classes_add_and_list(tmp_path):
    db = str(tmp_path / "c.db")
    added = runner.invoke(
        curate_app, ["classes", "add", "New_Balance_550", "--query", "NB 550", "--catalog", db]
    )
    assert added.exit_code == 0, added.output
    listed = runner.invoke(curate_app, ["classes", "list", "--catalog", db])
    assert "New_Balance_550\tNB 550" in listed.output and "Yeezy_350" in listed.output
    bad = runner.invoke(curate_app, ["classes", "add", "../evil", "--catalog", db])
    assert bad.exit_code == 1 and "invalid class name" in bad.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["import", "{tmp}/missing"], "no such folder"),
        (["import", "{tmp}/ds", "--catalog", "{tmp}/nope/c.db"], "does not exist"),
        (["stats", "--split", "nope"], "unknown split 'nope'"),
        (["import", "{tmp}/unknown"], "unknown classes: Jordan_11"),
    ],
    ids=["missing-folder", "catalog-folder-missing", "unknown-split", "unknown-class"],
)
def test_bad_input_is_a_clear_error_with_exit_1(tmp_path, write_image, args, message):
    write_image(tmp_path / "ds" / "Yeezy_350" / "a.jpg", 1)
    write_image(tmp_path / "unknown" / "Jordan_11" / "a.jpg", 1)
    args = [a.format(tmp=tmp_path) for a in args]
    if "--catalog" not in args:
        args += ["--catalog", str(tmp_path / "c.db")]
    result = runner.invoke(curate_app, args)
    assert result.exit_code == 1, result.output
    assert message in " ".join(result.output.split())
    assert "Traceback" not in result.output
    assert not (tmp_path / "nope").exists()


@pytest.mark.slow  # real images from ../shared
def test_curate_import_shared_sneakers10(tmp_path, shared_dir):
    db = str(tmp_path / "s10.db")
    result = runner.invoke(
        curate_app, ["import", str(shared_dir / "data" / "sneakers10"), "--catalog", db]
    )
    assert result.exit_code == 0, result.output
    assert "385 new" in result.output and "2 label conflicts" in " ".join(result.output.split())
    stats = json.loads(runner.invoke(curate_app, ["stats", "--catalog", db, "--json"]).output)
    assert stats["totals"]["pending"] == 385 and stats["open_conflicts"] == 2
    assert {r["class"]: r["pending"] for r in stats["classes"]}["Yeezy_500"] == 30


@pytest.mark.slow  # imports TensorFlow in a child process
@pytest.mark.parametrize("keras_home", ["set", "unset"])
def test_cli_runs_without_keras_home_in_the_user_home(tmp_path, catalog_path, keras_home):
    """Where `train` lets Keras write, in a child whose HOME is an empty folder: into $KERAS_HOME
    when it is set, and then nothing into ~/.keras; into ~/.keras only when it is not set.

    The child's environment is built here, so KERAS_HOME in the outer one plays no part (this
    test used to check only what conftest.py sets, and failed when KERAS_HOME was set: issue 17).
    """
    home, chosen = tmp_path / "home", tmp_path / "keras-home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "KERAS_HOME"} | {"HOME": str(home)}
    if keras_home == "set":
        env["KERAS_HOME"] = str(chosen)
    image = tmp_path / "shoe.jpg"
    image.write_bytes(image_bytes(1, (64, 64)))
    train = [sys.executable, "-c", "from trainer.cli import app; app()"]  # the console script
    result = subprocess.run(
        [*train, "predict", str(image), "--catalog", str(catalog_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 1 and "no finished run" in result.stderr, result.stderr
    if keras_home == "set":
        assert (chosen / "keras.json").is_file() and not (home / ".keras").exists()
    else:
        assert (home / ".keras" / "keras.json").is_file() and not chosen.exists()


def test_curate_check_reports_then_fixes(tmp_path, write_image):
    write_image(tmp_path / "ds" / "Yeezy_350" / "a.jpg", 1)
    db = tmp_path / "c.db"
    assert (
        runner.invoke(curate_app, ["import", str(tmp_path / "ds"), "--catalog", str(db)]).exit_code
        == 0
    )
    clean = runner.invoke(curate_app, ["check", "--catalog", str(db)])
    assert clean.exit_code == 0 and "checked 1 images and 1 files: ok" in clean.output
    from catalog import open_catalog
    from catalog.store import put_file

    with open_catalog(db) as cat:  # a writer killed after storing the file, before its row
        orphan = tmp_path / put_file(cat, b"x", "f" * 64, "jpg")[0]
    bad = runner.invoke(curate_app, ["check", "--catalog", str(db)])
    assert bad.exit_code == 1 and "orphan-file" in bad.output
    fixed = runner.invoke(curate_app, ["check", "--catalog", str(db), "--fix"])
    assert fixed.exit_code == 0 and "fixed: removed" in fixed.output and not orphan.exists()
    foreign = tmp_path / "images" / "ee" / ("e" * 64 + ".jpg")  # not this catalog's: issue 13
    foreign.parent.mkdir(parents=True)
    foreign.write_bytes(b"x")
    kept = runner.invoke(curate_app, ["check", "--catalog", str(db), "--fix"])
    assert kept.exit_code == 1 and "left alone" in kept.output and foreign.exists()
