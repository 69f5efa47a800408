"""`curate import`: both layouts, validation failures, conflicts, re-runs, the imported split."""

from __future__ import annotations

import pytest
from imagegen import image_bytes

from catalog import InvalidClassName, class_names, iter_images, splits
from catalog.conflicts import open_conflicts
from curation.errors import CurationError
from curation.importer import check_plan_classes, import_plan, plan_import


def _import(cat, root, **kw):
    plan = plan_import(root)
    check_plan_classes(cat, plan, add_missing=kw.pop("add_missing", False))
    return import_plan(cat, plan, **kw)


def test_class_folder_layout(cat, tmp_path, write_image):
    for seed in range(3):
        write_image(tmp_path / "ds" / "Yeezy_350" / f"{seed}.jpg", seed)
    write_image(tmp_path / "ds" / "Yeezy_500" / "a.png", 10)
    report = _import(cat, tmp_path / "ds")
    assert (report.layout, report.found, report.added, report.failures) == ("classes", 4, 4, [])
    rows = list(iter_images(cat))
    assert sorted((r["class"], r["format"]) for r in rows) == [
        ("Yeezy_350", "JPEG"),
        ("Yeezy_350", "JPEG"),
        ("Yeezy_350", "JPEG"),
        ("Yeezy_500", "PNG"),
    ]
    assert all(r["origin"] == "import" and r["source_url"].startswith("file://") for r in rows)
    assert report.split_name is None and splits.split_names(cat) == []


def test_train_test_layout_becomes_the_imported_split(cat, tmp_path, write_image):
    root = tmp_path / "SneakerDataset"
    write_image(root / "train" / "Air_Max_1" / "a.jpg", 1)
    write_image(root / "train" / "Air_Max_1" / "b.jpg", 2)
    write_image(root / "test" / "Air_Max_1" / "c.jpg", 3)
    write_image(root / "train" / "Air_Max_90" / "d.jpg", 4)
    report = _import(cat, root)
    assert (report.layout, report.added, report.split_name, report.split_assigned) == (
        "train/test",
        4,
        "imported",
        4,
    )
    assert splits.class_subset_counts(cat, "imported") == {
        "Air_Max_1": {"train": 2, "test": 1},
        "Air_Max_90": {"train": 1, "test": 0},
    }


def test_failures_are_reported_with_reasons_and_skipped(cat, tmp_path, write_image):
    cls = tmp_path / "ds" / "Air_Force_1"
    write_image(cls / "good.jpg", 1)
    (cls / "notes.txt").write_text("not an image")
    (cls / "cut.jpg").write_bytes(image_bytes(2, (200, 150))[:700])
    write_image(cls / "tiny.jpg", 3, size=(16, 16))
    (cls / "empty.jpg").write_bytes(b"")
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (64, 64)).save(buf, "TIFF")
    (cls / "scan.tif").write_bytes(buf.getvalue())
    report = _import(cat, tmp_path / "ds")
    reasons = {path.name: reason for path, reason, _ in report.failures}
    assert reasons == {
        "notes.txt": "not-an-image",
        "cut.jpg": "truncated",
        "tiny.jpg": "too-small",
        "empty.jpg": "empty",
        "scan.tif": "unsupported-format",
    }
    assert report.added == 1 and cat.table("images").count == 1


def test_same_bytes_in_two_classes_is_one_row_and_a_conflict(cat, tmp_path):
    data = image_bytes(5)
    for cls in ("Air_Max_1", "Air_Max_90"):
        (tmp_path / "ds" / cls).mkdir(parents=True)
        (tmp_path / "ds" / cls / "same.jpg").write_bytes(data)
    report = _import(cat, tmp_path / "ds")
    assert (report.added, report.already, len(report.conflicts)) == (1, 1, 1)
    [conflict] = open_conflicts(cat)
    assert (conflict["image_class"], conflict["other_class"]) == ("Air_Max_1", "Air_Max_90")
    assert conflict["source"].endswith("Air_Max_90/same.jpg")


def test_rerun_adds_nothing(cat, tmp_path, write_image):
    write_image(tmp_path / "ds" / "train" / "Yeezy_350" / "a.jpg", 1)
    write_image(tmp_path / "ds" / "test" / "Yeezy_350" / "b.jpg", 2)
    first = _import(cat, tmp_path / "ds")
    second = _import(cat, tmp_path / "ds")
    assert (first.added, second.added, second.already, second.split_assigned) == (2, 0, 2, 0)
    assert cat.table("images").count == 2 and cat.table("splits").count == 2


