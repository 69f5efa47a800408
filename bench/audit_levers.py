"""Which features, classifier and flagging rule make the label audit precise (issue 15).

    python bench/audit_levers.py --workdir /tmp/audit-bench [--flip 0.1]

Builds the same noisy sneakers41 catalog as bench/audit.py (same seed: the same flips and
sneakers10 images), adds 3% generated non-sneaker images as a second kind of outsider,
computes (or reads from the audit's cache) the frozen features of every image for
efficientnet_lite0 and mobilenet_v2 (the image and its mirror apart; cold time per
backbone printed), then scores every combination of

- features: lite0 (image + mirror averaged: the old audit), lite0 + mobilenet_v2 concatenated
  (image only: the old cost; image + mirror), `--features` picks some;
- out-of-fold classifier: logistic regression (C=10), and on the concatenation kNN and
  the average of both (probabilities saved as probs-*.npy in the workdir);
- flagging rule: label quality < 0.02 (the old threshold, chosen on this bench) and
  cleanlab's `find_label_issues` with each `filter_by`;

against the injected truth, with both kinds of outsider in the catalog at once (6%): the
flags' precision and recall, and the share of the flips, the sneakers10 photos and the
generated images found. cleanlab's kNN out-of-distribution score is printed for each kind.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from audit import SEED, generated_outsiders, inject, prepare  # noqa: E402

from catalog import Provenance, add_image, open_catalog  # noqa: E402
from catalog.splits import assign, split_images  # noqa: E402
from trainer.audit import AuditConfig, _unit, split_features  # noqa: E402

RULES = (
    "q<0.02",
    "prune_by_noise_rate",
    "prune_by_class",
    "both",
    "confident_learning",
    "predicted_neq_given",
    "low_self_confidence",
    "low_normalized_margin",
)


def build(work: Path, flip: float) -> tuple[Path, dict]:
    """The noisy catalog (made once per flip rate) and its truth."""
    base = work / "base"
    if not (base / "catalog.db").exists():
        base.mkdir(parents=True, exist_ok=True)
        prepare(base)
    run = work / f"levers-{flip}"
    truth_file = run / "truth.json"
    if truth_file.exists():
        return run, json.loads(truth_file.read_text())
    import shutil

    shutil.copytree(base, run, ignore=shutil.ignore_patterns("cache"))
    (work / "cache").mkdir(exist_ok=True)
    (run / "cache").symlink_to(work / "cache")
    rng = random.Random(SEED)
    with open_catalog(run / "catalog.db") as cat:
        clean, flipped, outsiders = inject(cat, flip, 0.03, rng)
        classes = sorted(set(clean.values()))
        generated = set()
        for data in generated_outsiders(round(0.03 * len(clean)), random.Random(SEED + 1)):
            added = add_image(cat, data, rng.choice(classes), Provenance("import"))
            if added.created:
                generated.add(added.image["id"])
        assign(cat, "default", [(i, "train") for i in sorted(generated)], seed=SEED)
    truth = {
        "clean": {str(k): v for k, v in clean.items()},
        "flipped": sorted(flipped),
        "sneakers10": sorted(outsiders),
        "generated": sorted(generated),
    }
    truth_file.write_text(json.dumps(truth))
    return run, truth


def features(run: Path) -> tuple[dict[str, np.ndarray], list[dict]]:
    views: dict[str, np.ndarray] = {}
    with open_catalog(run / "catalog.db") as cat:
        rows = split_images(cat, "default")
        for name in ("efficientnet_lite0", "mobilenet_v2"):
            t = time.perf_counter()
            cfg = AuditConfig(split="default", backbone=name)
            got, kept, _ = split_features(cat, rows, cfg, printer(name))
            views[name] = got[name]
            print(f"{name}: {time.perf_counter() - t:.0f} s", flush=True)
    return views, kept


def printer(name: str):
    """A progress callback that prints at most once a minute."""
    start = last = time.perf_counter()

    def progress(done: int, total: int) -> None:
        nonlocal last
        if time.perf_counter() - last > 60 or done == total:
            last = time.perf_counter()
            print(f"  {name} {done}/{total} ({last - start:.0f} s)", flush=True)

    return progress


def oof(make, X, y, folds=5, seed=SEED, both_views=None):
    """Out-of-fold probabilities.

    `both_views` (N, 2, D): train on the image and its mirror as two samples."""
    from sklearn.model_selection import StratifiedKFold

    k = int(y.max()) + 1
    probs = np.zeros((len(y), k))
    for tr, te in StratifiedKFold(folds, shuffle=True, random_state=seed).split(X, y):
        model = make()
        if both_views is None:
            model.fit(X[tr], y[tr])
        else:
            model.fit(np.concatenate([both_views[tr, 0], both_views[tr, 1]]), np.tile(y[tr], 2))
        p = np.zeros((len(te), k))
        p[:, model.classes_] = model.predict_proba(X[te])
        probs[te] = p
    return probs


def lr(C):
    from sklearn.linear_model import LogisticRegression

    return lambda: LogisticRegression(C=C, max_iter=300, random_state=SEED)


def knn(k=20):
    from sklearn.neighbors import KNeighborsClassifier

    return lambda: KNeighborsClassifier(k, weights="distance", metric="cosine")


def log_loss(probs, y):
    return float(-np.mean(np.log(np.clip(probs[np.arange(len(y)), y], 1e-12, 1))))


def flags(rule, y, probs):
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    if rule == "q<0.02":
        return get_label_quality_scores(y, probs) < 0.02
    return find_label_issues(y, probs, filter_by=rule, n_jobs=1)


def score(mask, is_train, truth_sets, noisy):
    flagged = mask & is_train
    hit = flagged & noisy
    out = {
        "flagged": int(flagged.sum()),
        "P": round(hit.sum() / max(flagged.sum(), 1), 3),
        "R": round(hit.sum() / max(noisy.sum(), 1), 3),
    }
    for name, s in truth_sets.items():
        out[name] = round((flagged & s).sum() / max(s.sum(), 1), 3)
    return out


def ood_z(X, k=10):
    from cleanlab.outlier import OutOfDistribution

    s = OutOfDistribution(params={"k": k}).fit_score(features=_unit(X), verbose=False)
    d = -np.log(np.maximum(s, 1e-300))
    med = np.median(d)
    return (d - med) / (1.4826 * np.median(np.abs(d - med)))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--flip", type=float, default=0.1)
    parser.add_argument("--only-features", action="store_true")
    parser.add_argument("--features", default="", help="comma-separated: lite0,both-image,both")
    args = parser.parse_args()
    run, truth = build(args.workdir, args.flip)
    views, rows = features(run)
    if args.only_features:
        return 0
    ids = np.array([r["id"] for r in rows])
    classes = sorted({r["class"] for r in rows})
    y = np.array([classes.index(r["class"]) for r in rows])
    is_train = np.array([r["subset"] == "train" for r in rows])
    clean = truth["clean"]
    true = np.array([classes.index(clean.get(str(i), rows[n]["class"])) for n, i in enumerate(ids)])
    sets = {k: np.isin(ids, truth[k]) for k in ("flipped", "sneakers10", "generated")}
    noisy = sets["flipped"] | sets["sneakers10"] | sets["generated"]
    inside = ~(sets["sneakers10"] | sets["generated"])  # images with a true sneakers41 class
    lite0, mnv2 = views["efficientnet_lite0"], views["mobilenet_v2"]
    feats = {
        "lite0": _unit(lite0.mean(1)),  # today's features
        "both-image": np.concatenate([_unit(lite0[:, 0]), _unit(mnv2[:, 0])], 1),  # same cost
        "both": np.concatenate([_unit(lite0.mean(1)), _unit(mnv2.mean(1))], 1),
    }
    feats = {k: v for k, v in feats.items() if not args.features or k in args.features.split(",")}
    results = []
    for fname, X in feats.items():
        z = ood_z(X)
        for name in ("sneakers10", "generated"):
            print(
                f"{fname}: OOD flags z>5 {int((z > 5).sum())} z>3 {int((z > 3).sum())}; "
                f"{name} caught z>5 {(z > 5)[sets[name]].mean():.2f} "
                f"z>3 {(z > 3)[sets[name]].mean():.2f}",
                flush=True,
            )
        cands = {}
        for C in (10.0,):
            t = time.perf_counter()
            cands[f"lr{C:g}"] = oof(lr(C), X, y)
            loss = log_loss(cands[f"lr{C:g}"], y)
            print(f"  {fname} LR C={C:g} {time.perf_counter() - t:.0f} s, log loss {loss:.3f}")
        if fname == "both":
            cands["knn"] = oof(knn(), X, y)
            cands["blend"] = (cands["lr10"] + cands["knn"]) / 2
        for cname, probs in cands.items():
            acc = float((probs.argmax(1) == true)[inside].mean())
            for rule in RULES:
                m = flags(rule, y, probs)
                row = {
                    "features": fname,
                    "clf": cname,
                    "acc_vs_clean": round(acc, 3),
                    "rule": rule,
                    **score(m, is_train, sets, noisy),
                }
                results.append(row)
                print(json.dumps(row), flush=True)
            np.save(args.workdir / f"probs-{fname}-{cname}.npy", probs)
    (args.workdir / f"levers-{args.flip}-{args.features}.json").write_text(
        json.dumps(results, indent=0)
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
