"""Dedup: near copies within distance and confirmed, distinct images apart, catalog rows."""

from __future__ import annotations

import pytest
from curation_tests.nearcopies import TRANSFORMS, add_generated, encode
from imagegen import make_image
from PIL import Image, ImageDraw

from catalog import Provenance, add_image, get_image, image_file
from catalog.conflicts import open_conflicts
from catalog.duplicates import duplicate_group, duplicate_marks
from curation.dedup import dedup
from curation.hashing import hash_image
from curation.review import accept
from curation.verify import confirm, views_of

SIZE = (240, 180)


def distance(a, b, kind: str = "phash") -> int:
    return (
        int(getattr(hash_image(a), kind), 16) ^ int(getattr(hash_image(b), kind), 16)
    ).bit_count()


@pytest.mark.parametrize("name", sorted(TRANSFORMS))
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_near_copies_are_close_and_confirmed(name, seed):
    original = make_image(seed, SIZE)
    copy = TRANSFORMS[name](original)
    # A 5% crop can move pHash by 12 bits on these smooth pictures; dHash stays close.
    assert min(distance(original, copy), distance(original, copy, "dhash")) <= 6
    assert confirm(views_of(original), views_of(copy)).same


def test_distinct_images_are_far_and_not_confirmed():
    images = [make_image(seed, SIZE) for seed in range(8)]
    for a in range(8):
        for b in range(a + 1, 8):
            assert (
                distance(images[a], images[b]) > 10 or distance(images[a], images[b], "dhash") > 10
            )
            assert not confirm(views_of(images[a]), views_of(images[b])).same


def side_on(colour: tuple[int, int, int]) -> Image.Image:
    img = Image.new("RGB", SIZE, "white")
    ImageDraw.Draw(img).polygon(
        [(20, 130), (60, 70), (150, 60), (220, 110), (220, 140), (20, 145)], fill=colour
    )
    return img


def test_phash_lookalike_in_another_colour_is_not_confirmed():
    # A red and a grey shoe of the same luminance side-on on white: pHash sees one picture.
    red, grey = side_on((255, 0, 0)), side_on((76, 76, 76))
    assert distance(red, grey) == 0
    assert not confirm(views_of(red), views_of(grey)).same


def add(cat, img, class_name="Yeezy_350", **save) -> int:
    return add_image(cat, encode(img, **save), class_name, Provenance(origin="import")).image["id"]


def test_dedup_keeps_the_largest_and_marks_the_rest(cat):
    small = add(cat, make_image(1, SIZE).resize((120, 90)))
    large = add(cat, make_image(1, SIZE))
    recoded = add(cat, TRANSFORMS["reencode"](make_image(1, SIZE)))  # same area as `large`
    other = add(cat, make_image(2, SIZE))
    result = dedup(cat)
    assert [(g.keep, [m.image_id for m in g.members]) for g in result.groups] == [
        (large, [small, recoded])
    ]
    assert get_image(cat, small)["status"] == "duplicate"
    assert get_image(cat, other)["status"] == "pending"
    marks = {m.image_id: m for m in duplicate_marks(cat)}
    assert marks[small].duplicate_of == large and marks[small].method == "phash"
    assert duplicate_group(cat, small) == [large, small, recoded]
    assert image_file(cat, get_image(cat, small)).exists()  # nothing deleted


def test_dry_run_changes_nothing(cat):
    add(cat, make_image(1, SIZE))
    add(cat, TRANSFORMS["crop"](make_image(1, SIZE)))
    result = dedup(cat, dry_run=True)
    assert result.duplicates == 1 and result.marked == 0
    assert duplicate_marks(cat) == []
    assert {get_image(cat, i)["status"] for i in (1, 2)} == {"pending"}


def test_same_pixels_reencoded_losslessly_are_exact_duplicates(cat):
    img = make_image(3, SIZE)
    png = add(cat, img, fmt="PNG")
    webp = add(cat, img, fmt="WEBP", lossless=True)
    dedup(cat)
    mark = duplicate_marks(cat)[0]
    assert (mark.image_id, mark.duplicate_of, mark.method, mark.distance) == (
        webp,
        png,
        "pixels",
        0,
    )


def test_near_copy_in_another_class_is_a_conflict_not_a_duplicate(cat):
    first = add(cat, make_image(1, SIZE), "Yeezy_350")
    second = add(cat, TRANSFORMS["watermark"](make_image(1, SIZE)), "Yeezy_500")
    result = dedup(cat)
    assert result.duplicates == 0
    assert {get_image(cat, i)["status"] for i in (first, second)} == {"pending"}
    pairs = {(c["image_id"], c["other_class"]) for c in open_conflicts(cat)}
    assert pairs == {(first, "Yeezy_500"), (second, "Yeezy_350")}


def test_accepted_images_are_never_marked(cat):
    keep = add(cat, make_image(1, SIZE))
    copy = add(cat, TRANSFORMS["resize"](make_image(1, SIZE)))
    accept(cat, copy)
    result = dedup(cat)
    assert result.groups[0].spared == [copy] and result.duplicates == 0
    assert get_image(cat, copy)["status"] == "accepted" and keep == result.groups[0].keep


def test_rerun_is_stable_and_only_hashes_new_images(cat):
    add(cat, make_image(1, SIZE))
    add(cat, TRANSFORMS["resize"](make_image(1, SIZE)))
    assert dedup(cat).marked == 1
    again = dedup(cat)
    assert (again.marked, again.hashing.hashed, again.hashing.already) == (0, 0, 2)


def test_square_thumbnail_of_a_wide_result_is_grouped(cat):
    # Search pages show square "related" chips cut from a wider result.
    wide = make_image(6, (300, 180))
    chip = wide.crop((60, 0, 240, 180)).resize((104, 104))
    wide_id, chip_id = add(cat, wide), add(cat, chip)
    distinct = add_generated(cat, 7, size=(104, 104))
    result = dedup(cat)
    assert [(g.keep, [(m.image_id, m.method) for m in g.members]) for g in result.groups] == [
        (wide_id, [(chip_id, "square-crop")])
    ]
    assert get_image(cat, distinct)["status"] == "pending"