def test_unknown_class_folder_is_refused_before_anything_is_written(cat, tmp_path, write_image):
    write_image(tmp_path / "ds" / "Yeezy_350" / "a.jpg", 1)
    write_image(tmp_path / "ds" / "Jordan_11" / "b.jpg", 2)
    with pytest.raises(CurationError, match="unknown classes: Jordan_11.*--add-classes"):
        _import(cat, tmp_path / "ds")
    assert cat.table("images").count == 0


def test_add_missing_creates_the_classes(cat, tmp_path, write_image):
    write_image(tmp_path / "ds" / "Jordan_11" / "b.jpg", 2)
    report = _import(cat, tmp_path / "ds", add_missing=True)
    assert report.added == 1 and "Jordan_11" in class_names(cat)


def test_unsafe_folder_name_is_refused(cat, tmp_path, write_image):
    write_image(tmp_path / "ds" / "bad name" / "b.jpg", 2)
    with pytest.raises(InvalidClassName, match="invalid class name"):
        _import(cat, tmp_path / "ds", add_missing=True)


def test_missing_and_empty_folders_are_errors(cat, tmp_path):
    with pytest.raises(CurationError, match="no such folder"):
        plan_import(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CurationError, match="found no files"):
        plan_import(tmp_path / "empty")


def test_files_outside_class_folders_are_listed_as_ignored(cat, tmp_path, write_image):
    write_image(tmp_path / "ds" / "Yeezy_350" / "a.jpg", 1)
    write_image(tmp_path / "ds" / "stray.jpg", 2)
    report = _import(cat, tmp_path / "ds")
    assert [p.name for p in report.ignored] == ["stray.jpg"] and report.added == 1


@pytest.mark.slow  # real images from ../shared
def test_shared_sneakers10_imports_385_images_and_2_conflicts(cat, shared_dir):
    report = _import(cat, shared_dir / "data" / "sneakers10")
    assert (report.found, report.added, len(report.conflicts), report.failures) == (387, 385, 2, [])
    pairs = sorted((c["image_class"], c["other_class"]) for c in open_conflicts(cat))
    assert pairs == [("Air_Max_1", "Air_Max_90"), ("Yeezy_350", "Yeezy_500")]
    again = _import(cat, shared_dir / "data" / "sneakers10")
    assert (again.added, again.already) == (0, 387)
    assert cat.table("images").count == 385


def test_a_file_name_that_is_not_utf8_is_imported_without_a_crash_or_orphan(
    cat, tmp_path, write_image
):
    """Issue 13, item 5: a non-UTF-8 name reached SQLite as surrogates: a crash and an orphan
    file."""
    import os

    from catalog.integrity import check_catalog

    folder = tmp_path / "ds" / "Yeezy_350"
    write_image(folder / os.fsdecode(b"caf\xe9.jpg"), 1)  # Latin-1 bytes, not UTF-8
    report = _import(cat, tmp_path / "ds")
    assert (report.added, report.failures) == (1, [])
    [row] = list(iter_images(cat))
    assert row["title"] == "caf\\xe9.jpg" and row["source_url"].endswith("/caf%E9.jpg")
    assert check_catalog(cat).problems == []


# Issue 18: folder names as people really have them.


@pytest.mark.parametrize(
    ("folder", "expected"),
    [
        ("nike_air_max_plus_(tn)", "nike_air_max_plus_tn"),
        ("New Balance 550", "New_Balance_550"),
        ("Ünïcode", "Unicode"),
        ("..dots..at..ends.", "dots_at_ends"),
        ("-_lead and trail_-", "lead_and_trail"),
        ("Air_Max_90", "Air_Max_90"),
        ("Yeezy 350 V2 (Zebra)", "Yeezy_350_V2_Zebra"),
        ("x" * 80, "x" * 64),
    ],
)
def test_folder_names_are_cleaned_by_the_documented_rule(folder, expected):
    from curation.classmap import clean_class_name

    assert clean_class_name(folder) == expected


def test_a_folder_with_nothing_usable_asks_for_map():
    from curation.classmap import clean_class_name

    with pytest.raises(CurationError, match="--map"):
        clean_class_name("鞋子")


