"""Export: a Keras-ready tree rebuilt from the catalog, with a manifest."""

from __future__ import annotations

import csv

import pytest

from nearcopies import add_generated

from catalog import splits as catalog_splits
from catalog import CatalogError
from curation.errors import CurationError
from curation.export import export_split
from curation.review import reject
from curation.stats import catalog_stats


@pytest.fixture
def split_cat(cat):
    for seed in range(6):
        add_generated(cat, seed, "Yeezy_350" if seed < 4 else "Yeezy_500", fmt="WEBP" if seed == 0 else "JPEG")
    catalog_splits.assign(cat, "default", [(1, "test"), (2, "train"), (3, "train"), (4, "train"), (5, "test"), (6, "train")])
    return cat


def files(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() or p.is_symlink())


def test_tree_and_manifest(split_cat, tmp_path):
    out = tmp_path / "out"
    report = export_split(split_cat, out)
    assert report.counts == {"Yeezy_350": {"train": 3, "test": 1}, "Yeezy_500": {"train": 1, "test": 1}}
    assert files(out) == [
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
    assert [(r["image_id"], r["subset"], r["file"]) for r in rows][:2] == [("1", "test", "test/Yeezy_350/1.png"), ("2", "train", "train/Yeezy_350/2.jpg")]


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


def test_keras_loads_the_same_counts(split_cat, tmp_path):
    keras = pytest.importorskip("keras")
    out = tmp_path / "out"
    export_split(split_cat, out)
    for subset, expected in (("train", 4), ("test", 2)):
        ds = keras.utils.image_dataset_from_directory(out / subset, image_size=(32, 32), batch_size=8, shuffle=False)
        assert sum(int(x.shape[0]) for x, _ in ds) == expected
        assert ds.class_names == ["Yeezy_350", "Yeezy_500"]
