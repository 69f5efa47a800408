"""The one atomic-file-write helper every package uses (issue 17)."""

from __future__ import annotations

import os
import stat

import pytest

from catalog import AtomicFile, atomic_write, write_text_atomic
from catalog.store import TEMP_PREFIX, stage_file, stale_temp_files


def test_a_finished_block_publishes_the_whole_file_and_leaves_no_temp(tmp_path):
    path = tmp_path / "manifest.csv"
    with atomic_write(path, "w", newline="") as fh:
        fh.write("a,b\r\n")
        assert not path.exists()  # nothing under the real name before the rename
    assert path.read_bytes() == b"a,b\r\n"
    assert os.listdir(tmp_path) == ["manifest.csv"]


def test_an_error_keeps_the_old_file_and_removes_the_temp(tmp_path):
    path = tmp_path / "sheet.html"
    path.write_text("old")
    with pytest.raises(RuntimeError), atomic_write(path, "w") as fh:
        fh.write("half of the new")
        raise RuntimeError("disk full, say")
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["sheet.html"]


def test_the_new_file_gets_the_umask_permissions_like_any_new_file(tmp_path):
    old = os.umask(0o022)
    try:
        write_text_atomic(tmp_path / "key.json", "{}")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "key.json").stat().st_mode) == 0o644


def test_a_streamed_file_is_renamed_on_commit_or_dropped_on_discard(tmp_path):
    kept = AtomicFile(tmp_path / "maps.npy", prefix=".partial-", suffix=".npy")
    assert kept.tmp.name.startswith(f".partial-{os.getpid()}-") and kept.tmp.suffix == ".npy"
    kept.file.write(b"rows")
    assert kept.commit() == tmp_path / "maps.npy"
    dropped = AtomicFile(tmp_path / "other.npy")
    dropped.file.write(b"half")
    dropped.discard()
    assert sorted(os.listdir(tmp_path)) == ["maps.npy"]
    assert (tmp_path / "maps.npy").read_bytes() == b"rows"


def test_a_staged_store_file_names_its_live_writer(tmp_path):
    """`stage_file` uses the same helper; the store's sweep still reads the writer's pid."""
    staged = stage_file(tmp_path, b"jpeg bytes", "ab" * 32, "jpg")
    assert staged.name.startswith(f"{TEMP_PREFIX}{os.getpid()}-") and staged.suffix == ".jpg"
    assert staged.read_bytes() == b"jpeg bytes"
    assert stale_temp_files(tmp_path) == []  # its writer (this process) is alive


def test_only_write_modes_are_accepted(tmp_path):
    with pytest.raises(ValueError, match="mode='rb'"):
        AtomicFile(tmp_path / "x", "rb")
