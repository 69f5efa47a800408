"""Training runs and their per-image predictions: all the SQL for `runs` and `predictions`.

A run row is written when training starts (status `running`), updated as it goes and
closed with `finished` or `failed`; `params`, `metrics` and `artifacts` are JSON objects.

A `running` run also records the process that runs it (`pid`, `host`) and a `heartbeat_at`
the trainer refreshes while it works. A process the kernel killed cannot close its run, so
`list_runs` shows such a run as `died`: its process is gone (same host) or its
heartbeat is older than `STALE_AFTER_S`. The stored status stays `running`; `train --resume`
continues it.

A run that failed while its row could not be written (a full disk fails SQLite's write
too) leaves its error in `RUN_ERROR_FILE` in its folder when that small write still goes
through (`fail_run`); the next `list_runs` then closes the row as `failed` with that error
instead of guessing why the process is gone.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from .db import Catalog
from .errors import CatalogError
from .sql import row_id
from .timeutil import now
from .tx import transaction

RUN_STATUSES = ("running", "finished", "failed", "interrupted")
DIED = "died"  # shown, never stored: a `running` run whose process is gone
HEARTBEAT_EVERY_S = 30
STALE_AFTER_S = 600  # 20 missed heartbeats: long enough for any single blocking step
_JSON_COLUMNS = ("params", "metrics", "artifacts")
DEFAULT_RUN_KEY = "default_run"  # in `settings`: the run `train predict` uses without --run
RUNS_FOLDER = "runs"  # beside the catalog: runs/<id>/ holds a run's files
RUN_ERROR_FILE = "error.txt"  # a run's last error, when its row could not take it
MAX_ERROR_CHARS = 500


@dataclass
class Prediction:
    """One image's prediction: `top_k` is [(class, probability), ...], best first."""

    image_id: int
    true_class: str
    top_k: list[tuple[str, float]]

    @property
    def predicted(self) -> str:
        return self.top_k[0][0]


def start_run(cat: Catalog, backbone: str, split: str, weights: str, params: dict) -> dict:
    """Record a new run with status `running` and return its row."""
    row = {
        "backbone": backbone,
        "split": split,
        "weights": weights,
        "params": json.dumps(params),
        "metrics": json.dumps({}),
        "artifacts": json.dumps({}),
        "started_at": now(),
        "status": "running",
        **_this_process(),
    }
    return get_run(cat, row_id(cat.table("runs").insert(row).last_pk))


def get_run(cat: Catalog, run_id: int) -> dict:
    """The run row with its JSON columns decoded; raises CatalogError if unknown."""
    rows = list(cat.table("runs").rows_where("id = ?", [run_id]))
    if not rows:
        raise CatalogError(f"no run with id {run_id}; list them with `train runs`")
    return _decode(rows[0])


def list_runs(cat: Catalog) -> list[dict]:
    """All runs, newest first, with their JSON columns decoded; dead `running` ones shown as `died`.

    A died run gets `died_reason`, e.g. "process 4242 on host gpu1 is gone".
    """
    rows = [_decode(r) for r in cat.table("runs").rows_where(order_by="id DESC")]
    for i, row in enumerate(rows):
        reason = death_reason(row)
        recorded = _recorded_error(cat, row["id"]) if reason else None
        if recorded is not None:
            rows[i] = _close_failed(cat, row["id"], recorded)
        elif reason:
            row["status"], row["died_reason"] = DIED, reason
    return rows


def fail_run(cat: Catalog, run_id: int, error: str) -> None:
    """Close run `run_id` as `failed` with `error`; when the row cannot be written (a full
    disk), leave the error in the run's folder for the next `list_runs`, as far as that goes.
    Raises nothing: it runs while another error is on its way out."""
    try:
        update_run(
            cat, run_id, status="failed", metrics={"error": error[:MAX_ERROR_CHARS]}, finished=True
        )
        return
    except Exception:  # any: the error on its way out matters more than this one
        pass
    try:
        path = cat.root / RUNS_FOLDER / str(run_id) / RUN_ERROR_FILE
        path.write_text(error[:MAX_ERROR_CHARS], encoding="utf-8")
    except OSError:
        pass  # nothing can be written: `list_runs` will say the process is gone


def _recorded_error(cat: Catalog, run_id: int) -> str | None:
    path = cat.root / RUNS_FOLDER / str(run_id) / RUN_ERROR_FILE
    try:
        return path.read_text(encoding="utf-8", errors="replace")[:MAX_ERROR_CHARS] or None
    except OSError:
        return None


def _close_failed(cat: Catalog, run_id: int, error: str) -> dict:
    try:
        return update_run(cat, run_id, status="failed", metrics={"error": error}, finished=True)
    except Exception:  # any: still no space; show it failed, store it next time
        row = get_run(cat, run_id)
        return {**row, "status": "failed", "metrics": {**row["metrics"], "error": error}}


