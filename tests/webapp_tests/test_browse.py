"""The catalog reads behind `curate serve`: gallery pages under filters, facets, a run's
predictions mistakes first, thumbnails cached by sha256."""

from __future__ import annotations

import pytest
from PIL import Image
from webapp_tests.webcat import build

from catalog import (
    CatalogError,
    GalleryFilter,
    gallery_facets,
    gallery_page,
    image_by_sha,
    open_catalog,
    prediction_page,
    thumbnail_file,
)


@pytest.fixture(scope="module")
def opened(tmp_path_factory):
    """One catalog for the module: these tests only read it (thumbnails are derived)."""
    path = tmp_path_factory.mktemp("browse") / "catalog.db"
    info = build(path)
    cat = open_catalog(path)
    yield cat, info
    cat.close()


def ids(page) -> list[int]:
    return [row["id"] for row in page.rows]


def test_pages_are_ordered_by_class_then_id_and_counted(opened):
    cat, info = opened
    first = gallery_page(cat, limit=10)
    second = gallery_page(cat, offset=10, limit=10)
    assert first.total == second.total == 25
    assert ids(first) == info["ids"]["Air_Max_90"] + info["ids"]["Yeezy_350"][:2]
    assert ids(second)[:6] == info["ids"]["Yeezy_350"][2:]
    assert first.has_more and not gallery_page(cat, offset=20, limit=10).has_more
    assert "path" not in first.rows[0]  # a screen names images by sha256 only


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (GalleryFilter(class_name="Yeezy_500"), lambda i: i["ids"]["Yeezy_500"]),
        (GalleryFilter(status="duplicate"), lambda i: i["dups"]),
        (GalleryFilter(flag="any"), lambda i: i["ids"]["Air_Max_90"][:2]),
        (GalleryFilter(flag="grey"), lambda i: i["ids"]["Air_Max_90"][1:2]),
        (GalleryFilter(source="google"), lambda i: [i["hostile"]]),
        (
            GalleryFilter(source="import", class_name="Yeezy_350"),
            lambda i: i["ids"]["Yeezy_350"][::2],
        ),
        (GalleryFilter(query="Yeezy_500 sneaker"), lambda i: i["ids"]["Yeezy_500"][1::2]),
        (GalleryFilter(split="default", subset="none"), lambda i: [i["hostile"]]),
    ],
)
def test_each_filter(opened, filters, expected):
    cat, info = opened
    page = gallery_page(cat, filters, limit=100)
    assert ids(page) == expected(info)
    assert page.total == len(expected(info))


def test_split_sides_partition_the_split(opened):
    cat, _ = opened
    sides = [
        set(ids(gallery_page(cat, GalleryFilter(split="default", subset=s), limit=100)))
        for s in ("train", "test", "none")
    ]
    assert sum(map(len, sides)) == 25 and not (sides[0] & sides[1])


def test_bad_filters_and_page_sizes_are_refused(opened):
    cat, _ = opened
    for bad in (GalleryFilter(status="gone"), GalleryFilter(subset="train")):
        with pytest.raises(CatalogError):
            gallery_page(cat, bad)
    with pytest.raises(CatalogError):
        gallery_page(cat, limit=10_000)


def test_facets_list_what_the_filters_can_take(opened):
    cat, _ = opened
    facets = gallery_facets(cat)
    assert facets["flags"] == ["blurry", "grey", "too-small"]
    assert facets["sources"] == ["bing", "google", "import"]
    assert facets["splits"] == ["default"]
    assert "Yeezy_500 sneaker" in facets["queries"]


def test_predictions_mistakes_first_and_one_cell(opened):
    cat, info = opened
    page = prediction_page(cat, info["run"], limit=100)
    wrong = info["ids"]["Air_Max_90"][5:7]
    assert ids(page)[:2] == wrong
    assert all(r["predicted"] == r["true_class"] for r in page.rows[2:])
    cell = prediction_page(cat, info["run"], true_class="Air_Max_90", predicted="Yeezy_350")
    assert ids(cell) == wrong and cell.total == 2
    assert cell.rows[0]["top_k"][0] == ("Yeezy_350", 0.7)


def test_thumbnails_are_made_once_and_named_by_sha256(opened):
    cat, info = opened
    row, _ = image_by_sha(cat, gallery_page(cat, limit=1).rows[0]["sha256"])
    path = thumbnail_file(cat, row["sha256"])
    assert path == cat.root / "cache" / "thumbs" / row["sha256"][:2] / f"{row['sha256']}-192.jpg"
    stamp = path.stat().st_mtime_ns
    assert thumbnail_file(cat, row["sha256"]) == path and path.stat().st_mtime_ns == stamp
    with Image.open(path) as img:
        assert img.format == "JPEG" and max(img.size) <= 192
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left


@pytest.mark.parametrize(
    "name", ["../catalog.db", "images/x.jpg", "A" * 64, "0" * 63, "0" * 64 + "/..", ""]
)
def test_anything_but_a_known_sha256_finds_nothing(opened, name):
    cat, _ = opened
    assert image_by_sha(cat, name) is None and thumbnail_file(cat, name) is None


def test_every_page_is_its_slice_of_the_whole_ordering(opened):
    """Pages are read class by class; every window must still be the slice of one order."""
    cat, info = opened
    whole = [i for name in ("Air_Max_90", "Yeezy_350", "Yeezy_500") for i in info["ids"][name]]
    whole.insert(len(info["ids"]["Air_Max_90"]) + 8, info["hostile"])  # the 9th Yeezy_350
    for limit in (1, 3, 7, 8, 9, 30):
        for offset in range(0, 27):
            page = gallery_page(cat, offset=offset, limit=limit)
            assert ids(page) == whole[offset : offset + limit], (offset, limit)
    flagged_or_not = gallery_page(cat, GalleryFilter(status="pending"), offset=5, limit=4)
    assert ids(flagged_or_not) == [i for i in whole if i not in info["dups"]][5:9]
