"""How good can a label audit get with the models this project has? (issue 15)

    python bench/audit_ceiling.py --noisy DIR/flip0.1-xxxx --base DIR/base
        [--noisy-run 1] [--excluded-run 2] [--out ceiling.json]

Reads the catalogs `bench/audit.py --with-run --real-accuracy` leaves in its workdir: the
noisy copy of sneakers41 with run 1 (`train` on the noisy labels) and run 2 (`train
--exclude-flagged` after the frozen audit), and the clean base catalog. The truth comes from
comparing the two: a train image whose class differs from the base's was flipped, one the
base lacks is an outsider.

Each score source ranks the noisy train images by cleanlab's label quality of the given
class; for each the best min(precision, recall) over *every* cut of that ranking is printed,
the cut chosen with the truth, so an upper bound on what any threshold rule could reach on
that source, with the precision at recall 0.85. Sources:

- frozen: the default `train audit`'s out-of-fold probabilities (frozen Lite0 features);
- frozen x run features: what `train audit --run 1` flags on;
- held-out run: run 2's own predictions (its saved model's) on the train images it
  never trained on (the frozen audit's flags it excluded), joined with the frozen
  probabilities; the images it trained on keep the `--run 1` score. This is a fine-tuned
  model's honest opinion of exactly the images in doubt.

It also prints run 2's top-1 on the clean test part and on the clean images of its
excluded set: how hard the clean images that a frozen audit doubts are for a model that
never saw them.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from catalog import USABLE_STATUSES, class_names, get_run, open_catalog, split_images  # noqa: E402
from trainer.audit import (  # noqa: E402
    AuditConfig,
    product_of_experts,
    run_audit,
)

TARGET_RECALL = 0.85


def truth(noisy: Path, base: Path) -> tuple[dict[int, str], set[int], set[int], set[int]]:
    """(given class of every noisy train image, train ids, flipped ids, outsider ids)."""
    clean = {}
    with sqlite3.connect(base) as conn:
        for sha, cls in conn.execute("SELECT sha256, class FROM images"):
            clean[sha] = cls
    with open_catalog(noisy) as cat:
        train = split_images(cat, "default", "train", statuses=USABLE_STATUSES)
    given = {r["id"]: r["class"] for r in train}
    flipped = {r["id"] for r in train if r["sha256"] in clean and clean[r["sha256"]] != r["class"]}
    outsiders = {r["id"] for r in train if r["sha256"] not in clean}
    return given, set(given), flipped, outsiders


def excluded_by(cat, run: dict) -> set[int]:
    """The train images `train --exclude-flagged` left out of `run`: the open flags of the
    newest audit before it started (the bench reviews nothing in between)."""
    audit = cat.db.execute(
        "SELECT id FROM audits WHERE created_at <= ? ORDER BY id DESC LIMIT 1",
        [run["started_at"]],
    ).fetchone()
    if audit is None:
        raise SystemExit(f"no audit before run {run['id']}: was it trained with --exclude-flagged?")
    rows = cat.db.execute("SELECT image_id FROM audit_flags WHERE audit_id = ?", [audit[0]])
    return {r[0] for r in rows}


def run_predictions(cat, run: dict, rows: list[dict], classes: list[str]) -> np.ndarray:
    """(N, K) the run's softmax for `rows` in `classes` order, as its saved model gives it
    (which already averages the image and its mirror when the run used flip TTA, the default)."""
    from trainer.data import decode_rows
    from trainer.evaluate import load_run_model

    model, labels = load_run_model(cat, run)
    order = [labels.index(c) for c in classes]
    size = int(model.input_shape[1])
    out = np.zeros((len(rows), len(classes)), np.float32)
    started = time.perf_counter()
    for start in range(0, len(rows), 64):
        ok, pixels, bad = decode_rows(cat, rows[start : start + 64], size)
        if bad:
            raise SystemExit(f"unreadable images {bad}")
        x = np.stack(pixels).astype(np.float32)
        out[start : start + len(ok)] = np.asarray(model.predict_on_batch(x))[:, order]
        done = start + len(ok)
        print(
            f"\r  run {run['id']}: {done}/{len(rows)} ({time.perf_counter() - started:.0f} s)",
            end="",
            flush=True,
        )
    print()
    return out


def ceiling(quality: np.ndarray, noisy: np.ndarray) -> dict:
    """Best min(P, R) over every cut of the ranking (worst quality first), and P at R 0.85."""
    order = np.argsort(quality, kind="stable")
    hits = np.cumsum(noisy[order])
    precision = hits / np.arange(1, len(order) + 1)
    recall = hits / noisy.sum()
    both = np.minimum(precision, recall)
    k = int(both.argmax())
    at = int(np.searchsorted(recall, TARGET_RECALL))
    return {
        "best_min_pr": round(float(both[k]), 3),
        "flagged_there": k + 1,
        "precision_at_recall_0.85": round(float(precision[at]), 3),
    }


def main() -> int:
    from cleanlab.rank import get_label_quality_scores

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--noisy", type=Path, required=True, help="the noisy catalog's folder")
    parser.add_argument("--base", type=Path, required=True, help="the clean catalog's folder")
    parser.add_argument("--noisy-run", type=int, default=1)
    parser.add_argument("--excluded-run", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    given, train_ids, flipped, outsiders = truth(
        args.noisy / "catalog.db", args.base / "catalog.db"
    )
    with open_catalog(args.noisy / "catalog.db") as cat:
        excluded_run = get_run(cat, args.excluded_run)
        excluded = excluded_by(cat, excluded_run)
        frozen = run_audit(cat, AuditConfig(split="default", seed=0))
        joined = run_audit(cat, AuditConfig(split="default", seed=0, run=args.noisy_run))
        assert frozen.image_ids == joined.image_ids
        rows_by_id = {r["id"]: r for r in split_images(cat, "default", statuses=USABLE_STATUSES)}
        rows = [rows_by_id[i] for i in frozen.image_ids]
        classes = [n for n in class_names(cat) if any(r["class"] == n for r in rows)]
        held = run_predictions(cat, excluded_run, rows, classes)
    labels = np.array([classes.index(r["class"]) for r in rows])
    ids = np.array(frozen.image_ids)
    is_train = np.isin(ids, list(train_ids))
    is_noisy = np.isin(ids, list(flipped | outsiders))
    is_excluded = np.isin(ids, list(excluded)) & is_train
    q = {
        name: get_label_quality_scores(labels, p)
        for name, p in {
            "frozen": frozen.probs,
            "frozen x run features": joined.probs,
            "frozen x held-out run": product_of_experts(frozen.probs, held),
        }.items()
    }
    q["held-out run where held out, else --run"] = np.where(
        is_excluded, q["frozen x held-out run"], q["frozen x run features"]
    )
    del q["frozen x held-out run"]
    report = {}
    for name, quality in q.items():
        report[name] = ceiling(quality[is_train], is_noisy[is_train])
        print(f"{name:42s} {report[name]}")
    clean_excluded = is_excluded & ~is_noisy
    test = ~is_train
    report["run_top1_test"] = round(float((held.argmax(1)[test] == labels[test]).mean()), 3)
    report["run_top1_clean_excluded"] = round(
        float((held.argmax(1)[clean_excluded] == labels[clean_excluded]).mean()), 3
    )
    report["clean_excluded"] = int(clean_excluded.sum())
    print(
        f"run {args.excluded_run} top-1: clean test part {report['run_top1_test']}, the "
        f"{report['clean_excluded']} clean train images it left out "
        f"{report['run_top1_clean_excluded']}"
    )
    if args.out:
        args.out.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
