"""`kill -9` during `curate dedup` and `curate split`, then a re-run (issue 6).

A killed-and-rerun catalog must end exactly where an uninterrupted run ends: the same
statuses, duplicate rows and split, with `curate check` clean.
"""

from __future__ import annotations

import io
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from imagegen import image_bytes, make_image

from catalog import Provenance, add_image, open_catalog
from catalog.integrity import check_catalog

pytestmark = pytest.mark.slow  # kill loops, ~30 s each

CURATE = str(Path(sys.executable).parent / "curate")
N_SEEDS = 90


def _near(seed: int) -> bytes:
    buf = io.BytesIO()
    make_image(seed, (160, 120)).resize((128, 96)).save(buf, "JPEG", quality=50)
    return buf.getvalue()


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """A catalog of originals and their near copies in two classes, not yet deduplicated."""
    folder = tmp_path_factory.mktemp("template")
    with open_catalog(folder / "c.db") as cat:
        for seed in range(N_SEEDS):
            cls = "Yeezy_350" if seed % 2 else "Yeezy_500"
            add_image(cat, image_bytes(seed, (160, 120)), cls, Provenance(origin="import"))
            if seed % 3 == 0:
                add_image(cat, _near(seed), cls, Provenance(origin="import"))
    return folder


def _state(db: Path) -> dict[str, list[tuple]]:
    with sqlite3.connect(db) as conn:
        return {
            "statuses": conn.execute("SELECT id, status FROM images ORDER BY id").fetchall(),
            "duplicates": conn.execute(
                "SELECT image_id, duplicate_of FROM duplicates ORDER BY image_id"
            ).fetchall(),
            "splits": conn.execute(
                "SELECT name, image_id, subset FROM splits ORDER BY name, image_id"
            ).fetchall(),
        }


def _copy(template: Path, dest: Path) -> Path:
    shutil.copytree(template, dest)
    return dest / "c.db"


def _curate(db: Path, *args: str) -> float:
    """Run a curate command to completion; returns its wall time."""
    started = time.perf_counter()
    result = subprocess.run(
        [CURATE, *args, "--catalog", str(db)], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return time.perf_counter() - started


def _killed(db: Path, delay: float, *args: str) -> None:
    proc = subprocess.Popen(
        [CURATE, *args, "--catalog", str(db)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    time.sleep(delay)
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


# The kill lands at this fraction of the uninterrupted command's wall time, measured in
# the same test, so it falls inside the work on a fast machine and on a loaded one.
@pytest.mark.parametrize("fraction", [0.5, 0.7, 0.85, 0.95])
def test_kill_during_dedup_and_split_then_rerun(template, tmp_path, fraction):
    reference = _copy(template, tmp_path / "reference")
    dedup_time = _curate(reference, "dedup")
    split_time = _curate(reference, "split", "--seed", "3")
    expected = _state(reference)
    assert any(status == "duplicate" for _, status in expected["statuses"])

    killed = _copy(template, tmp_path / "killed")
    _killed(killed, dedup_time * fraction, "dedup")
    _curate(killed, "dedup")
    _killed(killed, split_time * fraction, "split", "--seed", "3")
    _curate(killed, "split", "--seed", "3")
    assert _state(killed) == expected
    with open_catalog(killed) as cat:
        report = check_catalog(cat)
        assert report.ok, report.problems