def death_reason(run: dict, *, at: datetime | None = None) -> str | None:
    """Why a `running` run cannot be running any more, or None if it may be (or is not running).

    Runs recorded before liveness was tracked (no pid) are never called dead.
    """
    if run["status"] != "running" or not run.get("pid"):
        return None
    silent = _seconds_since(run.get("heartbeat_at"), at)
    if run.get("host") == socket.gethostname():
        if not pid_alive(run["pid"]):
            return f"process {run['pid']} is gone (killed, e.g. out of memory, or crashed)"
        if silent is not None and silent > STALE_AFTER_S:
            return (
                f"no heartbeat for {silent / 60:.0f} min (process {run['pid']} hangs, or its id "
                "was reused)"
            )
        return None
    if silent is not None and silent > STALE_AFTER_S:
        return f"no heartbeat from host {run.get('host')} for {silent / 60:.0f} min"
    return None


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists on this machine."""
    try:
        os.kill(pid, 0)  # signal 0 checks existence and sends nothing
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def heartbeat(cat: Catalog, run_id: int) -> None:
    """Record that run `run_id`'s process is alive now (one small UPDATE)."""
    cat.db.execute("UPDATE runs SET heartbeat_at = ? WHERE id = ?", [now(), run_id])


def _this_process() -> dict:
    return {"pid": os.getpid(), "host": socket.gethostname(), "heartbeat_at": now()}


def _seconds_since(stamp: str | None, at: datetime | None) -> float | None:
    if not stamp:
        return None
    return ((at or datetime.now(UTC)) - datetime.fromisoformat(stamp)).total_seconds()


def _check_not_alive_elsewhere(run: dict) -> None:
    """Refuse to take over a run another live process on this host is still training."""
    if (
        run["status"] == "running"
        and run.get("pid")
        and run["pid"] != os.getpid()
        and death_reason(run) is None
    ):
        if run.get("host") == socket.gethostname():
            raise CatalogError(
                f"run {run['id']} is still running in process {run['pid']}; "
                "wait for it or stop it first"
            )


def latest_finished_run(cat: Catalog) -> dict:
    """The newest run whose status is `finished`; raises CatalogError if there is none."""
    rows = list(cat.table("runs").rows_where("status = 'finished'", order_by="id DESC", limit=1))
    if not rows:
        raise CatalogError(
            "no finished run in this catalog yet: train one with `train --backbone NAME`"
        )
    return _decode(rows[0])


def finished_runs(cat: Catalog) -> list[dict]:
    """Every run whose status is `finished`, newest first, JSON columns decoded."""
    return [
        _decode(r) for r in cat.table("runs").rows_where("status = 'finished'", order_by="id DESC")
    ]


def set_default_run(cat: Catalog, run_id: int) -> dict:
    """Mark the finished run `train predict` uses when no --run is given (`train use RUN`)."""
    run = get_run(cat, run_id)
    if run["status"] != "finished":
        raise CatalogError(
            f"run {run_id} is {run['status']}, not finished: "
            "only a finished run can answer predictions"
        )
    cat.table("settings").upsert(
        {"key": DEFAULT_RUN_KEY, "value": str(run_id), "set_at": now()}, pk="key"
    )
    return run


def default_run(cat: Catalog) -> dict | None:
    """The run marked with `set_default_run`, or None when none is marked."""
    row = cat.db.execute("SELECT value FROM settings WHERE key = ?", [DEFAULT_RUN_KEY]).fetchone()
    return get_run(cat, int(row[0])) if row else None


def update_run(
    cat: Catalog,
    run_id: int,
    *,
    status: str | None = None,
    metrics: dict | None = None,
    artifacts: dict | None = None,
    finished: bool = False,
) -> dict:
    """Merge `metrics` and `artifacts` into the run's JSON and optionally set its status."""
    run = get_run(cat, run_id)
    changes: dict[str, object] = {}
    if status is not None:
        if status not in RUN_STATUSES:
            raise CatalogError(
                f"unknown run status {status!r}; use one of {', '.join(RUN_STATUSES)}"
            )
        changes["status"] = status
        if status == "running":  # this process takes the run over (a start or a resume)
            _check_not_alive_elsewhere(run)
            changes.update(_this_process())
    if metrics:
        changes["metrics"] = json.dumps({**run["metrics"], **metrics})
    if artifacts:
        changes["artifacts"] = json.dumps({**run["artifacts"], **artifacts})
    if finished:
        changes["finished_at"] = now()
    if changes:
        cat.table("runs").update(run_id, changes)
    return get_run(cat, run_id)


def save_predictions(cat: Catalog, run_id: int, predictions: Iterable[Prediction]) -> int:
    """Replace the run's stored predictions with `predictions`; returns how many."""
    rows = [
        {
            "run_id": run_id,
            "image_id": p.image_id,
            "true_class": p.true_class,
            "predicted": p.predicted,
            "top_k": json.dumps([[c, round(float(s), 6)] for c, s in p.top_k]),
        }
        for p in predictions
    ]
    # One transaction: the connection is in autocommit mode, where `with conn:` opens none,
    # so a failed insert would leave the run without predictions.
    with transaction(cat):
        cat.db.execute("DELETE FROM predictions WHERE run_id = ?", [run_id])
        cat.table("predictions").insert_all(rows)
    return len(rows)


def run_predictions(cat: Catalog, run_id: int) -> list[Prediction]:
    """The stored predictions of a run, in image id order."""
    rows = cat.table("predictions").rows_where("run_id = ?", [run_id], order_by="image_id")
    return [
        Prediction(
            r["image_id"], r["true_class"], [(c, float(s)) for c, s in json.loads(r["top_k"])]
        )
        for r in rows
    ]


def _decode(row: dict) -> dict:
    for col in _JSON_COLUMNS:
        row[col] = json.loads(row[col]) if row[col] else {}
    return row
