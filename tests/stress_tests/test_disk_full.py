"""A full disk stops import, dedup, split and crawl with one line, exit 1 (issue 13, item 9).

Simulated here (the write raises ENOSPC, SQLite says the disk is full); bench/faults_io.py
fills a real small tmpfs.
"""

from __future__ import annotations

import errno
import sqlite3

import pytest
from crawler_tests.crawlserver import Tile, google_page, offline_dns, serving_faults
from typer.testing import CliRunner

from catalog import iter_images, open_catalog
from catalog.diskfull import disk_full
from crawler import fetch
from crawler.cli import app as crawl_app
from curation.cli import app as curate_app

runner = CliRunner()
LINE = "disk full while writing"


def _no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device", "/full/images/ab/.tmp-1-x.jpg")


def _sqlite_full(*args, **kwargs):
    raise sqlite3.OperationalError("database or disk is full")


def _one_line_error(result) -> str:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and not isinstance(
        result.exception, (OSError, sqlite3.Error)
    )
    lines = [line for line in result.output.splitlines() if "error:" in line]
    assert len(lines) == 1, result.output
    return lines[0]


@pytest.mark.parametrize(
    ("code", "text"),
    [
        (errno.ENOSPC, LINE),
        (errno.EDQUOT, LINE),
        (errno.EROFS, "read-only file system while writing"),
    ],
)
def test_disk_full_errors_are_recognised(code, text):
    error = disk_full(OSError(code, "x", "/a/b"), "the catalog")
    assert error is not None and str(error).startswith(f"{text} /a/b")
    assert disk_full(OSError(errno.EACCES, "x"), "c") is None
    assert LINE in str(disk_full(sqlite3.OperationalError("database or disk is full"), "c.db"))


def test_import_on_a_full_disk(tmp_path, catalog_path, write_image, monkeypatch):
    """Issue 13: a full disk gave a traceback in `curate import`."""
    for seed in range(3):
        write_image(tmp_path / "ds" / "Yeezy_350" / f"{seed}.jpg", seed)
    monkeypatch.setattr("catalog.images.put_file", _no_space)
    result = runner.invoke(
        curate_app, ["import", str(tmp_path / "ds"), "--catalog", str(catalog_path)]
    )
    line = _one_line_error(result)
    assert f"{LINE} /full/images/ab/.tmp-1-x.jpg: freed nothing, re-run after making space" in line
    with open_catalog(catalog_path) as cat:
        assert list(iter_images(cat)) == []
    monkeypatch.undo()
    again = runner.invoke(
        curate_app, ["import", str(tmp_path / "ds"), "--catalog", str(catalog_path)]
    )
    assert again.exit_code == 0 and "3 new" in again.output


@pytest.mark.parametrize("command", ["dedup", "split"])
def test_dedup_and_split_on_a_full_disk(tmp_path, catalog_path, write_image, monkeypatch, command):
    """Issue 13: a full disk gave a traceback in `curate dedup` and `curate split`."""
    for seed in range(3):
        write_image(tmp_path / "ds" / "Yeezy_350" / f"{seed}.jpg", seed)
    assert (
        runner.invoke(
            curate_app, ["import", str(tmp_path / "ds"), "--catalog", str(catalog_path)]
        ).exit_code
        == 0
    )
    monkeypatch.setattr("curation.hashing.set_hashes", _sqlite_full)  # what curation calls
    line = _one_line_error(runner.invoke(curate_app, [command, "--catalog", str(catalog_path)]))
    assert f"{LINE} {catalog_path}: freed nothing" in line


@pytest.fixture
def http_server():
    """The crawler tests' fault server (their conftest's fixture is not visible from here)."""
    with serving_faults() as server:
        yield server


def test_crawl_on_a_full_disk(http_server, catalog_path, monkeypatch):
    """Issue 13: a full disk gave a traceback in `crawl`."""
    monkeypatch.setattr(fetch, "resolve", offline_dns)
    http_server.routes["/search"] = lambda h, q: h.reply(
        200,
        google_page([Tile(http_server.url(f"/img/{i}.jpg")) for i in range(4)])
        if q["ijn"] == "0"
        else b"<html>" + b" " * 3000 + b"</html>",
        "text/html",
    )
    monkeypatch.setattr("crawler.crawl.stage_file", _no_space)
    result = runner.invoke(
        crawl_app,
        [
            "--class",
            "Air_Max_1",
            "--search-url",
            http_server.url("/search"),
            "--allow-private",
            "127.0.0.1",
            "--delay",
            "0",
            "--catalog",
            str(catalog_path),
        ],
    )
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and not isinstance(
        result.exception, (OSError, sqlite3.Error)
    )
    assert f"stopped early: {LINE} /full/images/ab/.tmp-1-x.jpg: freed nothing" in result.output
    with open_catalog(catalog_path) as cat:
        assert list(iter_images(cat)) == [] and cat.table("fetches").count == 0
