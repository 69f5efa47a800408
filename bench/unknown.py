"""Which score tells "none of these" best: measured on a finished run (issue 16, item 7).

    python bench/unknown.py --catalog CATALOG [--run ID] [--near 200]

For the run's test images (in distribution, never used to choose anything) against three
sets of images of no trained class, prints per score the AUROC and the share called
unknown when 95% of the test images are kept (the test set's own 95% quantile: an
oracle threshold, for comparing scores only), then what the run's stored rule does.

- far: the photos in ../shared/weights/check-images (bird, cat, dragonfly, Grace Hopper,
  hot dog) and five crops of each (four corners and the centre, 60% of each side);
- near: a seeded sample of ../shared/data/sneakers41 (41 *other* sneaker models: close
  to the classes by design; nobody expects all of them to be unknown);
- synthetic: grey noise, flat colours, stripes, discs.

Scores, higher = more unknown: `softmax` 1 - max probability (what the saved model
answers), `max_logit` and `energy` (minus the max and the log-sum-exp of the head's
logits), `centroid` (cosine distance to the nearest class centroid of the training
features), `nearest` (to the nearest training image: the rule `train predict` uses) and
`knn5` (to the 5th nearest).
"""

from __future__ import annotations

import argparse
import random
import tempfile
from pathlib import Path

import keras
import numpy as np
from PIL import Image, ImageDraw
from sklearn.metrics import roc_auc_score
from sklearn.neighbors import NearestNeighbors

from catalog import get_run, open_catalog
from trainer.data import cache_dir, decode, load_split
from trainer.evaluate import load_run_model
from trainer.predict import choose_run
from trainer.unknown import embed, feature_model, normalise

SHARED = Path(__file__).resolve().parents[2] / "shared"
SCORES = ("softmax", "max_logit", "energy", "centroid", "nearest", "knn5")


