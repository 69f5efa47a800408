"""A run that failed while the disk was full: its error is kept and shown, not guessed."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

from catalog import fail_run, get_run, list_runs, open_catalog, start_run
from catalog import runs as runs_module


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_run_whose_row_could_not_take_its_error_is_closed_with_it_next_time(
    catalog_path, monkeypatch
):
    """Issue 27: a full disk during `train` left the run `running`, and `train runs` said it
    died, e.g. out of memory."""
    with open_catalog(catalog_path) as cat:
        run_id = start_run(cat, "mobilenet_v2", "default", "none", {})["id"]
        (cat.root / "runs" / str(run_id)).mkdir(parents=True)

        def full(*args, **kwargs):
            raise sqlite3.OperationalError("database or disk is full")

        monkeypatch.setattr(runs_module, "update_run", full)
        fail_run(cat, run_id, "disk full while writing runs/1/model.keras")  # raises nothing
        monkeypatch.undo()
        cat.table("runs").update(run_id, {"pid": _dead_pid()})  # the process is gone
        assert get_run(cat, run_id)["status"] == "running"

        shown = next(r for r in list_runs(cat) if r["id"] == run_id)
        assert shown["status"] == "failed" and "died_reason" not in shown
        assert shown["metrics"]["error"] == "disk full while writing runs/1/model.keras"
        stored = get_run(cat, run_id)  # reconciled in the catalog, not only in the listing
        assert stored["status"] == "failed" and stored["finished_at"]


def test_a_dead_run_without_a_recorded_error_still_says_its_process_is_gone(catalog_path):
    with open_catalog(catalog_path) as cat:
        run_id = start_run(cat, "mobilenet_v2", "default", "none", {})["id"]
        cat.table("runs").update(run_id, {"pid": _dead_pid()})
        shown = next(r for r in list_runs(cat) if r["id"] == run_id)
    assert shown["status"] == "died" and "is gone" in shown["died_reason"]


def test_fail_run_writes_the_row_when_it_can(catalog_path):
    with open_catalog(catalog_path) as cat:
        run_id = start_run(cat, "mobilenet_v2", "default", "none", {})["id"]
        fail_run(cat, run_id, "x" * 2000)
        run = get_run(cat, run_id)
        assert run["status"] == "failed" and len(run["metrics"]["error"]) == 500
        assert not (cat.root / "runs" / str(run_id) / "error.txt").exists()
