"""Split: stratified, near-duplicate groups together, stable, reproducible; leaks."""

from __future__ import annotations

import shutil

import pytest
from curation_tests.nearcopies import TRANSFORMS, add_generated, encode
from imagegen import make_image

from catalog import CatalogError, Provenance, add_image, open_catalog
from catalog import splits as catalog_splits
from curation.errors import CurationError
from curation.split import leaks, split_catalog


def fill(cat, per_class: dict[str, int], start: int = 0) -> None:
    seed = start
    for class_name, n in per_class.items():
        for _ in range(n):
            add_generated(cat, seed, class_name, size=(64, 48))
            seed += 1


def test_stratified_per_class(cat):
    fill(cat, {"Yeezy_350": 20, "Yeezy_500": 10, "Air_Max_90": 7})
    report = split_catalog(cat, "default", test=0.2, seed=42)
    assert report.assigned == 37
    assert report.per_class == {
        "Yeezy_350": {"train": 16, "test": 4},
        "Yeezy_500": {"train": 8, "test": 2},
        "Air_Max_90": {"train": 6, "test": 1},
    }


def test_same_seed_same_catalog_same_split(tmp_path, cat):
    fill(cat, {"Yeezy_350": 30})
    cat.close()
    shutil.copytree(cat.path.parent, tmp_path / "copy")
    a, b = open_catalog(cat.path), open_catalog(tmp_path / "copy" / "catalog.db")
    split_catalog(a, "s", seed=7)
    split_catalog(b, "s", seed=7)
    split_catalog(b, "other", seed=8)
    assert catalog_splits.subsets(a, "s") == catalog_splits.subsets(b, "s")
    assert catalog_splits.subsets(b, "s") != catalog_splits.subsets(b, "other")


def test_images_keep_their_subset_and_new_ones_keep_the_ratio(cat):
    fill(cat, {"Yeezy_350": 10})
    split_catalog(cat, "default")
    before = catalog_splits.subsets(cat, "default")
    fill(cat, {"Yeezy_350": 10}, start=100)
    report = split_catalog(cat, "default")
    after = catalog_splits.subsets(cat, "default")
    assert report.assigned == 10
    assert {i: after[i] for i in before} == before
    assert report.per_class["Yeezy_350"] == {"train": 16, "test": 4}


def test_near_duplicates_never_straddle(cat):
    prov = Provenance(origin="import")
    groups = []
    for seed in range(6):
        img = make_image(seed, (240, 180))
        ids = [add_image(cat, encode(img), "Yeezy_350", prov).image["id"]]
        for name in ("resize", "crop", "watermark"):
            ids.append(add_image(cat, encode(TRANSFORMS[name](img)), "Yeezy_350", prov).image["id"])
        groups.append(ids)
    fill(cat, {"Yeezy_350": 6}, start=50)
    report = split_catalog(cat, "default", test=0.25)
    subsets = catalog_splits.subsets(cat, "default")
    assert report.groups == 6
    for ids in groups:
        assert len({subsets[i] for i in ids}) == 1
    assert report.per_class["Yeezy_350"]["test"] == 8  # round(30 * 0.25), groups fill whole
    assert leaks(cat, "default") == []


def test_leaks_reports_a_planted_pair(cat):
    prov = Provenance(origin="import")
    img = make_image(3, (240, 180))
    a = add_image(cat, encode(img), "Yeezy_350", prov).image["id"]
    b = add_image(cat, encode(TRANSFORMS["resize"](img)), "Yeezy_350", prov).image["id"]
    catalog_splits.assign(cat, "manual", [(a, "train"), (b, "test")])
    (leak,) = leaks(cat, "manual")
    assert (leak.train_id, leak.test_id, leak.method) == (a, b, "phash")


def test_bad_arguments(cat):
    with pytest.raises(CurationError, match="between 0 and 1"):
        split_catalog(cat, "x", test=1.5)
    with pytest.raises(CatalogError, match="unknown split"):
        leaks(cat, "nope")
