"""The whole pipeline through the installed console scripts (issue 6).

A server on 127.0.0.1 plays Google Images (tests/fakegoogle.py). The test runs crawl ->
dedup -> quality -> scripted review -> split -> export -> train -> evaluate -> predict,
asserting the catalog's rows and the files on disk after every step.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from fakegoogle import CLASSES, DISTINCT, serve_google
from predict_output import ranked_classes

pytestmark = pytest.mark.slow  # crawl, curate and train end to end (minutes)

BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def google():
    with serve_google() as url:
        yield url


def _run(*args: str, ok: bool = True, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "COLUMNS": "200"}
    result = subprocess.run(
        [str(BIN / args[0]), *args[1:]], capture_output=True, text=True, timeout=timeout, env=env
    )
    if ok:
        assert result.returncode == 0, f"{' '.join(args)}\n{result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.stderr, result.stderr
    return result


def _rows(db: Path, sql: str, *params: object) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql, params).fetchall()


def test_crawl_curate_train_end_to_end(google, tmp_path):
    db = tmp_path / "catalog.db"
    cat = ("--catalog", str(db))

    # crawl each class from the local "Google"
    for cls, _, _seeds in CLASSES.values():
        out = _run(
            "crawl",
            "--class",
            cls,
            "--search-url",
            google,
            "--allow-private",
            "127.0.0.1",
            "--delay",
            "0",
            "--timeout",
            "5",
            *cat,
        ).stdout
        assert "stored" in out
    per_class = dict(_rows(db, "SELECT class, count(*) FROM images GROUP BY class"))
    assert per_class == {
        cls: DISTINCT + 1 for cls, _, _ in CLASSES.values()
    }  # 8 distinct + the near copy
    failures = dict(
        _rows(
            db, "SELECT url, error FROM fetches WHERE status != 'stored' AND url LIKE '%/broken/%'"
        )
    )
    assert len(failures) == 3 and all(failures.values())
    failed_kinds = {
        url.split("/")[3]
        for (url,) in _rows(db, "SELECT url FROM fetches WHERE status NOT IN ('stored')")
    }
    assert {"broken", "html", "gone"} <= failed_kinds
    assert all(Path(tmp_path / p).is_file() for (p,) in _rows(db, "SELECT path FROM images"))
    assert _run("curate", "check", *cat).returncode == 0

    # a second crawl downloads nothing new
    again = _run(
        "crawl",
        "--class",
        "Yeezy_350",
        "--search-url",
        google,
        "--allow-private",
        "127.0.0.1",
        "--delay",
        "0",
        *cat,
    )
    assert _rows(db, "SELECT count(*) FROM images")[0][0] == 3 * (DISTINCT + 1), again.stdout

    # dedup: each class's near copy joins its original, the original (larger) is kept
    _run("curate", "dedup", *cat)
    dups = _rows(
        db,
        "SELECT i.class, i.width, k.width FROM duplicates d JOIN images i ON i.id = d.image_id "
        "JOIN images k ON k.id = d.duplicate_of",
    )
    assert sorted(dups) == sorted((cls, 136, 160) for cls, _, _ in CLASSES.values())
    assert _rows(db, "SELECT count(*) FROM images WHERE status = 'duplicate'")[0][0] == 3

    # quality flags are recorded and change no status
    _run("curate", "quality", *cat)
    assert _rows(db, "SELECT count(*) FROM images WHERE status = 'pending'")[0][0] == 3 * DISTINCT

    # scripted review: accept, reject, relabel, undo
    ids = [
        i
        for (i,) in _rows(
            db, "SELECT id FROM images WHERE class = 'Yeezy_350' AND status = 'pending' ORDER BY id"
        )
    ]
    _run("curate", "accept", str(ids[0]), str(ids[1]), *cat)
    _run("curate", "reject", str(ids[2]), *cat)
    _run("curate", "relabel", str(ids[3]), "--to", "Yeezy_500", *cat)
    _run("curate", "reject", str(ids[4]), *cat)
    _run("curate", "undo", *cat)  # takes back the last rejection
    states = dict((i, (c, s)) for i, c, s in _rows(db, "SELECT id, class, status FROM images"))
    assert [states[i] for i in ids[:5]] == [
        ("Yeezy_350", "accepted"),
        ("Yeezy_350", "accepted"),
        ("Yeezy_350", "rejected"),
        ("Yeezy_500", "accepted"),
        ("Yeezy_350", "pending"),
    ]
    assert _rows(db, "SELECT count(*) FROM reviews")[0][0] >= 5

    # split 80/20 without leaks
    _run("curate", "split", "--seed", "7", *cat)
    subsets = dict(
        _rows(db, "SELECT subset, count(*) FROM splits WHERE name = 'default' GROUP BY subset")
    )
    usable = _rows(db, "SELECT count(*) FROM images WHERE status IN ('pending', 'accepted')")[0][0]
    assert subsets["train"] + subsets["test"] == usable and 3 <= subsets["test"] <= 8
    assert _run("curate", "leaks", "default", *cat).returncode == 0

    # export a Keras-ready tree that matches the split
    export = tmp_path / "export"
    _run("curate", "export", str(export), "--copy", *cat)
    exported = {
        sub: sum(1 for p in (export / sub).rglob("*") if p.is_file()) for sub in ("train", "test")
    }
    assert exported == {"train": subsets["train"], "test": subsets["test"]}
    assert (export / "manifest.csv").is_file()

    # train, evaluate, predict
    _run(
        "train",
        "--backbone",
        "vgg16",
        "--weights",
        "none",
        "--epochs",
        "1",
        "--set",
        "fine_tune_epochs=1",
        "--size",
        "32",
        "--set",
        "augment_passes=1",
        "--batch-size",
        "8",
        *cat,
    )
    [(run_id, status, metrics)] = _rows(db, "SELECT id, status, metrics FROM runs")
    assert status == "finished" and 0.0 <= json.loads(metrics)["top1"] <= 1.0
    predictions = _rows(db, "SELECT image_id, top_k FROM predictions WHERE run_id = ?", run_id)
    assert len(predictions) == subsets["test"]
    evaluated = _run("train", "evaluate", str(run_id), *cat).stdout
    assert f"run {run_id}: top-1" in evaluated
    image_id, top_k = predictions[0]
    [(path,)] = _rows(db, "SELECT path FROM images WHERE id = ?", image_id)
    predicted = _run(
        "train", "predict", str(tmp_path / path), "--run", str(run_id), "--top", "3", *cat
    ).stdout
    line = next(ln for ln in predicted.splitlines() if ln.startswith(str(tmp_path / path)))
    assert ranked_classes(line) == [cls for cls, _ in json.loads(top_k)[:3]]
    assert _run("curate", "check", *cat).returncode == 0
