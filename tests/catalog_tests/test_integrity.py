"""`check_catalog`: rows without files, files without rows, temp files, lost artefacts."""

from __future__ import annotations

import json
import os

from imagegen import image_bytes

from catalog import Provenance, add_image, get_image, image_file
from catalog.integrity import MISSING_REASON, check_catalog
from catalog.store import put_file, sha256_of
from catalog.timeutil import now

PROV = Provenance(origin="import")


def _images(cat, n=3):
    return [add_image(cat, image_bytes(seed), "Yeezy_350", PROV).image for seed in range(n)]


def test_a_clean_catalog_is_ok(cat):
    _images(cat)
    report = check_catalog(cat)
    assert report.ok and report.problems == []
    assert (report.images_checked, report.files_checked) == (3, 3)


def test_missing_corrupt_orphan_and_temp_files_are_found_then_fixed(cat):
    a, b, c = _images(cat)
    image_file(cat, a).unlink()
    image_file(cat, b).write_bytes(b"overwritten")
    orphan_bytes = image_bytes(99)  # stored by this catalog, then killed before its row
    orphan = cat.root / put_file(cat, orphan_bytes, sha256_of(orphan_bytes), "jpg")[0]
    foreign = cat.store_dir / "zz" / ("0" * 64 + ".jpg")  # not created by this catalog
    foreign.parent.mkdir(parents=True)
    foreign.write_bytes(image_bytes(98))
    temp = image_file(cat, c).parent / ".tmp-999999999-abc.jpg"  # its writer is dead
    live = image_file(cat, c).parent / f".tmp-{os.getpid()}-abc.jpg"  # a live writer's
    live.write_bytes(b"in progress")
    temp.write_bytes(b"half")

    report = check_catalog(cat)
    found = sorted((p.kind, p.subject) for p in report.problems)
    assert found == sorted(
        [
            ("missing-file", str(a["id"])),
            ("corrupt-file", str(b["id"])),
            ("orphan-file", str(orphan.relative_to(cat.root))),
            ("orphan-file", str(foreign.relative_to(cat.root))),
            ("temp-file", str(temp.relative_to(cat.root))),
        ]
    )
    assert not report.ok and orphan.exists()  # checking alone changes nothing
    assert get_image(cat, a["id"])["status"] == "pending"

    fixed = check_catalog(cat, fix=True)
    assert [p.subject for p in fixed.problems if not p.fixed] == [
        str(foreign.relative_to(cat.root))
    ]
    assert "not created by this catalog: left alone" in fixed.problems[-1].detail
    assert not orphan.exists() and not temp.exists() and live.exists() and foreign.exists()
    foreign.unlink()
    assert (
        get_image(cat, a["id"])["status"] == "rejected"
        and get_image(cat, a["id"])["reason"] == MISSING_REASON
    )
    audit = list(cat.table("reviews").rows_where("image_id = ?", [a["id"]]))
    assert [(r["action"], json.loads(r["after"])["status"]) for r in audit] == [
        ("check", "rejected")
    ]
    assert check_catalog(cat).ok  # marked rows are remembered, so a re-check is clean


def test_runs_whose_artifacts_are_gone_are_reported(cat, tmp_path):
    model = tmp_path / "model.keras"
    model.write_bytes(b"x")
    cat.table("runs").insert(
        {
            "backbone": "vgg16",
            "split": "default",
            "status": "finished",
            "started_at": now(),
            "artifacts": json.dumps(
                {"model": str(model), "figures": {"confusion": str(tmp_path / "gone.png")}}
            ),
        }
    )
    report = check_catalog(cat)
    assert [(p.kind, p.detail) for p in report.problems] == [
        ("missing-artifact", f"figures.confusion: {tmp_path / 'gone.png'} does not exist")
    ]


def test_undo_of_a_check_fix_restores_the_image(cat):
    """Issue 17: `check --fix` wrote its audit row with its own INSERT, without the class,
    and `curate undo` of it failed with KeyError 'class'; it now goes through record_review."""
    from catalog.reviews import last_review, undo_review

    (a,) = _images(cat, 1)
    image_file(cat, a).unlink()
    check_catalog(cat, fix=True)
    review = last_review(cat, a["id"])
    assert review["action"] == "check"
    assert review["before"] == {"status": "pending", "class": "Yeezy_350", "reason": None}
    undo_review(cat, review)
    assert (get_image(cat, a["id"])["status"], get_image(cat, a["id"])["reason"]) == (
        "pending",
        None,
    )
