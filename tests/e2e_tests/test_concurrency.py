"""Two crawls of different classes and a review session on one catalog at once (issue 6).

All three are separate processes of the installed console scripts. None may fail with
"database is locked", and no write may be lost: every image of both crawls is stored and
every review decision is in place with its audit row.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from fakegoogle import DISTINCT, serve_google

pytestmark = pytest.mark.slow  # three console scripts at once (~45 s)

BIN = Path(sys.executable).parent


def _cmd(*args: str) -> list[str]:
    return [str(BIN / args[0]), *args[1:]]


def _review_script(db: Path, ids: list[int]) -> str:
    """A shell loop that decides each image with its own command, as a person reviewing would."""
    steps = []
    for n, image_id in enumerate(ids):
        verb = "accept" if n % 2 == 0 else "reject"
        steps.append(f"{BIN / 'curate'} {verb} {image_id} --catalog {db} || exit 1")
    return "\n".join(steps)


def test_two_crawls_and_a_review_at_once(tmp_path):
    db = tmp_path / "catalog.db"
    with serve_google() as google:
        crawl = (
            "--search-url",
            google,
            "--allow-private",
            "127.0.0.1",
            "--delay",
            "0.05",
            "--workers",
            "2",
            "--catalog",
            str(db),
        )
        subprocess.run(
            _cmd("crawl", "--class", "Yeezy_500", *crawl),
            check=True,
            capture_output=True,
            timeout=300,
        )
        with sqlite3.connect(db) as conn:
            to_review = [i for (i,) in conn.execute("SELECT id FROM images ORDER BY id")]
        assert len(to_review) == DISTINCT + 1

        procs = [
            subprocess.Popen(
                _cmd("crawl", "--class", cls, *crawl),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for cls in ("Yeezy_350", "Air_Max_1")
        ]
        procs.append(
            subprocess.Popen(
                ["bash", "-c", _review_script(db, to_review)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
        outputs = [proc.communicate(timeout=300) for proc in procs]

    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, out + err
        assert "locked" not in (out + err).lower()
    with sqlite3.connect(db) as conn:
        per_class = dict(conn.execute("SELECT class, count(*) FROM images GROUP BY class"))
        assert per_class == {
            "Yeezy_500": DISTINCT + 1,
            "Yeezy_350": DISTINCT + 1,
            "Air_Max_1": DISTINCT + 1,
        }
        statuses = dict(
            conn.execute(
                f"SELECT id, status FROM images WHERE id IN ({','.join(map(str, to_review))})"
            )
        )
        assert [statuses[i] for i in to_review] == [
            "accepted" if n % 2 == 0 else "rejected" for n in range(len(to_review))
        ]
        audited = conn.execute("SELECT count(DISTINCT image_id) FROM reviews").fetchone()[0]
        assert audited == len(to_review)
