"""Every curation command through CliRunner, asserting catalog rows and exit codes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from curation_tests.nearcopies import TRANSFORMS, add_generated, encode
from imagegen import make_image
from typer.testing import CliRunner

from catalog import Provenance, add_image, get_image, open_catalog
from catalog import splits as catalog_splits
from catalog.duplicates import duplicate_marks
from curation.cli import app

runner = CliRunner()


def run(catalog_path, *args):
    result = runner.invoke(app, [*args, "--catalog", str(catalog_path)])
    return result


def seeded(catalog_path):
    with open_catalog(catalog_path) as cat:
        img = make_image(1, (240, 180))
        prov = Provenance(origin="import")
        add_image(cat, encode(img), "Yeezy_350", prov)
        add_image(cat, encode(TRANSFORMS["resize"](img)), "Yeezy_350", prov)
        for seed in range(2, 8):
            add_generated(cat, seed, "Yeezy_350" if seed < 5 else "Yeezy_500")


def test_dedup_dry_run_then_for_real(catalog_path):
    seeded(catalog_path)
    result = run(catalog_path, "dedup", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "Yeezy_350: 1 kept, 1 duplicate would be marked" in result.output
    assert "image 1 kept" not in result.output  # groups only with --verbose
    result = run(catalog_path, "dedup", "--dry-run", "--verbose")
    assert "Yeezy_350: image 1 kept; duplicates: image 2 (phash, distance" in result.output
    assert "would mark 1 duplicate; dry run: nothing written" in result.output
    result = run(catalog_path, "dedup", "--max-distance", "8")
    assert result.exit_code == 0, result.output
    with open_catalog(catalog_path) as cat:
        assert [(m.image_id, m.duplicate_of) for m in duplicate_marks(cat)] == [(2, 1)]


def test_dedup_dry_run_writes_no_hashes_and_prints_each_conflict_once(catalog_path):
    """Issue 16: --dry-run stored hashes, and each label conflict was printed twice."""
    with open_catalog(catalog_path) as cat:
        img = make_image(1, (240, 180))
        add_image(cat, encode(img), "Yeezy_350", Provenance(origin="import"))
        add_image(cat, encode(TRANSFORMS["resize"](img)), "Yeezy_500", Provenance(origin="import"))
    result = run(catalog_path, "dedup", "--dry-run", "--verbose")
    assert result.exit_code == 0, result.output
    assert "hashed 2 new images (dry run: not stored)" in result.output
    with open_catalog(catalog_path) as cat:
        assert (
            cat.db.execute("SELECT count(*) FROM images WHERE phash IS NOT NULL").fetchone()[0] == 0
        )
        assert cat.db.execute("SELECT count(*) FROM conflicts").fetchone()[0] == 0
    conflict_lines = [line for line in result.output.splitlines() if "conflict " in line]
    assert conflict_lines == ["  conflict image 1 (Yeezy_350) looks like image 2 (Yeezy_500)"]
    assert "  Yeezy_350: 1 label conflict\n" in result.output
    assert (
        "0 groups: would mark 0 duplicates; dry run: nothing written, 1 label conflict"
        in result.output
    )


def test_review_batch_commands_and_undo(catalog_path):
    seeded(catalog_path)
    assert run(catalog_path, "accept", "1", "3").exit_code == 0
    assert run(catalog_path, "reject", "4", "--reason", "not a shoe").exit_code == 0
    result = run(catalog_path, "relabel", "5", "--to", "Yeezy_500")
    assert result.exit_code == 0, result.output
    result = run(catalog_path, "undo")
    assert result.exit_code == 0 and "undid relabel of image 5" in result.output
    result = run(catalog_path, "review", "--accept-rest", "--class", "Yeezy_500")
    assert result.exit_code == 0 and "accepted 3 images" in result.output
    with open_catalog(catalog_path) as cat:
        rows = {i: (get_image(cat, i)["status"], get_image(cat, i)["class"]) for i in (1, 4, 5, 6)}
    assert rows == {
        1: ("accepted", "Yeezy_350"),
        4: ("rejected", "Yeezy_350"),
        5: ("pending", "Yeezy_350"),
        6: ("accepted", "Yeezy_500"),
    }


def test_errors_are_messages_not_tracebacks(catalog_path):
    seeded(catalog_path)
    for args, message in (
        (["relabel", "1", "--to", "Nope"], "unknown class 'Nope'"),
        (["accept", "99"], "no image with id 99"),
        (["undo"], "nothing to undo"),
        (["leaks", "nope"], "unknown split 'nope'"),
        (["export", "out"], "no split yet"),
        (["review", "--status", "later", "--accept-rest"], "unknown review queue"),
    ):
        result = run(catalog_path, *args)
        assert result.exit_code == 1, (args, result.output)
        assert message in result.output and "Traceback" not in result.output


def test_min_side_only_ever_means_refuse(catalog_path, tmp_path, write_image):
    """`--min-side` meant "refuse" in `curate import` and "flag" in `curate quality`;
    quality's threshold is `--small-below` now, and `--min-side` is import's alone."""
    write_image(tmp_path / "ds" / "Yeezy_350" / "small.jpg", 1, (60, 40))
    write_image(tmp_path / "ds" / "Yeezy_350" / "large.jpg", 2, (120, 90))
    result = run(catalog_path, "import", str(tmp_path / "ds"), "--min-side", "50")
    assert result.exit_code == 0 and "1 new" in result.output, result.output
    assert "small.jpg: too-small" in result.output
    result = run(catalog_path, "quality", "--min-side", "100")
    assert result.exit_code == 2 and "No such option" in result.output, result.output
    result = run(catalog_path, "quality", "--small-below", "100")
    assert result.exit_code == 0 and "too-small 1" in result.output, result.output


def test_quality_split_leaks_export_sheet(catalog_path, tmp_path):
    seeded(catalog_path)
    result = run(catalog_path, "quality", "--small-below", "100")
    assert result.exit_code == 0 and "too-small 6" in result.output, result.output
    result = run(catalog_path, "split", "--test", "0.25", "--seed", "3")
    assert result.exit_code == 0, result.output
    assert "Yeezy_350: train 4, test 1" in result.output
    result = run(catalog_path, "leaks", "default")
    assert result.exit_code == 0 and "0 leaks" in result.output, result.output
    result = run(catalog_path, "export", str(tmp_path / "ds"), "--copy")
    assert result.exit_code == 0 and "6 train, 2 test" in result.output, result.output
    assert len(list((tmp_path / "ds").rglob("*.jpg"))) == 8
    result = run(catalog_path, "sheet", str(tmp_path / "s.html"), "--class", "Yeezy_500")
    assert result.exit_code == 0 and "wrote 3 thumbnails" in result.output
    html = (tmp_path / "s.html").read_text()
    assert html.count("<figure") == 3 and "data:image/jpeg;base64," in html and "#6 " in html


def test_sheet_names_classes_and_what_each_duplicate_repeats(catalog_path, tmp_path):
    """Issue 16: the sheet showed 385 thumbnails without a class name, duplicates without their
    target."""
    seeded(catalog_path)
    assert run(catalog_path, "dedup").exit_code == 0
    result = run(catalog_path, "sheet", str(tmp_path / "all.html"))
    assert result.exit_code == 0 and "wrote 8 thumbnails" in result.output, result.output
    page = (tmp_path / "all.html").read_text()
    assert page.index("<h2>Yeezy_350 (5)</h2>") < page.index("<h2>Yeezy_500 (3)</h2>")
    assert "#1 Yeezy_350 " in page and "#6 Yeezy_500 " in page
    assert page.count("duplicate of #") == 1 and "duplicate of #1 (phash, distance" in page


def test_leaks_exit_one_when_found(catalog_path):
    seeded(catalog_path)
    with open_catalog(catalog_path) as cat:
        catalog_splits.assign(cat, "bad", [(1, "train"), (2, "test")])
    result = run(catalog_path, "leaks", "bad")
    assert result.exit_code == 1 and "train 1 ~ test 2" in result.output


def test_help_in_a_subprocess():
    curate = Path(sys.executable).parent / "curate"
    out = subprocess.run(
        [str(curate), "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "120"},
    )
    assert out.returncode == 0, out.stderr
    for command in (
        "dedup",
        "quality",
        "review",
        "accept",
        "reject",
        "relabel",
        "undo",
        "split",
        "leaks",
        "export",
        "sheet",
    ):
        assert command in out.stdout
