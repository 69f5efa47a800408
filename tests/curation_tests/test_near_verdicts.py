"""Stored window hashes and near-duplicate verdicts: dedup judges a pair once, split and
leaks reuse its answer, nothing is decoded again and memory stays bounded."""

from __future__ import annotations

import numpy as np
import pytest
from curation_tests.nearcopies import TRANSFORMS, add_generated, encode
from imagegen import make_image

from catalog import Provenance, add_image, hashed_images, near_verdicts
from curation import neardup
from curation.dedup import dedup
from curation.hashing import hash_catalog
from curation.neardup import CHECK_VERSION, Confirmer, candidates, stored_windows
from curation.split import leaks, split_catalog
from curation.windows import decode, small_copy, square_hashes, window_hashes

SIZE = (240, 180)


def add(cat, img, class_name="Yeezy_350") -> int:
    return add_image(cat, encode(img), class_name, Provenance(origin="import")).image["id"]


@pytest.fixture
def counted(monkeypatch):
    """How many pairs the structural check judged, and how many pictures were decoded."""
    calls = {"confirm": 0, "open": 0}
    confirm, open_ = Confirmer.confirm, Confirmer._open

    def counting_confirm(self, edge):
        calls["confirm"] += 1
        return confirm(self, edge)

    def counting_open(self, image_id, make):
        calls["open"] += 1
        return open_(self, image_id, make)

    monkeypatch.setattr(Confirmer, "confirm", counting_confirm)
    monkeypatch.setattr(Confirmer, "_open", counting_open)
    return calls


def _catalog_with_copies(cat) -> list[int]:
    ids = []
    for seed in range(1, 7):
        ids.append(add(cat, make_image(seed, SIZE), "Yeezy_350" if seed % 2 else "Yeezy_500"))
    for name in ("resize", "reencode", "crop"):
        ids.append(add(cat, TRANSFORMS[name](make_image(1, SIZE))))
    wide = make_image(9, (300, 180))
    ids.append(add(cat, wide))
    ids.append(add(cat, wide.crop((60, 0, 240, 180)).resize((104, 104))))  # a square chip
    return ids


def test_split_and_leaks_after_dedup_judge_and_decode_nothing(cat, counted):
    _catalog_with_copies(cat)
    result = dedup(cat)
    assert result.marked == 4  # three copies of seed 1 and the chip
    judged = counted["confirm"]
    assert judged >= 4 and counted["open"] > 0
    assert len(near_verdicts(cat, CHECK_VERSION)) == judged
    counted.update(confirm=0, open=0)
    split_catalog(cat, "default", test=0.5, seed=1)
    assert leaks(cat, "default") == []
    assert counted == {"confirm": 0, "open": 0}


def test_new_images_are_judged_only_against_what_they_pair_with(cat, counted):
    _catalog_with_copies(cat)
    dedup(cat)
    counted.update(confirm=0, open=0)
    add(cat, TRANSFORMS["resize"](make_image(3, SIZE)))
    again = dedup(cat)
    assert again.marked == 1
    assert 1 <= counted["confirm"] <= 3  # the new copy's own candidates, not every pair again


def test_a_dry_run_stores_no_verdict(cat):
    _catalog_with_copies(cat)
    assert dedup(cat, dry_run=True).duplicates == 4
    assert near_verdicts(cat, CHECK_VERSION) == {}


def test_another_check_version_judges_again_and_replaces_the_old_verdicts(
    cat, counted, monkeypatch
):
    _catalog_with_copies(cat)
    dedup(cat)
    stored = near_verdicts(cat, CHECK_VERSION)
    monkeypatch.setattr(neardup, "CHECK_VERSION", "next")
    assert near_verdicts(cat, "next") == {}
    counted.update(confirm=0)
    every = {r["id"]: r for r in hashed_images(cat)}  # the duplicates marked included
    assert len(neardup.confirmed_edges(cat, every)) == 6 + 1  # seed 1 and its copies; the chip
    assert counted["confirm"] == len(stored)
    assert (
        0 < len(near_verdicts(cat, "next")) and near_verdicts(cat, "next").keys() <= stored.keys()
    )
    assert near_verdicts(cat, CHECK_VERSION) == {}  # the old version's rows are gone


