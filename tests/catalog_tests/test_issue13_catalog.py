"""Regression tests for the catalog part of issue 13: data loss in `check --fix`, foreign
and newer catalogs, class names with a newline, predictions replaced without a transaction."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest
from imagegen import image_bytes

from catalog import (
    CatalogError,
    InvalidClassName,
    Provenance,
    add_image,
    check_class_name,
    image_file,
    open_catalog,
)
from catalog.integrity import check_catalog
from catalog.owners import REGISTRY_NAME
from catalog.runs import Prediction, run_predictions, save_predictions, start_run
from catalog.store import put_file, sha256_of

PROV = Provenance(origin="import")


def _add(cat, seeds):
    return [add_image(cat, image_bytes(seed), "Yeezy_350", PROV).image for seed in seeds]


def test_check_fix_keeps_the_files_of_another_catalog_in_the_same_folder(tmp_path):
    """Issue 13, item 1: two catalogs in one folder share images/; fixing one deleted the
    other's."""
    with open_catalog(tmp_path / "a.db") as a, open_catalog(tmp_path / "b.db") as b:
        _add(a, range(3))
        theirs = [image_file(b, img) for img in _add(b, range(10, 16))]
        fixed = check_catalog(a, fix=True)
        assert fixed.ok and fixed.problems == [] and fixed.shared_files == 6
        assert all(path.exists() for path in theirs)
        assert check_catalog(b).ok and check_catalog(a).ok


def test_a_sibling_catalog_made_before_the_registry_still_protects_its_files(tmp_path):
    """Issue 13, item 1: a catalog that never registered is found as an SQLite file in the
    folder."""
    with open_catalog(tmp_path / "a.db") as a, open_catalog(tmp_path / "old.db") as old:
        theirs = [image_file(old, img) for img in _add(old, range(2))]
        (tmp_path / REGISTRY_NAME).unlink()
        assert check_catalog(a, fix=True).ok
        assert all(path.exists() for path in theirs)


def test_check_fix_leaves_alone_a_file_this_catalog_did_not_create(cat):
    """Issue 13, item 1: a file without a row that nobody proves is an orphan is reported,
    never removed."""
    foreign = cat.store_dir / "ab" / ("ab" + "0" * 62 + ".jpg")
    foreign.parent.mkdir(parents=True)
    foreign.write_bytes(image_bytes(5))
    report = check_catalog(cat, fix=True)
    assert [(p.kind, p.fixed) for p in report.problems] == [("orphan-file", None)]
    assert "not created by this catalog: left alone" in report.problems[0].detail
    assert foreign.exists() and not report.ok


def test_check_fix_removes_an_orphan_this_catalog_created(cat):
    """Issue 13, item 1: a file stored by a writer killed before its row is still fixed."""
    data = image_bytes(7)
    with cat.writing():  # as every writer holds it (the first use registers the catalog)
        rel, created = put_file(cat, data, sha256_of(data), "jpg")
    assert created
    report = check_catalog(cat, fix=True)
    assert [(p.kind, p.subject, p.fixed) for p in report.problems] == [
        ("orphan-file", rel, "removed")
    ]
    assert not (cat.root / rel).exists() and cat.table("store_files").count == 0


def test_check_fix_unreadable_sibling_means_nothing_is_removed(cat):
    """Issue 13, item 1: a catalog that cannot be read may own the file: nothing is provably
    an orphan."""
    data = image_bytes(8)
    rel, _ = put_file(cat, data, sha256_of(data), "jpg")
    (cat.root / "broken.db").write_bytes(b"SQLite format 3\x00" + b"\xff" * 200)
    report = check_catalog(cat, fix=True)
    assert [p.fixed for p in report.problems] == [None] and (cat.root / rel).exists()
    assert "cannot read catalog" in report.problems[0].detail


def test_check_fix_waits_for_a_writer_between_file_and_row(catalog_path):
    """Issue 13, item 2: check --fix read the rows, then listed the store, and deleted files
    in flight."""
    with open_catalog(catalog_path) as cat:
        data = image_bytes(9)
        with cat.writing():
            rel, _ = put_file(
                cat, data, sha256_of(data), "jpg"
            )  # the file is there, its row not yet
            results = []

            def sweep():
                with open_catalog(catalog_path) as other:
                    results.append(check_catalog(other, fix=True))

            sweeper = threading.Thread(target=sweep)
            sweeper.start()
            time.sleep(0.5)
            assert sweeper.is_alive(), "check --fix ran while a writer held the store"
            add_image(cat, data, "Yeezy_350", PROV)
        sweeper.join(10)
        assert results and results[0].ok and results[0].problems == []
        assert (cat.root / rel).exists()


