"""`kill -9` in the middle of `curate import`, then a re-run: nothing lost or doubled (issue 6)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from imagegen import image_bytes

from catalog import iter_images, open_catalog
from catalog.integrity import check_catalog

pytestmark = pytest.mark.slow  # a kill loop

N_IMAGES = 300


def _row_count(db: Path) -> int:
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            return conn.execute("SELECT count(*) FROM images").fetchone()[0]
    except sqlite3.OperationalError:
        return 0  # not created yet


def _curate(*args: str) -> list[str]:
    return [str(Path(sys.executable).parent / "curate"), *args]


def test_kill_during_import_then_rerun(tmp_path):
    folder = tmp_path / "ds" / "Air_Jordan_1"
    folder.mkdir(parents=True)
    for seed in range(N_IMAGES):
        (folder / f"{seed:03d}.jpg").write_bytes(image_bytes(seed, (160, 120)))
    db = tmp_path / "c.db"
    proc = subprocess.Popen(
        _curate("import", str(tmp_path / "ds"), "--catalog", str(db)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while _row_count(db) < 20 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = _row_count(db)
    assert 0 < killed_at < N_IMAGES, "the import finished before it could be killed"

    rerun = subprocess.run(
        _curate("import", str(tmp_path / "ds"), "--catalog", str(db)),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert rerun.returncode == 0, rerun.stderr
    assert f"{N_IMAGES - killed_at} new" in rerun.stdout.replace("\n", " ")
    with open_catalog(db) as cat:
        rows = list(iter_images(cat))
        assert len(rows) == N_IMAGES and len({r["sha256"] for r in rows}) == N_IMAGES
        report = check_catalog(cat)
        assert report.ok, report.problems
        assert report.files_checked == N_IMAGES
