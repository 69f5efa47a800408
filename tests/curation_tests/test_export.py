"""Export: a Keras-ready tree rebuilt from the catalog, with a manifest."""

from __future__ import annotations

import csv

import pytest
from curation_tests.nearcopies import add_generated

from catalog import CatalogError
from catalog import splits as catalog_splits
from curation.errors import CurationError
from curation.export import export_split
from curation.review import reject
from curation.stats import catalog_stats


@pytest.fixture
def split_cat(cat):
    for seed in range(6):
        add_generated(
            cat, seed, "Yeezy_350" if seed < 4 else "Yeezy_500", fmt="WEBP" if seed == 0 else "JPEG"
        )
    catalog_splits.assign(
        cat,
        "default",
        [(1, "test"), (2, "train"), (3, "train"), (4, "train"), (5, "test"), (6, "train")],
    )
    return cat


def files(root):
    return sorted(
        str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() or p.is_symlink()
    )


def test_tree_and_manifest(split_cat, tmp_path):
    out = tmp_path / "out"
    report = export_split(split_cat, out)
    assert report.counts == {
        "Yeezy_350": {"train": 3, "test": 1},
        "Yeezy_500": {"train": 1, "test": 1},
    }
    assert files(out) == [
        ".imageset-export.json",  # what this export wrote: the next one removes only that
        "manifest.csv",
        "test/Yeezy_350/1.png",  # WebP becomes PNG: Keras cannot decode WebP
        "test/Yeezy_500/5.jpg",
        "train/Yeezy_350/2.jpg",
        "train/Yeezy_350/3.jpg",
        "train/Yeezy_350/4.jpg",
        "train/Yeezy_500/6.jpg",
    ]
    assert (out / "train/Yeezy_350/2.jpg").is_symlink()
    rows = list(csv.DictReader((out / "manifest.csv").open()))
    assert [(r["image_id"], r["subset"], r["file"]) for r in rows][:2] == [
        ("1", "test", "test/Yeezy_350/1.png"),
        ("2", "train", "train/Yeezy_350/2.jpg"),
    ]


def test_rebuilt_from_the_catalog_matches_stats(split_cat, tmp_path):
    out = tmp_path / "out"
    export_split(split_cat, out, mode="copy")
    reject(split_cat, 2)
    report = export_split(split_cat, out, mode="copy")
    assert not (out / "train/Yeezy_350/2.jpg").exists()
    assert not (out / "train/Yeezy_350/3.jpg").is_symlink()
    stats = catalog_stats(split_cat, "default")
    assert (stats["totals"]["train"], stats["totals"]["test"]) == (3, 2)
    assert sum(c["train"] for c in report.counts.values()) == 3


def test_refuses_a_foreign_folder_and_bad_arguments(split_cat, tmp_path):
    (tmp_path / "mine.txt").write_text("keep me")
    with pytest.raises(CurationError, match="not empty"):
        export_split(split_cat, tmp_path)
    with pytest.raises(CurationError, match="unknown export mode"):
        export_split(split_cat, tmp_path / "x", mode="move")
    with pytest.raises(CatalogError, match="unknown split"):
        export_split(split_cat, tmp_path / "x", split="nope")


@pytest.mark.slow  # imports Keras
def test_keras_loads_the_same_counts(split_cat, tmp_path):
    keras = pytest.importorskip("keras")
    out = tmp_path / "out"
    export_split(split_cat, out)
    for subset, expected in (("train", 4), ("test", 2)):
        ds = keras.utils.image_dataset_from_directory(
            out / subset, image_size=(32, 32), batch_size=8, shuffle=False
        )
        assert sum(int(x.shape[0]) for x, _ in ds) == expected
        assert ds.class_names == ["Yeezy_350", "Yeezy_500"]


def test_export_never_wipes_a_dataset_with_its_own_manifest(split_cat, tmp_path):
    """Issue 13, item 3: DIR/train and DIR/test were deleted whenever DIR/manifest.csv existed."""
    theirs = tmp_path / "theirs"
    (theirs / "train" / "cats").mkdir(parents=True)
    (theirs / "train" / "cats" / "1.jpg").write_bytes(b"my own photo")
    (theirs / "manifest.csv").write_text("file,label\ntrain/cats/1.jpg,cats\n")
    with pytest.raises(CurationError, match="no export written by this tool.*nothing was deleted"):
        export_split(split_cat, theirs)
    assert files(theirs) == ["manifest.csv", "train/cats/1.jpg"]


def test_export_refuses_files_it_did_not_write_or_that_changed(split_cat, tmp_path):
    """Issue 13, item 3: a re-export removes only the files the last export listed, unchanged."""
    out = tmp_path / "out"
    export_split(split_cat, out, mode="copy")
    mine = out / "train" / "Yeezy_350" / "notes.txt"
    mine.write_text("keep me")
    with pytest.raises(CurationError, match="not written by the last export.*nothing was deleted"):
        export_split(split_cat, out)
    assert mine.exists() and (out / "train/Yeezy_350/2.jpg").exists()
    mine.unlink()
    (out / "train/Yeezy_350/2.jpg").write_bytes(b"edited by hand")
    with pytest.raises(CurationError, match="changed since"):
        export_split(split_cat, out)
    assert (out / "train/Yeezy_350/3.jpg").exists()


