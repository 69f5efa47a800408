"""The catalog: migrations, pragmas, classes, the content-addressed store, conflicts."""

from __future__ import annotations

import os
import sqlite3

import pytest
from imagegen import image_bytes

from catalog import (
    CatalogError,
    InvalidClassName,
    Provenance,
    UnknownClassError,
    add_class,
    add_image,
    class_names,
    conflicts,
    image_file,
    open_catalog,
    splits,
    update_image,
)
from catalog.schema import SEED_CLASSES

PROV = Provenance(origin="import", source_url="file:///x.jpg")


def test_migrations_are_applied_once_and_recorded(catalog_path):
    for _ in range(3):
        open_catalog(catalog_path).close()
    conn = sqlite3.connect(catalog_path)
    names = [r[0] for r in conn.execute("SELECT name FROM _sqlite_migrations ORDER BY id")]
    assert names[:2] == ["m001_core_tables", "m002_seed_classes"]
    assert len(names) == len(set(names))
    assert conn.execute("SELECT count(*) FROM classes").fetchone()[0] == len(SEED_CLASSES)


def test_pragmas_wal_foreign_keys_busy_timeout(cat):
    assert cat.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert cat.db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert cat.db.execute("PRAGMA busy_timeout").fetchone()[0] >= 5000


def test_seeded_classes_have_queries(cat):
    assert class_names(cat) == sorted(SEED_CLASSES)
    row = cat.table("classes").get("Yeezy_350")
    assert row["query"] == "Yeezy 350 sneaker"


@pytest.mark.parametrize("bad", ["../etc", "a/b", "", ".hidden", "has space", "x" * 65, "a..b"])
def test_unsafe_class_names_are_refused(cat, bad):
    with pytest.raises(InvalidClassName):
        add_class(cat, bad)


def test_add_class_then_duplicate_is_an_error(cat):
    row = add_class(cat, "New_Balance_550", "New Balance 550")
    assert row["query"] == "New Balance 550"
    assert "New_Balance_550" in class_names(cat)
    with pytest.raises(CatalogError, match="already exists"):
        add_class(cat, "New_Balance_550")


def test_unknown_class_lists_known_ones(cat):
    with pytest.raises(UnknownClassError) as err:
        add_image(cat, image_bytes(1), "Nope", PROV)
    assert "Known classes: Adidas_NMD_R1" in str(err.value)
    assert cat.table("images").count == 0


def test_store_is_content_addressed_and_idempotent(cat):
    data = image_bytes(7)
    first = add_image(cat, data, "Yeezy_350", PROV)
    second = add_image(cat, data, "Yeezy_350", PROV)
    assert first.created and not second.created
    assert first.image["id"] == second.image["id"]
    path = image_file(cat, first.image)
    assert path.read_bytes() == data
    assert path.name == f"{first.image['sha256']}.jpg"
    assert cat.table("images").count == 1
    files = [p for p in cat.store_dir.rglob("*") if p.is_file()]
    assert files == [path]


def test_row_records_size_format_and_provenance(cat):
    prov = Provenance(
        origin="download",
        source_url="http://a/b.png",
        page_url="http://a/",
        engine="google",
        query="q",
        rank=3,
        title="t",
    )
    row = add_image(cat, image_bytes(3, (120, 80), "PNG"), "Air_Max_1", prov).image
    assert (row["width"], row["height"], row["format"], row["status"]) == (
        120,
        80,
        "PNG",
        "pending",
    )
    assert (row["engine"], row["rank"], row["page_url"], row["origin"]) == (
        "google",
        3,
        "http://a/",
        "download",
    )


def test_invalid_bytes_write_nothing(cat):
    from catalog import InvalidImage

    with pytest.raises(InvalidImage) as err:
        add_image(cat, b"<html><body>nope</body></html>", "Yeezy_350", PROV)
    assert err.value.reason == "not-an-image"
    assert cat.table("images").count == 0
    assert not cat.store_dir.exists() or not any(p.is_file() for p in cat.store_dir.rglob("*"))


def test_same_bytes_under_another_class_is_a_conflict(cat):
    data = image_bytes(9)
    kept = add_image(cat, data, "Air_Max_1", PROV)
    other = add_image(
        cat, data, "Air_Max_90", Provenance(origin="import", source_url="file:///y.jpg")
    )
    assert other.conflict and not other.created
    assert cat.table("images").count == 1
    rows = conflicts.open_conflicts(cat)
    assert [(r["image_id"], r["image_class"], r["other_class"], r["source"]) for r in rows] == [
        (kept.image["id"], "Air_Max_1", "Air_Max_90", "file:///y.jpg")
    ]
    add_image(cat, data, "Air_Max_90", PROV)  # recorded once, however often it is seen
    assert len(conflicts.open_conflicts(cat)) == 1
    assert conflicts.resolve_conflicts(cat, kept.image["id"]) == 1
    assert conflicts.open_conflicts(cat) == []


def test_update_image_checks_status_and_class(cat):
    image = add_image(cat, image_bytes(4), "Yeezy_500", PROV).image
    assert update_image(cat, image["id"], status="accepted")["status"] == "accepted"
    assert update_image(cat, image["id"], flags=["blur"])["flags"] == '["blur"]'
    with pytest.raises(CatalogError, match="unknown status"):
        update_image(cat, image["id"], status="maybe")
    with pytest.raises(UnknownClassError):
        update_image(cat, image["id"], **{"class": "Nope"})


def test_split_assignment_keeps_the_first_subset(cat):
    ids = [add_image(cat, image_bytes(s), "Yeezy_350", PROV).image["id"] for s in range(3)]
    assert splits.assign(cat, "s", [(ids[0], "train"), (ids[1], "test")], seed=1) == 2
    assert splits.assign(cat, "s", [(ids[0], "test"), (ids[2], "train")]) == 1
    assert splits.subsets(cat, "s") == {ids[0]: "train", ids[1]: "test", ids[2]: "train"}
    assert splits.class_subset_counts(cat, "s") == {"Yeezy_350": {"train": 2, "test": 1}}
    with pytest.raises(CatalogError, match="Known splits: s"):
        splits.require_split(cat, "other")


def test_catalog_in_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(CatalogError, match="does not exist"):
        open_catalog(tmp_path / "nope" / "c.db")
    assert not (tmp_path / "nope").exists()


def test_catalog_path_that_is_a_folder_is_a_clear_error(tmp_path):
    with pytest.raises(CatalogError, match="is a folder"):
        open_catalog(tmp_path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write to read-only folders")
def test_catalog_in_read_only_folder_is_a_clear_error(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(CatalogError, match="permission denied"):
            open_catalog(folder / "c.db")
    finally:
        folder.chmod(0o700)


def test_a_file_that_is_not_sqlite_is_a_clear_error(tmp_path):
    path = tmp_path / "c.db"
    path.write_text("this is not a database, just text " * 100)
    with pytest.raises(CatalogError, match="cannot open catalog"):
        open_catalog(path)


def test_no_temp_files_left_in_the_store(cat):
    for seed in range(5):
        add_image(cat, image_bytes(seed), "Air_Force_1", PROV)
    leftovers = [p for p in cat.store_dir.rglob(".tmp-*")]
    assert leftovers == []
