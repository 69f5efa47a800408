"""`kill -9` during `curate export`, then a re-run.

The kill lands once the export has written some of its files (the test watches the folder),
so it falls inside the writing on a fast machine and on a loaded one. The re-run must build
exactly the tree an uninterrupted export builds, every file whole, no temporary file left,
and the catalog's `curate check` clean.
"""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from imagegen import image_bytes

from catalog import Provenance, add_image, open_catalog
from catalog import splits as catalog_splits
from catalog.integrity import check_catalog

pytestmark = pytest.mark.slow  # starts curate several times

CURATE = str(Path(sys.executable).parent / "curate")
N_IMAGES = 400


@pytest.fixture(scope="module")
def catalog_db(tmp_path_factory) -> Path:
    db = tmp_path_factory.mktemp("export") / "c.db"
    with open_catalog(db) as cat:
        ids = []
        for seed in range(N_IMAGES):
            cls = "Yeezy_350" if seed % 2 else "Yeezy_500"
            row = add_image(cat, image_bytes(seed, (320, 240)), cls, Provenance(origin="import"))
            ids.append(row.image["id"])
        catalog_splits.assign(cat, "default", [(i, "test" if i % 5 else "train") for i in ids])
    return db


def _tree(root: Path) -> dict[str, str]:
    """Every file under `root` (the marker aside) with its sha256."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != ".imageset-export.json"
    }


def _export(db: Path, dest: Path) -> None:
    result = subprocess.run(
        [CURATE, "export", str(dest), "--copy", "--catalog", str(db)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _killed_export(db: Path, dest: Path, after_files: int) -> int:
    """Start an export, SIGKILL it once `after_files` files exist under `dest`."""
    proc = subprocess.Popen(
        [CURATE, "export", str(dest), "--copy", "--catalog", str(db)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        if dest.exists() and sum(1 for p in dest.rglob("*") if p.is_file()) >= after_files:
            os.kill(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.002)
    proc.wait()
    return proc.returncode


@pytest.mark.parametrize("share", [0.1, 0.5, 0.9])
def test_kill_during_export_then_rerun(catalog_db, tmp_path, share):
    reference = tmp_path / "reference"
    _export(catalog_db, reference)
    expected = _tree(reference)
    assert len(expected) == N_IMAGES + 1  # the images and the manifest

    dest = tmp_path / "killed"
    after = int(N_IMAGES * share) + random.Random(share).randrange(5)
    assert _killed_export(catalog_db, dest, after) == -signal.SIGKILL
    _export(catalog_db, dest)
    assert _tree(dest) == expected
    assert not [p for p in dest.rglob("*") if p.name.startswith(".imageset-export-tmp-")]
    with open_catalog(catalog_db) as cat:
        report = check_catalog(cat)
        assert report.ok, report.problems
