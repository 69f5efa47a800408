"""Training runs and their per-image predictions: all the SQL for `runs` and `predictions`.

A run row is written when training starts (status `running`), updated as it goes and
closed with `finished` or `failed`; `params`, `metrics` and `artifacts` are JSON objects.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from .db import Catalog
from .errors import CatalogError
from .timeutil import now
from .tx import transaction

RUN_STATUSES = ("running", "finished", "failed", "interrupted")
_JSON_COLUMNS = ("params", "metrics", "artifacts")


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
    }
    run_id = cat.table("runs").insert(row).last_pk
    return get_run(cat, run_id)


def get_run(cat: Catalog, run_id: int) -> dict:
    """The run row with its JSON columns decoded; raises CatalogError if unknown."""
    rows = list(cat.table("runs").rows_where("id = ?", [run_id]))
    if not rows:
        raise CatalogError(f"no run with id {run_id}; list them with `train runs`")
    return _decode(rows[0])


def list_runs(cat: Catalog) -> list[dict]:
    """All runs, newest first, with their JSON columns decoded."""
    return [_decode(r) for r in cat.table("runs").rows_where(order_by="id DESC")]


def latest_finished_run(cat: Catalog) -> dict:
    """The newest run whose status is `finished`; raises CatalogError if there is none."""
    rows = list(cat.table("runs").rows_where("status = 'finished'", order_by="id DESC", limit=1))
    if not rows:
        raise CatalogError("no finished run in this catalog yet: train one with `train --backbone NAME`")
    return _decode(rows[0])


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
            raise CatalogError(f"unknown run status {status!r}; use one of {', '.join(RUN_STATUSES)}")
        changes["status"] = status
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
    # so a failed insert would have left the run without predictions (issue 13).
    with transaction(cat):
        cat.db.execute("DELETE FROM predictions WHERE run_id = ?", [run_id])
        cat.table("predictions").insert_all(rows)
    return len(rows)


def run_predictions(cat: Catalog, run_id: int) -> list[Prediction]:
    """The stored predictions of a run, in image id order."""
    rows = cat.table("predictions").rows_where("run_id = ?", [run_id], order_by="image_id")
    return [
        Prediction(r["image_id"], r["true_class"], [(c, float(s)) for c, s in json.loads(r["top_k"])])
        for r in rows
    ]


def _decode(row: dict) -> dict:
    for col in _JSON_COLUMNS:
        row[col] = json.loads(row[col]) if row[col] else {}
    return row