def far_files(folder: Path) -> list[Path]:
    """The check photos and five crops of each, written under `folder`."""
    out = []
    for photo in sorted((SHARED / "weights" / "check-images").glob("*.*")):
        if photo.suffix == ".txt":
            continue
        out.append(photo)
        with Image.open(photo) as opened:
            img = opened.convert("RGB")
            w, h = img.size
            cw, ch = int(w * 0.6), int(h * 0.6)
            corners = [
                (0, 0),
                (w - cw, 0),
                (0, h - ch),
                (w - cw, h - ch),
                ((w - cw) // 2, (h - ch) // 2),
            ]
            for i, (x, y) in enumerate(corners):
                path = folder / f"{photo.stem}_crop{i}.png"
                img.crop((x, y, x + cw, y + ch)).save(path)
                out.append(path)
    return out


def near_files(count: int, seed: int = 0) -> list[Path]:
    files = sorted((SHARED / "data" / "sneakers41").glob("*/*"))
    return random.Random(seed).sample(files, min(count, len(files)))


def synthetic_files(folder: Path) -> list[Path]:
    rng = np.random.default_rng(3)
    arrays: list[np.ndarray] = [
        np.repeat(rng.integers(0, 256, (160, 160, 1)), 3, 2) for _ in range(3)
    ]
    arrays += [np.full((160, 160, 3), c) for c in ((0, 0, 0), (255, 255, 255), (40, 120, 200))]
    stripes = np.zeros((160, 160, 3))
    stripes[::8] = 255
    arrays.append(stripes)
    out = []
    for i, arr in enumerate(arrays):
        out.append(folder / f"synthetic{i}.png")
        Image.fromarray(np.asarray(arr, np.uint8)).save(out[-1])
    for i, colour in enumerate(("red", "yellow", "green")):
        img = Image.new("RGB", (160, 160), "white")
        ImageDraw.Draw(img).ellipse((20, 30, 140, 130), fill=colour)
        out.append(folder / f"disc{i}.png")
        img.save(out[-1])
    return out


def files_embedded(net, files: list[Path], size: int) -> tuple[np.ndarray, np.ndarray]:
    x = np.stack([decode(f, size) for f in files]).astype(np.float32)
    probs, feats = net.predict(x, batch_size=32, verbose=0)
    return np.asarray(probs, np.float32), np.asarray(feats, np.float32)


def logits_of(model: keras.Model, features: np.ndarray) -> np.ndarray:
    head = model.get_layer("head")
    out = head.get_layer("probabilities")
    hidden = keras.Model(head.input, out.input).predict(features, verbose=0)
    kernel, bias = out.get_weights()
    return hidden @ kernel + bias


def scores(model, widths, reference, labels, probs, feats) -> dict[str, np.ndarray]:
    logits = logits_of(model, feats)
    unit = normalise(feats, widths)
    centroids = np.stack([reference[labels == c].mean(0) for c in np.unique(labels)])
    centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
    knn = NearestNeighbors(n_neighbors=5, metric="cosine", algorithm="brute").fit(reference)
    dist, _ = knn.kneighbors(unit)
    top = logits.max(1, keepdims=True)
    return {
        "softmax": 1 - probs.max(1),
        "max_logit": -logits.max(1),
        "energy": -(top[:, 0] + np.log(np.exp(logits - top).sum(1))),
        "centroid": 1 - (unit @ centroids.T).max(1),
        "nearest": dist[:, 0],
        "knn5": dist[:, 4],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalog", type=Path, required=True)
    parser.add_argument("--run", type=int)
    parser.add_argument("--near", type=int, default=200, help="sneakers41 images to score")
    args = parser.parse_args()
    with open_catalog(args.catalog) as cat, tempfile.TemporaryDirectory() as tmp:
        run = get_run(cat, args.run) if args.run else choose_run(cat)
        model, classes = load_run_model(cat, run)
        net, widths = feature_model(model)
        size, p = int(model.input_shape[1]), run["params"]
        data = load_split(
            cat,
            run["split"],
            accepted_only=p.get("accepted_only", False),
            val_fraction=p["val_fraction"],
            seed=p.get("seed", 0),
            exclude_flagged=p.get("exclude_flagged", False),
        )
        _, train_f = embed(net, data.train, size, cache_dir(cat), 32)
        reference = normalise(train_f, widths)
        labels = np.array([e.label for e in data.train])
        sets = {"test": embed(net, data.test, size, cache_dir(cat), 32)}
        sets["far"] = files_embedded(net, far_files(Path(tmp)), size)
        sets["near"] = files_embedded(net, near_files(args.near), size)
        sets["synthetic"] = files_embedded(net, synthetic_files(Path(tmp)), size)
        scored = {k: scores(model, widths, reference, labels, *v) for k, v in sets.items()}
    report(run, scored)


def report(run: dict, scored: dict[str, dict[str, np.ndarray]]) -> None:
    n = {k: len(v["nearest"]) for k, v in scored.items()}
    print(
        f"run {run['id']} ({run['backbone']}, top-1 {run['metrics'].get('top1')}): "
        + ", ".join(f"{k} {v}" for k, v in n.items())
    )
    print(
        f"{'score':10} "
        + "  ".join(f"AUROC {k:9}" for k in ("far", "near", "synthetic"))
        + "  "
        + "  ".join(f"unk@95 {k:9}" for k in ("far", "near", "synthetic"))
    )
    for name in SCORES:
        test = scored["test"][name]
        cut = np.quantile(test, 0.95)
        aucs, shares = [], []
        for other in ("far", "near", "synthetic"):
            s = scored[other][name]
            y = np.r_[np.zeros(len(test)), np.ones(len(s))]
            aucs.append(roc_auc_score(y, np.r_[test, s]))
            shares.append((s > cut).mean())
        print(
            f"{name:10} "
            + "  ".join(f"{a:15.3f}" for a in aucs)
            + "  "
            + "  ".join(f"{x:16.0%}" for x in shares)
        )
    rule = run["metrics"].get("unknown")
    if rule:
        t = rule["threshold"]
        print(
            f"stored rule: nearest > {t:.3f} ({rule['source']}); called unknown: "
            + ", ".join(
                f"{k} {int((v['nearest'] > t).sum())} of {len(v['nearest'])}"
                for k, v in scored.items()
            )
        )
        photos = scored["far"]["nearest"][::6]
        print(
            "check photos (bird, cat, dragonfly, grace_hopper, hot_dog): "
            + ", ".join(f"{d:.3f}" for d in photos)
        )


if __name__ == "__main__":
    main()
