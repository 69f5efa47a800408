"""Runs whose process is gone show as `died`; heartbeats; `train runs` table and --json
(issue 18)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time

import pytest
from typer.testing import CliRunner

from catalog import CatalogError, open_catalog
from catalog.runs import DIED, get_run, list_runs, start_run, update_run
from trainer.cli import app
from trainer.heartbeat import beating


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _run(cat, **changes) -> int:
    run_id = start_run(cat, "mobilenet_v2", "default", "none", {"epochs": 1})["id"]
    if changes:
        cat.table("runs").update(run_id, changes)
    return run_id


def test_run_killed_by_the_kernel_shows_as_died_with_the_reason(cat):
    """Issue 18: a run the kernel killed (out of memory) stayed `running` in `train runs`
    forever."""
    dead = _run(cat, pid=_dead_pid())
    alive = _run(cat)  # this test's own process
    shown = {r["id"]: r for r in list_runs(cat)}
    assert shown[dead]["status"] == DIED and "is gone" in shown[dead]["died_reason"]
    assert shown[alive]["status"] == "running" and "died_reason" not in shown[alive]
    assert get_run(cat, dead)["status"] == "running"  # stored as it was: resume continues it


def test_stale_heartbeat_from_another_host_is_died_fresh_one_is_not(cat):
    stale = _run(cat, host="other-host", pid=1, heartbeat_at="2020-01-01T00:00:00+00:00")
    fresh = _run(cat, host="other-host", pid=1)
    legacy = _run(cat, pid=None, host=None, heartbeat_at=None)  # recorded before liveness existed
    finished = _run(cat, pid=_dead_pid(), status="finished")
    shown = {r["id"]: r for r in list_runs(cat)}
    assert shown[stale]["status"] == DIED and "other-host" in shown[stale]["died_reason"]
    assert [shown[i]["status"] for i in (fresh, legacy, finished)] == [
        "running",
        "running",
        "finished",
    ]


def test_resume_takes_over_a_died_run_but_not_a_live_one(cat):
    died = _run(cat, pid=_dead_pid())
    row = update_run(cat, died, status="running")
    assert (row["pid"], row["host"]) == (__import__("os").getpid(), socket.gethostname())
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        live = _run(cat, pid=sleeper.pid)
        with pytest.raises(CatalogError, match=f"still running in process {sleeper.pid}"):
            update_run(cat, live, status="running")
    finally:
        sleeper.kill()
        sleeper.wait()


def test_heartbeat_thread_refreshes_the_run_and_stops(cat):
    run_id = _run(cat, heartbeat_at="2020-01-01T00:00:00+00:00")
    with beating(cat, run_id, every=0.05):
        time.sleep(0.3)
        during = get_run(cat, run_id)["heartbeat_at"]
    assert during > "2020" and during != "2020-01-01T00:00:00+00:00"
    cat.table("runs").update(run_id, {"heartbeat_at": "2020-01-01T00:00:00+00:00"})
    time.sleep(0.2)
    assert (
        get_run(cat, run_id)["heartbeat_at"] == "2020-01-01T00:00:00+00:00"
    )  # stopped with the block


def test_train_runs_table_stays_aligned_and_json_lists_the_runs(catalog_path):
    empty = CliRunner().invoke(app, ["runs", "--catalog", str(catalog_path)])
    assert empty.exit_code == 0 and empty.output.splitlines()[1].split() == [
        "run",
        "backbone",
        "split",
        "weights",
        "status",
        "top-1",
        "top-3",
        "test",
        "secs",
        "unknown>",  # the run's unknown threshold (issue 16)
        "reason",
    ]
    with open_catalog(catalog_path) as cat:
        short = _run(cat)
        long_id = start_run(
            cat,
            "mobilenet_v2+efficientnet_lite0+vgg16",
            "a_very_long_split_name_indeed",
            "none",
            {},
        )["id"]
        cat.table("runs").update(long_id, {"pid": _dead_pid()})
    result = CliRunner().invoke(app, ["runs", "--catalog", str(catalog_path)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    header, rows = lines[1], [line for line in lines[2:] if "died:" not in line]
    assert len(rows) == 2
    for col in ("split", "weights", "status"):
        starts = {r.index(v) for r, v in zip(rows, _values(rows, header, col), strict=True)}
        assert starts == {header.index(col)}
    assert "died: process" in result.output and f"train --resume {long_id}" in result.output
    as_json = CliRunner().invoke(app, ["runs", "--json", "--catalog", str(catalog_path)])
    assert as_json.exit_code == 0, as_json.output
    data = json.loads(as_json.output)
    assert [(r["id"], r["status"]) for r in data] == [(long_id, DIED), (short, "running")]
    assert "is gone" in data[0]["died_reason"]


def _values(rows: list[str], header: str, col: str) -> list[str]:
    start = header.index(col)
    return [r[start:].split()[0] for r in rows]


def test_a_sigkilled_training_process_leaves_a_run_shown_as_died(catalog_path):
    """Issue 18: the kernel's SIGKILL gives the run no chance to close; its row must not say
    running."""
    code = (
        "import sys, time\n"
        "from catalog import open_catalog\n"
        "from catalog.runs import start_run, update_run\n"
        "from trainer.heartbeat import beating\n"
        "cat = open_catalog(sys.argv[1])\n"
        "run = start_run(cat, 'mobilenet_v2', 'default', 'none', {})\n"
        "update_run(cat, run['id'], status='running')\n"
        "with beating(cat, run['id'], every=0.05):\n"
        "    print(run['id'], flush=True)\n"
        "    time.sleep(60)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(catalog_path)], stdout=subprocess.PIPE, text=True
    )
    run_id = int(proc.stdout.readline())
    with open_catalog(catalog_path) as cat:
        assert list_runs(cat)[0]["status"] == "running"  # alive: not died
        proc.kill()
        proc.wait()
        shown = list_runs(cat)[0]
    proc.stdout.close()
    assert (shown["id"], shown["status"]) == (run_id, DIED)
    assert f"process {proc.pid} is gone" in shown["died_reason"]
