"""Ctrl-C during a crawl against slow hosts (issue 13, item 13): a subprocess sent SIGINT."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from crawler_tests.crawlserver import Tile, google_page

from catalog import iter_images, open_catalog
from catalog.fetches import fetch_rows

CRAWL = [sys.executable, "-c", "from crawler.cli import app; app()"]


def _start(http_server, tmp_path, n_fast: int, n_slow: int):
    """A crawl whose first images come at once and the rest from a host that answers in 60 s."""
    tiles = [Tile(http_server.url(f"/img/{i}.jpg")) for i in range(n_fast)]
    tiles += [Tile(http_server.url(f"/slow.jpg?s=60&n={i}")) for i in range(n_slow)]
    http_server.routes["/search"] = lambda h, q: h.reply(
        200,
        google_page(tiles) if q["ijn"] == "0" else b"<html>" + b" " * 3000 + b"</html>",
        "text/html",
    )
    db = tmp_path / "c.db"
    open_catalog(db).close()
    cmd = [
        *CRAWL,
        "--class",
        "Yeezy_350",
        "--search-url",
        http_server.url("/search"),
        "--allow-private",
        "127.0.0.1",
        "--workers",
        "4",
        "--per-host",
        "4",
        "--delay",
        "0",
        "--timeout",
        "30",
        "--catalog",
        str(db),
    ]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 60
    while http_server.hits["/slow.jpg"] < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # the fast images are recorded
    return proc, db


def test_first_ctrl_c_records_what_finished_and_exits_130_at_once(http_server, tmp_path):
    """Issue 13: Ctrl-C against slow hosts took up to ~2.5 minutes."""
    proc, db = _start(http_server, tmp_path, n_fast=3, n_slow=12)
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    took = time.monotonic() - started
    assert proc.returncode == 130, (out, err)
    assert took < 3, took
    assert "Traceback" not in out + err
    assert "Yeezy_350: interrupted after 3 tried: 3 stored" in out
    assert "run the same command to continue" in out
    with open_catalog(db) as cat:
        assert len(list(iter_images(cat))) == 3
        assert sorted(r["url"].rsplit("/", 1)[1] for r in fetch_rows(cat)) == [
            "0.jpg",
            "1.jpg",
            "2.jpg",
        ]


def test_second_ctrl_c_exits_at_once(http_server, tmp_path, monkeypatch):
    """Issue 13: a second Ctrl-C did nothing."""
    proc, db = _start(http_server, tmp_path, n_fast=0, n_slow=8)
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, (out, err)
    assert time.monotonic() - started < 3
    assert "Traceback" not in out + err