def test_export_refuses_a_linked_subset_folder_cleanly(split_cat, tmp_path):
    """Issue 13, item 3: DIR/train as a symlink gave a traceback (and could have been emptied)."""
    out = tmp_path / "out"
    export_split(split_cat, out)
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "Yeezy_350").mkdir(parents=True)
    (elsewhere / "Yeezy_350" / "precious.jpg").write_bytes(b"x")
    for path in sorted((out / "train").rglob("*"), reverse=True):
        path.rmdir() if path.is_dir() and not path.is_symlink() else path.unlink()
    (out / "train").rmdir()
    (out / "train").symlink_to(elsewhere)
    with pytest.raises(CurationError, match="is a link or a file.*nothing was deleted"):
        export_split(split_cat, out)
    assert (elsewhere / "Yeezy_350" / "precious.jpg").exists()


def test_export_cli_refusal_is_one_line_and_exit_1(split_cat, tmp_path):
    """Issue 13, item 3: the refusal reaches the user as a message, not a traceback."""
    from typer.testing import CliRunner

    from curation.cli import app

    theirs = tmp_path / "theirs"
    (theirs / "train" / "dogs").mkdir(parents=True)
    (theirs / "train" / "dogs" / "a.jpg").write_bytes(b"x")
    (theirs / "manifest.csv").write_text("x\n")
    result = CliRunner().invoke(app, ["export", str(theirs), "--catalog", str(split_cat.path)])
    assert (
        result.exit_code == 1
        and "Traceback" not in result.output
        and "nothing was deleted" in result.output
    )
    assert (theirs / "train" / "dogs" / "a.jpg").exists()


def _marker(out):
    import json

    return json.loads((out / ".imageset-export.json").read_text())["files"]


@pytest.mark.parametrize("mode", ["link", "copy"])
def test_an_export_cut_off_midway_is_replaced_by_the_next_one(split_cat, tmp_path, mode):
    """Issue 27: a kill inside a file left a partial file listed in the marker, and every
    later export refused with a false message."""
    from curation import export as export_module

    out, real, calls = tmp_path / "out", export_module._place, []

    def cut_off(cat, row, target, how):
        calls.append(target)
        if len(calls) == 4:  # killed while writing the fourth: its temporary file stays
            temp = target.with_name(f"{export_module.TEMP_PREFIX}999-{target.name}")
            temp.write_bytes(b"\xff\xd8 half a JPEG")
            raise KeyboardInterrupt
        return real(cat, row, target, how)

    export_module._place = cut_off
    try:
        with pytest.raises(KeyboardInterrupt):
            export_split(split_cat, out, mode=mode)
    finally:
        export_module._place = real
    assert any(p.name.startswith(export_module.TEMP_PREFIX) for p in out.rglob("*"))
    assert all(entry.get("pending") for entry in _marker(out).values())

    report = export_split(split_cat, out, mode=mode)
    assert report.total == 6
    assert not any(p.name.startswith(export_module.TEMP_PREFIX) for p in out.rglob("*"))
    marker = _marker(out)
    assert len(marker) == 6 and not any(entry.get("pending") for entry in marker.values())
    from catalog import sha256_of_file

    for rel, entry in marker.items():  # every entry has the written file's sha256
        assert entry["sha256"] == sha256_of_file(out / rel), rel


@pytest.mark.parametrize(
    ("code", "words"), [(28, "the disk is full"), (27, "the file is larger than this file system")]
)
def test_a_full_disk_or_file_size_limit_is_one_line_naming_the_file(
    split_cat, tmp_path, monkeypatch, code, words
):
    import os

    from curation import export as export_module

    real = os.replace

    def fail(src, dst, *args, **kwargs):
        if "/test/" in str(dst) or "/train/" in str(dst):  # an image, not the marker
            raise OSError(code, os.strerror(code))
        return real(src, dst, *args, **kwargs)

    monkeypatch.setattr(export_module.os, "replace", fail)
    out = tmp_path / "out"
    with pytest.raises(CurationError) as caught:
        export_split(split_cat, out, mode="copy")
    message = str(caught.value)
    assert f"cannot write {out}/test/Yeezy_350/1.png: {words}" in message and "\n" not in message
    assert not any(p.name.startswith(export_module.TEMP_PREFIX) for p in out.rglob("*"))
    monkeypatch.undo()
    assert export_split(split_cat, out, mode="copy").total == 6  # and the next one works


def test_a_manifest_or_marker_cut_off_midway_is_cleared_by_the_next_export(split_cat, tmp_path):
    """A kill while the manifest (or marker) was written left its temporary file in the
    export folder, and a re-run kept it (found by bench/kill_loop.py)."""
    from curation.export import TEMP_PREFIX

    out = tmp_path / "out"
    export_split(split_cat, out, mode="copy")
    (out / f"{TEMP_PREFIX}999-0a1b2c3d.tmp").write_text("image_id,fi")
    export_split(split_cat, out, mode="copy")
    assert not [p.name for p in out.iterdir() if p.name.startswith(TEMP_PREFIX)]

    fresh = tmp_path / "fresh"  # cut off before the first marker: only its temporary file
    fresh.mkdir()
    (fresh / f"{TEMP_PREFIX}999-0a1b2c3d.tmp").write_text("{")
    assert export_split(split_cat, fresh, mode="copy").total == 6
    assert sorted(p.name for p in fresh.iterdir()) == [
        ".imageset-export.json",
        "manifest.csv",
        "test",
        "train",
    ]
