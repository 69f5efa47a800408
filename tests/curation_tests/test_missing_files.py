"""dedup and split on images whose files are missing say so (issue 13, item 15)."""

from __future__ import annotations

import pytest
from curation_tests.nearcopies import add_generated
from typer.testing import CliRunner

from catalog import image_file, iter_images, open_catalog
from curation.cli import app

runner = CliRunner()


@pytest.mark.parametrize("command", [["dedup"], ["split"], ["dedup", "--dry-run"]])
def test_missing_files_are_counted_not_silently_skipped(catalog_path, command):
    """Issue 13: dedup/split on images whose files are missing reported "0" with exit 0."""
    with open_catalog(catalog_path) as cat:
        for seed in range(1, 6):
            add_generated(cat, seed)
        rows = list(iter_images(cat))
        for row in rows[:3]:
            image_file(cat, row).unlink()
    result = runner.invoke(app, [*command, "--catalog", str(catalog_path)])
    assert result.exit_code == 1, result.output
    assert "3 images whose file is missing from the store: ids 1, 2, 3" in result.output
    assert "curate check" in result.output
    assert "Traceback" not in result.output


def test_split_still_places_the_images_it_can_read(catalog_path):
    with open_catalog(catalog_path) as cat:
        for seed in range(1, 6):
            add_generated(cat, seed)
        image_file(cat, next(iter_images(cat))).unlink()
    result = runner.invoke(app, ["split", "--catalog", str(catalog_path)])
    assert result.exit_code == 1
    assert "4 newly assigned" in result.output and "ids 1." in result.output
