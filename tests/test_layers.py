"""The layers' seams (issue 17; the import rules themselves are walked in
test_import_graph.py): the catalog's exports, CLI plumbing outside the data
layer, each package's own error base mapped by its CLI, explicit command registration."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import catalog
from catalog import CatalogError
from clikit import catalog_opener
from crawler.cli import app as crawl_app
from crawler.errors import CrawlerError
from curation.cli import app as curate_app
from curation.errors import CurationError
from trainer.cli import app as train_app
from trainer.errors import TrainerError

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("crawler", "curation", "trainer")
runner = CliRunner()


def test_every_name_the_catalog_exports_exists():
    assert len(set(catalog.__all__)) == len(catalog.__all__)
    assert [name for name in catalog.__all__ if not hasattr(catalog, name)] == []


def test_the_catalog_loads_neither_typer_nor_rich():
    code = "import sys, catalog; print(sorted(m for m in ('typer', 'rich') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("error", [CrawlerError, CurationError, TrainerError])
def test_each_package_has_its_own_error_base(error):
    assert not issubclass(error, CatalogError)


def _one_line_exit_1(result) -> str:
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert "Traceback" not in result.output
    return lines[0]


def test_each_cli_maps_its_packages_errors_to_one_line(catalog_path, tmp_path):
    db = ["--catalog", str(catalog_path)]
    (tmp_path / "x.html").write_text("<html></html>")
    crawl = runner.invoke(crawl_app, ["--all", "--page", str(tmp_path / "x.html"), *db])
    assert "--page and --query go with one --class" in _one_line_exit_1(crawl)
    curate = runner.invoke(curate_app, ["undo", *db])
    assert "nothing to undo" in _one_line_exit_1(curate)
    train = runner.invoke(train_app, ["--backbone", "resnet50+resnet50", *db])
    assert "an ensemble names each backbone once" in _one_line_exit_1(train)
    catalog_error = runner.invoke(curate_app, ["stats", "--split", "nope", *db])
    assert "unknown split 'nope'" in _one_line_exit_1(catalog_error)


def test_a_cli_must_name_its_error_base():
    with pytest.raises(TypeError, match="error base"):
        catalog_opener()


def test_curate_commands_are_registered_explicitly_without_an_import_cycle():
    code = (
        "import sys, curation.commands as c;"
        " print('curation.cli' in sys.modules, sorted(c.COMMANDS))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    loaded, names = out.stdout.strip().split(" ", 1)
    assert loaded == "False"  # the commands module does not import the CLI that adds them
    import typer

    registered = set(typer.main.get_command(curate_app).commands)  # type: ignore[attr-defined]
    assert set(ast.literal_eval(names)) <= registered
    assert {"import", "stats", "check", "classes", "accept", "audit-apply"} <= registered
