"""`kill -9` in the middle of `train`, then `train --resume RUN` (issue 6).

The kill lands in phase 2 (fine-tuning), after phase 1 saved the head and the cached
features: the resumed run must start from that checkpoint (those files are not written
again), finish, and leave a catalog that `curate check` finds clean.
"""

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

from catalog import Provenance, add_image, open_catalog, splits

pytestmark = pytest.mark.slow  # kills and resumes a Keras training run

BIN = Path(sys.executable).parent
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}


def _catalog(db: Path) -> None:
    with open_catalog(db) as cat:
        ids = [
            add_image(cat, image_bytes(seed, (64, 64)), cls, Provenance(origin="import")).image[
                "id"
            ]
            for cls, seeds in (("Yeezy_350", range(0, 12)), ("Yeezy_500", range(20, 32)))
            for seed in seeds
        ]
        splits.assign(
            cat, "default", [(i, "test" if n % 4 == 0 else "train") for n, i in enumerate(ids)]
        )


def test_kill_during_fine_tuning_then_resume(tmp_path):
    db = tmp_path / "c.db"
    _catalog(db)
    run_dir = tmp_path / "runs" / "1"
    checkpoint = run_dir / "head.weights.h5"
    proc = subprocess.Popen(
        [
            str(BIN / "train"),
            "--backbone",
            "mobilenet_v2",
            "--weights",
            "none",
            "--epochs",
            "3",
            "--set",
            "fine_tune_epochs=60",
            "--size",
            "48",
            "--set",
            "augment_passes=2",
            "--catalog",
            str(db),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=ENV,
    )
    deadline = time.monotonic() + 240
    while not checkpoint.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(1.0)  # into phase 2
    assert proc.poll() is None, "training ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (run_dir / "model.keras").exists()
    saved = {p.name: p.stat().st_mtime_ns for p in (checkpoint, run_dir / "features.json")}

    resumed = subprocess.run(
        [str(BIN / "train"), "--resume", "1", "--catalog", str(db)],
        capture_output=True,
        text=True,
        timeout=300,
        env=ENV,
    )
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert {p: (run_dir / p).stat().st_mtime_ns for p in saved} == saved  # phase 1 was not redone
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT id, status FROM runs").fetchall() == [(1, "finished")]
        assert conn.execute("SELECT count(*) FROM predictions WHERE run_id = 1").fetchone()[0] == 6
    check = subprocess.run(
        [str(BIN / "curate"), "check", "--catalog", str(db)], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