def _messy_tree(tmp_path, write_image):
    root = tmp_path / "messy"
    for seed, folder in enumerate(
        ["nike_air_max_plus_(tn)", "New Balance 550", "air_max_90", "Yeezy_350", "鞋子"]
    ):
        write_image(root / folder / f"{seed}.jpg", seed)
    return root


def test_import_one_bad_folder_no_longer_blocks_add_classes(catalog_path, tmp_path, write_image):
    """Issue 18: `nike_air_max_plus_(tn)` made `--add-classes` import nothing and exit 1."""
    from typer.testing import CliRunner

    from catalog import open_catalog
    from curation.cli import app

    root = _messy_tree(tmp_path, write_image)
    mapfile = tmp_path / "map.csv"
    mapfile.write_text("folder,class\n鞋子,Shoes\n", encoding="utf-8")
    args = ["import", str(root), "--catalog", str(catalog_path), "--map-file", str(mapfile)]
    dry = CliRunner().invoke(app, [*args, "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "'nike_air_max_plus_(tn)' -> nike_air_max_plus_tn (cleaned)" in dry.output
    assert "'鞋子' -> Shoes (mapped)" in dry.output
    assert "differs from the class Air_Max_90 only by case" in dry.output
    with open_catalog(catalog_path) as cat:
        assert list(iter_images(cat)) == [] and "Shoes" not in class_names(cat)
    refused = CliRunner().invoke(app, args)
    assert refused.exit_code == 1 and "--add-classes" in refused.output
    result = CliRunner().invoke(app, [*args, "--add-classes", "--map", "air_max_90=Air_Max_90"])
    assert result.exit_code == 0, result.output
    assert "'air_max_90' -> Air_Max_90 (mapped)" in result.output
    with open_catalog(catalog_path) as cat:
        assert sorted(r["class"] for r in iter_images(cat)) == [
            "Air_Max_90",
            "New_Balance_550",
            "Shoes",
            "Yeezy_350",
            "nike_air_max_plus_tn",
        ]


def test_map_options_are_checked_before_anything_is_written(catalog_path, tmp_path, write_image):
    from typer.testing import CliRunner

    from curation.cli import app

    root = _messy_tree(tmp_path, write_image)
    for bad in (["--map", "no_such_folder=X"], ["--map", "鞋子=bad name"], ["--map", "nothing"]):
        result = CliRunner().invoke(
            app, ["import", str(root), "--catalog", str(catalog_path), "--add-classes", *bad]
        )
        assert result.exit_code == 1, result.output
        assert "Traceback" not in result.output


def test_map_file_with_equals_lines(tmp_path):
    from curation.classmap import read_map_file

    path = tmp_path / "map.txt"
    path.write_text("# comment\n\nNew Balance 550=NB_550\na=b=c\n", encoding="utf-8")
    assert read_map_file(path) == {"New Balance 550": "NB_550", "a=b": "c"}


def test_near_duplicate_names_among_new_folders_are_reported():
    from curation.classmap import plan_class_map

    class_map = plan_class_map(["Air Max 97", "air_max_97", "Yeezy_350"], ["Yeezy_350"], {})
    assert [(m.folder, m.class_name, m.similar_to) for m in class_map.near_duplicates] == [
        ("air_max_97", "air_max_97", "Air_Max_97"),
    ]


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "too-large", "not-utf8"])
def test_a_map_file_that_is_no_text_file_is_one_line_and_never_blocks(tmp_path, kind):
    """Issue 27: `--map-file /dev/zero` read until memory ran out; a FIFO hung."""
    import os
    from pathlib import Path

    from catalog import TEXT_MAX_BYTES
    from curation.classmap import read_map_file
    from curation.errors import CurationError

    path = tmp_path / "map.txt"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "dev-zero":
        path = Path("/dev/zero")
    elif kind == "too-large":
        path.write_bytes(b"a=b\n" * (TEXT_MAX_BYTES // 4 + 1))
    else:
        path.write_bytes(b"caf\xe9=Cafe\n")
    with pytest.raises(CurationError) as caught:
        read_map_file(path)
    message = str(caught.value)
    assert message.startswith(f"cannot read map file {path}: ") and "\n" not in message
    expected = {"fifo": "not a regular file", "dev-zero": "not a regular file"}
    expected |= {"too-large": "over the", "not-utf8": "not UTF-8"}
    assert expected[kind] in message, message
