"""FIFOs, devices, links and huge files given to import, crawl --page and predict (issue 13,
items 12 and 15)."""

from __future__ import annotations

import os
import threading

import pytest
from typer.testing import CliRunner

from catalog import iter_images, open_catalog
from catalog.files import InputFileError, read_input_file
from crawler.cli import app as crawl_app
from curation.cli import app as curate_app

runner = CliRunner()


def within(seconds: float, fn, *args):
    """fn(*args) on a thread; fail (instead of hanging the suite) when it takes longer."""
    box: dict = {}

    def run():
        try:
            box["value"] = fn(*args)
        except BaseException as exc:  # handed to the test
            box["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        # Unblock a reader stuck in open() on a FIFO so the thread can end.
        for path in args:
            if isinstance(path, os.PathLike) and os.path.exists(path) and not os.path.isfile(path):
                with open(os.open(path, os.O_WRONLY | os.O_NONBLOCK), "wb", closefd=True):
                    pass
        pytest.fail(f"{fn.__name__} still running after {seconds} s (hang)")
    if "error" in box:
        raise box["error"]
    return box["value"]


@pytest.fixture
def fifo(tmp_path):
    path = tmp_path / "pipe.jpg"
    os.mkfifo(path)
    return path


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("fifo", "not-a-regular-file"),
        ("zero", "not-a-regular-file"),
        ("big", "too-large"),
        ("dangling", "not-a-regular-file"),
        ("loop", "not-a-regular-file"),
        ("folder", "not-a-regular-file"),
    ],
)
def test_read_input_file_refuses_at_once(tmp_path, fifo, name, reason):
    """Issue 13: a FIFO hung the reader, /dev/zero read until OOM, a 1 GiB file was read whole."""
    (tmp_path / "big.jpg").write_bytes(b"x" * 2000)
    os.symlink(tmp_path / "gone.jpg", tmp_path / "dangling.jpg")
    os.symlink(tmp_path / "loop.jpg", tmp_path / "loop.jpg")
    paths = {
        "fifo": fifo,
        "zero": "/dev/zero",
        "big": tmp_path / "big.jpg",
        "dangling": tmp_path / "dangling.jpg",
        "loop": tmp_path / "loop.jpg",
        "folder": tmp_path,
    }
    with pytest.raises(InputFileError) as info:
        within(5, read_input_file, paths[name], 1000)
    assert info.value.reason == reason
    assert read_input_file(tmp_path / "big.jpg", 2000) == b"x" * 2000


def test_import_lists_special_files_with_a_reason(tmp_path, catalog_path, write_image):
    """Issue 13: import skipped FIFOs, dangling links and loops without a word; it read huge
    files whole."""
    folder = tmp_path / "ds" / "Yeezy_350"
    write_image(folder / "good.jpg", 1)
    os.mkfifo(folder / "pipe.jpg")
    os.symlink(folder / "gone.jpg", folder / "dangling.jpg")
    os.symlink(folder / "loop.jpg", folder / "loop.jpg")
    (folder / "huge.jpg").write_bytes(b"\xff\xd8" + b"\0" * 30_000)
    args = ["import", str(tmp_path / "ds"), "--max-mb", "0.02", "--catalog", str(catalog_path)]
    result = within(20, runner.invoke, curate_app, args)
    assert result.exit_code == 0, result.output
    assert "5 files (classes layout): 1 new" in result.output and "4 failed" in result.output
    for line in (
        "pipe.jpg: not-a-regular-file: a FIFO",
        "dangling.jpg: not-a-regular-file: a dangling symbolic link",
        "loop.jpg: not-a-regular-file: a symbolic link loop",
        "huge.jpg: too-large: 30002 bytes",
    ):
        assert line in result.output, result.output
    with open_catalog(catalog_path) as cat:
        assert len(list(iter_images(cat))) == 1


@pytest.mark.parametrize("which", ["fifo", "zero", "big"])
def test_crawl_page_refuses_special_and_huge_files(
    tmp_path, fifo, catalog_path, which, monkeypatch
):
    """Issue 13: `crawl --page` on a FIFO hung."""
    from catalog import files

    big = tmp_path / "big.html"
    big.write_bytes(b"<html>" + b" " * 5000 + b"</html>")
    monkeypatch.setattr(files, "PAGE_MAX_BYTES", 1000)
    monkeypatch.setattr("crawler.crawl.PAGE_MAX_BYTES", 1000)
    page = {"fifo": fifo, "zero": "/dev/zero", "big": big}[which]
    result = within(
        20,
        runner.invoke,
        crawl_app,
        ["--class", "Yeezy_350", "--page", str(page), "--catalog", str(catalog_path)],
    )
    assert result.exit_code == 1, result.output
    assert "cannot read saved page" in result.output
    assert ("too-large" if which == "big" else "not-a-regular-file") in result.output


@pytest.mark.slow  # imports Keras
def test_predict_refuses_fifo_and_dev_zero(tmp_path, fifo, catalog_path, monkeypatch):
    """Issue 13: `train predict` on a FIFO hung, on /dev/zero it read until the OOM killer came."""
    from trainer import predict
    from trainer.cli import app as train_app

    run = {"id": 1, "backbone": "b", "metrics": {}, "artifacts": {}}  # a run row's keys
    monkeypatch.setattr(predict, "latest_finished_run", lambda cat: run)
    monkeypatch.setattr(
        predict,
        "load_run_model",
        lambda cat, run: (type("M", (), {"input_shape": (None, 32, 32, 3)})(), ["a"]),
    )
    result = within(
        20,
        runner.invoke,
        train_app,
        ["predict", str(fifo), "/dev/zero", "--catalog", str(catalog_path)],
    )
    assert result.exit_code == 1, result.output
    assert f"{fifo}: not-a-regular-file: a FIFO" in result.output
    assert "/dev/zero: not-a-regular-file: a character device" in result.output
