"""Several processes writing one catalog at once lose nothing and never see "locked" (issue 6)."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

from workers import CLASSES, PER_WORKER, add_images_worker

from catalog import iter_images, open_catalog
from catalog.conflicts import open_conflicts


def test_parallel_writers_on_a_new_catalog(tmp_path: Path):
    db = str(tmp_path / "c.db")
    ctx = mp.get_context("spawn")
    errors = ctx.Queue()
    procs = [
        ctx.Process(target=add_images_worker, args=(db, cls, 1000 * n, errors))
        for n, cls in enumerate(CLASSES)
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=120)
    messages = [errors.get() for _ in range(errors.qsize())] if not errors.empty() else []
    assert messages == []
    assert [p.exitcode for p in procs] == [0, 0, 0]
    with open_catalog(db) as cat:
        rows = list(iter_images(cat))
        assert len(rows) == len(CLASSES) * PER_WORKER + 5
        assert len({r["sha256"] for r in rows}) == len(rows)
        for cls in CLASSES:
            assert sum(r["class"] == cls for r in rows) >= PER_WORKER
        # Each shared image belongs to one class and is a conflict for each of the others.
        assert len(open_conflicts(cat)) == 5 * (len(CLASSES) - 1)
        files = [p for p in cat.store_dir.rglob("*") if p.is_file()]
        assert len(files) == len(rows)