def test_images_hashed_before_window_hashes_get_them_on_the_next_run(cat):
    ids = [add_generated(cat, seed, size=(120, 90)) for seed in range(3)]
    hash_catalog(cat)
    cat.db.execute("UPDATE images SET windows = NULL WHERE id = ?", [ids[0]])
    report = hash_catalog(cat)
    assert (report.hashed, report.already) == (1, 2)
    rows = {r["id"]: r for r in hashed_images(cat)}
    assert set(rows) == set(ids)
    windows, squares = decode(rows[ids[0]]["windows"])
    assert windows.shape == (6, 2) and squares.shape == (9,)


def test_stored_windows_are_those_of_the_picture_at_the_compared_size(cat):
    img = make_image(4, SIZE)
    image_id = add(cat, img)
    hash_catalog(cat)
    rows = {r["id"]: r for r in hashed_images(cat)}
    windows, squares = stored_windows(rows)
    small = small_copy(img)  # before JPEG: a hash moves by a few bits at most
    assert np.bitwise_count(windows[image_id] ^ window_hashes(small)).max() <= 6
    assert np.bitwise_count(squares[image_id] ^ square_hashes(small)).max() <= 6


def test_a_distinct_square_is_no_square_crop_candidate(cat):
    wide = add(cat, make_image(9, (300, 180)))
    chip = add(cat, make_image(9, (300, 180)).crop((60, 0, 240, 180)).resize((104, 104)))
    distinct = [add_generated(cat, seed, size=(104, 104)) for seed in range(20, 30)]
    hash_catalog(cat)
    rows = {r["id"]: r for r in hashed_images(cat)}
    windows, squares = stored_windows(rows)
    found = [
        (e.a, e.b)
        for e in candidates(rows, 10, squares=squares, windows=windows)
        if e.method == "square-crop"
    ]
    assert (chip, wide) in found
    assert not {a for a, _ in found} & set(distinct)


def test_the_confirmer_keeps_a_bounded_number_of_pictures(cat):
    ids = [add_generated(cat, seed, size=(64, 48)) for seed in range(12)]
    hash_catalog(cat)
    rows = {r["id"]: r for r in hashed_images(cat)}
    confirmer = Confirmer.of_rows(cat, rows)
    for image_id in ids:
        confirmer.features(image_id)
    info = confirmer.features.cache_info()
    assert info.maxsize == neardup.FEATURES_CACHED and info.currsize == len(ids)


def test_judging_in_a_process_pool_gives_the_serial_verdicts(cat, monkeypatch):
    _catalog_with_copies(cat)
    hash_catalog(cat)
    rows = {r["id"]: r for r in hashed_images(cat)}
    windows, squares = stored_windows(rows)
    edges = sorted(candidates(rows, 10, squares=squares, windows=windows), key=lambda e: (e.a, e.b))
    serial = neardup.judge_all(cat, rows, edges)
    monkeypatch.setattr(neardup, "PARALLEL_MIN", 1)
    monkeypatch.setattr(neardup, "PARTS_PER_WORKER", 3)
    monkeypatch.setattr(neardup.os, "cpu_count", lambda: 2)
    assert neardup.judge_all(cat, rows, edges) == serial
    assert serial.count(True) == 7


@pytest.mark.parametrize("size", [(240, 180), (90, 200), (128, 128), (33, 120)])
def test_batched_window_hashes_are_imagehash_bit_for_bit(size):
    import imagehash

    from curation.windows import dhashes, phashes

    small = small_copy(make_image(sum(size), size))
    w, h = small.size
    boxes = [(0, 0, w, h), (3, 2, w - 4, h - 1), (0, 0, min(w, h), min(w, h))]
    assert phashes(small, boxes).tolist() == [
        int(str(imagehash.phash(small.crop(b))), 16) for b in boxes
    ]
    assert dhashes(small, boxes).tolist() == [
        int(str(imagehash.dhash(small.crop(b))), 16) for b in boxes
    ]