def test_a_foreign_sqlite_file_is_refused_and_left_unchanged(tmp_path):
    """Issue 13, item 6: --catalog on someone else's database added tables and turned on WAL."""
    path = tmp_path / "theirs.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE notes (body TEXT)")
    conn.execute("INSERT INTO notes VALUES ('mine')")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(CatalogError, match="not an imageset catalog"):
        open_catalog(path)
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == [
        "theirs.db"
    ]
    empty = tmp_path / "empty.db"
    empty.touch()
    with open_catalog(empty) as cat:  # an empty file still becomes a catalog
        assert "images" in cat.db.table_names()


def test_a_catalog_newer_than_the_code_is_refused(catalog_path):
    """Issue 13, item 10: a schema the code does not know was read and written silently."""
    with open_catalog(catalog_path) as cat:
        cat.db.execute(
            "INSERT INTO _sqlite_migrations (migration_set, name, applied_at) "
            "VALUES ('catalog', 'm999_from_the_future', '2030-01-01')"
        )
    with pytest.raises(
        CatalogError, match="newer version of imageset.*m999_from_the_future.*upgrade"
    ):
        open_catalog(catalog_path)


def test_a_class_name_with_a_trailing_newline_is_refused():
    """Issue 13, item 14: `re.match(...$)` let `x\\n` through."""
    for name in ("x\n", "Yeezy_350\n", "a\nb"):
        with pytest.raises(InvalidClassName):
            check_class_name(name)
    assert check_class_name("x") == "x"


def test_replacing_predictions_is_all_or_nothing(cat):
    """Issue 13, item 16: `with conn:` opened no transaction, so a failed insert left no
    predictions."""
    image = _add(cat, [1])[0]
    run = start_run(cat, "vgg16", "default", "none", {})
    save_predictions(cat, run["id"], [Prediction(image["id"], "Yeezy_350", [("Yeezy_350", 0.9)])])
    bad = [
        Prediction(image["id"], "Yeezy_350", [("Yeezy_500", 0.6)]),
        Prediction(999, "x", [("x", 1.0)]),
    ]
    with pytest.raises(sqlite3.IntegrityError):
        save_predictions(cat, run["id"], bad)
    assert [p.predicted for p in run_predictions(cat, run["id"])] == ["Yeezy_350"]


def _shared_through_a_link(tmp_path):
    """Catalog A in a/, catalog B in b/ whose images/ is a link to a/images/; both hold the
    same image, and A's row of it was lost in a crash (its file claim stays)."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = open_catalog(tmp_path / "a" / "catalog.db")
    (tmp_path / "a" / "images").mkdir(exist_ok=True)
    (tmp_path / "b" / "images").symlink_to(tmp_path / "a" / "images")
    b = open_catalog(tmp_path / "b" / "catalog.db")
    (mine,) = _add(a, [21])
    (theirs,) = _add(b, [21])
    path = image_file(b, theirs)
    assert path.resolve() == image_file(a, mine).resolve()
    a.db.execute("DELETE FROM images WHERE id = ?", [mine["id"]])
    return a, b, path


def test_check_fix_keeps_a_file_a_linked_catalog_uses_when_the_registry_is_lost(tmp_path):
    """Issue 27, item 1: with B sharing A's store through a link and the registry missing,
    `check --fix` on A proved B's file an orphan and removed it."""
    a, b, path = _shared_through_a_link(tmp_path)
    registry = tmp_path / "a" / REGISTRY_NAME
    assert str((tmp_path / "b" / "catalog.db").resolve()) in registry.read_text()
    registry.unlink()
    report = check_catalog(a, fix=True)
    assert [(p.kind, p.fixed) for p in report.problems] == [("orphan-file", None)]
    assert (
        "list of catalogs" in report.problems[0].detail
        and "is missing" in report.problems[0].detail
    )
    assert path.exists() and check_catalog(b).ok

    with open_catalog(a.path) as later:  # a later command's write rebuilds the registry
        _add(later, [22])  # with A alone: it is marked as lost
    report = check_catalog(a, fix=True)
    assert path.exists() and "was lost and rebuilt" in report.problems[0].detail
    assert check_catalog(b).ok
    a.close()
    b.close()


def test_check_fix_through_a_linked_store_removes_nothing(tmp_path):
    a, b, path = _shared_through_a_link(tmp_path)
    b.db.execute("DELETE FROM images")  # now nobody refers to it; B did not create it anyway
    with b.writing():
        rel, _ = put_file(b, image_bytes(23), sha256_of(image_bytes(23)), "jpg")
    report = check_catalog(b, fix=True)
    mine = [p for p in report.problems if p.subject == rel]
    assert mine and mine[0].fixed is None and "through a link" in mine[0].detail
    assert (b.root / rel).exists()
    a.close()
    b.close()


def test_a_registered_linked_catalog_protects_its_files(tmp_path):
    a, b, path = _shared_through_a_link(tmp_path)
    report = check_catalog(a, fix=True)
    assert report.ok and report.shared_files == 1 and path.exists()
    a.close()
    b.close()
