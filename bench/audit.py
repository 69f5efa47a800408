"""Label audit benchmark (issue 15): inject label noise into sneakers41, audit, score the audit.

    python bench/audit.py [--flip 0.1] [--off-topic 0.03] [--outsiders sneakers10|generated]
        [--folds 5] [--backbone SPEC] [--workdir DIR] [--out audit.json]

1. Import ../shared/data/sneakers41 (folder = class) into a fresh catalog and make the
   80/20 `default` split with seed 42, as a user would (`curate import`, `curate split`).
2. Into a copy of that catalog, flip `--flip` of the train part's labels to random other
   classes and add `--off-topic` (share of the train part) outsiders, each labelled with a
   random sneakers41 class, to the train part: sneakers10 photos (other sneaker models,
   some close to sneakers41 classes) or, with `--outsiders generated`, images that are no
   sneaker at all (`generated_outsiders`). The test part stays clean.
3. `train audit` (the library call), timed. Precision and recall of the flagged train images
   against the injected truth (flips + off-topic), and the off-topic recall.
4. Test accuracy of a classifier trained on (a) the noisy labels, (b) the noisy labels less
   the flagged images, (c) the clean labels. This bench uses the quick variant only: the
   classifier is the audit's own head (logistic regression on the cached frozen features),
   not a fine-tuned network, so the three numbers compare labels, not training recipes.

`--with-run` first trains the default recipe on the noisy labels (the `train` command in a
child process) and audits with that run (`train audit --run ID`: its fine-tuned features
joined with the frozen ones); `--real-accuracy` then gives (a)/(b)/(c) by the real trainer:
that run, `train --exclude-flagged`, and `train` on the clean catalog (about 15 minutes
each on 2 CPU cores). `--save-probs F.npz` keeps the out-of-fold probabilities and the truth.

`--workdir` keeps the imported catalog and the feature cache between runs (the first
run's audit time is the cold one: every image goes through the backbone).
"""

from __future__ import annotations

import argparse
import io
import json
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from catalog import Provenance, add_image, class_names, open_catalog, update_image  # noqa: E402
from catalog.splits import assign, split_images  # noqa: E402
from trainer.audit import (  # noqa: E402
    DEFAULT_AUDIT_BACKBONE,
    AuditConfig,
    combine,
    head_classifier,
    run_audit,
    split_features,
)

SHARED = ROOT.parent / "shared"
SEED = 42


def prepare(base: Path) -> None:
    """A pristine catalog of sneakers41 with the `default` split (seed 42)."""
    curate = shutil.which("curate") or str(Path(sys.executable).parent / "curate")
    catalog = base / "catalog.db"
    for args in (
        ["import", str(SHARED / "data" / "sneakers41"), "--add-classes"],
        ["split", "--name", "default", "--seed", str(SEED)],
    ):
        done = subprocess.run(
            [curate, *args, "--catalog", str(catalog)], capture_output=True, text=True
        )
        if done.returncode:
            raise SystemExit(f"curate {args[0]} failed: {done.stdout[-500:]} {done.stderr[-500:]}")


def inject(
    cat, flip: float, off_topic: float, rng: random.Random, outsiders: str = "sneakers10"
) -> tuple[dict[int, str], set[int], set[int]]:
    """(clean class of every train image, flipped ids, off-topic ids), after injecting."""
    train = split_images(cat, "default", "train")
    clean = {r["id"]: r["class"] for r in train}
    classes = sorted(set(clean.values()))
    flipped = set(rng.sample(sorted(clean), round(flip * len(clean))))
    for image_id in sorted(flipped):
        update_image(
            cat, image_id, **{"class": rng.choice([c for c in classes if c != clean[image_id]])}
        )
    count = round(off_topic * len(clean))
    if outsiders == "generated":
        images = generated_outsiders(count, random.Random(SEED + 1))
    else:
        files = sorted(p for p in (SHARED / "data" / "sneakers10").rglob("*") if p.is_file())
        images = [path.read_bytes() for path in rng.sample(files, min(len(files), count))]
    added_ids: set[int] = set()
    for data in images:
        added = add_image(cat, data, rng.choice(classes), Provenance("import"))
        if added.created:
            added_ids.add(added.image["id"])
    assign(cat, "default", [(i, "train") for i in sorted(added_ids)], seed=SEED)
    return clean, flipped, added_ids


def generated_outsiders(count: int, rng: random.Random) -> list[bytes]:
    """`count` JPEGs that are no sneaker at all: crops of scikit-learn's two sample photos
    (a temple, a flower), printed labels and signs, shapes and textures; seeded.

    A stand-in for the truly off-topic crawl results (logos, boxes, people) that this
    offline machine has no photos of; easier than real ones, so reported apart.
    """
    from PIL import Image, ImageDraw, ImageFilter, ImageFont
    from sklearn.datasets import load_sample_images

    photos = [Image.fromarray(a) for a in load_sample_images().images]
    words = ["SALE", "NEW", "50% OFF", "FREE SHIPPING", "SIZE GUIDE", "LOGO", "BOX", "STORE"]
    out = []
    for i in range(count):
        kind = i % 4
        colour = tuple(rng.randrange(256) for _ in range(3))
        if kind == 0:  # a random crop of a photo, maybe mirrored and rotated
            photo = rng.choice(photos)
            w, h = photo.size
            side = rng.randint(min(w, h) // 4, min(w, h))
            x, y = rng.randint(0, w - side), rng.randint(0, h - side)
            img = photo.crop((x, y, x + side, y + side)).rotate(rng.uniform(-30, 30))
        elif kind == 1:  # a sign or a label: words on a plain background
            img = Image.new("RGB", (320, 320), colour)
            draw = ImageDraw.Draw(img)
            for line in range(rng.randint(1, 4)):
                font = ImageFont.load_default(size=rng.randint(24, 64))
                ink = tuple(255 - c for c in colour)
                draw.text((rng.randint(0, 120), 20 + 70 * line), rng.choice(words), ink, font=font)
        elif kind == 2:  # flat shapes
            img = Image.new("RGB", (320, 320), colour)
            draw = ImageDraw.Draw(img)
            for _ in range(rng.randint(2, 8)):
                a, b = sorted(rng.sample(range(320), 2)), sorted(rng.sample(range(320), 2))
                fill = tuple(rng.randrange(256) for _ in range(3))
                [draw.ellipse, draw.rectangle][rng.randrange(2)]((a[0], b[0], a[1], b[1]), fill)
        else:  # a blurred noise texture
            noise = np.random.default_rng(rng.randrange(2**32)).integers(0, 256, (80, 80, 3))
            img = Image.fromarray(noise.astype(np.uint8)).resize((320, 320))
            img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0, 6)))
        buf = io.BytesIO()
        img.convert("RGB").resize((320, 320)).save(buf, "JPEG", quality=90)
        out.append(buf.getvalue())
    return out


def scores(flagged: set[int], flipped: set[int], outsiders: set[int]) -> dict:
    truth = flipped | outsiders
    hit = flagged & truth
    return {
        "flagged": len(flagged),
        "injected": len(truth),
        "precision": len(hit) / len(flagged) if flagged else 0.0,
        "recall": len(hit) / len(truth) if truth else 0.0,
        "flip_recall": len(flagged & flipped) / len(flipped) if flipped else 0.0,
        "off_topic_recall": len(flagged & outsiders) / len(outsiders) if outsiders else 0.0,
    }


def trained(catalog: Path, extra: list[str], work: Path, what: str) -> dict:
    """`train --split default [extra]` as a user runs it (bench/train.py's child process);
    its run id, test top-1 / top-3, training images and wall time."""
    from train import keras_env, ours  # bench/train.py, beside this file

    t = time.perf_counter()
    print(f"training on the {what} labels ...", flush=True)
    result = ours(catalog, ["--split", "default", *extra], keras_env(work), work / f"{what}.log")
    if not result:
        raise SystemExit(f"`train` on the {what} labels failed; see {work / what}.log")
    with sqlite3.connect(catalog) as conn:
        run_id, metrics = conn.execute(
            "SELECT id, metrics FROM runs ORDER BY id DESC LIMIT 1"
        ).fetchone()
    counts = json.loads(metrics).get("counts", {})
    row = {
        "run": run_id,
        "top1": round(result["top1"], 4),
        "top3": round(result["top3"], 4),
        "train_images": counts.get("train"),
        "seconds": round(time.perf_counter() - t, 1),
    }
    print(f"  {what}: {row}", flush=True)
    return row


def save_probs(path: Path, cat, result, train_ids, flipped, outsiders) -> None:
    """The audit's out-of-fold probabilities with the given labels and the injected truth."""
    ids = np.array(result.image_ids)
    given = {r["id"]: r["class"] for r in split_images(cat, "default")}
    names = [n for n in class_names(cat) if n in set(given.values())]  # the audit's order
    np.savez(
        path,
        ids=ids,
        y=np.array([names.index(given[i]) for i in ids]),
        probs=result.probs,
        train=np.array([i in train_ids for i in ids]),
        flipped=np.array([i in flipped for i in ids]),
        outsider=np.array([i in outsiders for i in ids]),
    )


def accuracies(
    cat, cfg: AuditConfig, clean: dict[int, str], outsiders: set[int], flagged: set[int]
) -> dict:
    """Quick test top-1 of the audit's own classifier on its frozen features, trained on the
    noisy labels, on the noisy labels less the flagged images, and on the clean labels."""
    rows = split_images(cat, "default")
    views, kept, _ = split_features(cat, rows, cfg)
    features = combine(views)
    classes = sorted({r["class"] for r in kept})
    idx = {name: i for i, name in enumerate(classes)}
    train = [i for i, r in enumerate(kept) if r["subset"] == "train"]
    test = [i for i, r in enumerate(kept) if r["subset"] == "test"]
    y_test = np.array([idx[kept[i]["class"]] for i in test])
    variants = {
        "noisy": [(i, kept[i]["class"]) for i in train],
        "excluded": [(i, kept[i]["class"]) for i in train if kept[i]["id"] not in flagged],
        "clean": [(i, clean[kept[i]["id"]]) for i in train if kept[i]["id"] not in outsiders],
    }
    out = {}
    for name, pairs in variants.items():
        model = head_classifier(SEED).fit(
            features[[i for i, _ in pairs]], [idx[c] for _, c in pairs]
        )
        out[name] = {
            "train_images": len(pairs),
            "top1": float((model.predict(features[test]) == y_test).mean()),
        }
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flip", type=float, default=0.1, help="share of train labels flipped")
    parser.add_argument(
        "--off-topic",
        type=float,
        default=0.03,
        help="sneakers10 images added, as a share of the train part",
    )
    parser.add_argument(
        "--outsiders",
        choices=("sneakers10", "generated"),
        default="sneakers10",
        help="what the off-topic images are: other sneakers, or no sneaker at all",
    )
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--backbone", default=DEFAULT_AUDIT_BACKBONE)
    parser.add_argument("--weights", default="imagenet")
    parser.add_argument(
        "--save-probs", type=Path, default=None, help="write ids, labels, probs and truth (.npz)"
    )
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument(
        "--no-accuracy", action="store_true", help="skip the (a)/(b)/(c) test accuracies"
    )
    parser.add_argument(
        "--with-run",
        action="store_true",
        help=(
            "train the default recipe on the noisy labels first (`train`, a child process) "
            "and audit with that run's features (`train audit --run`)"
        ),
    )
    parser.add_argument(
        "--real-accuracy",
        action="store_true",
        help=(
            "with --with-run: (a)/(b)/(c) by the real trainer: the noisy run, "
            "`train --exclude-flagged`, and `train` on the clean catalog"
        ),
    )
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="audit-bench-"))
    base = work / "base"
    if not (base / "catalog.db").exists():
        base.mkdir(parents=True, exist_ok=True)
        t = time.perf_counter()
        prepare(base)
        print(f"imported sneakers41 and split it in {time.perf_counter() - t:.0f} s", flush=True)
    run_dir = Path(tempfile.mkdtemp(prefix=f"flip{args.flip}-", dir=work))
    shutil.copytree(base, run_dir, dirs_exist_ok=True, ignore=shutil.ignore_patterns("cache"))
    (work / "cache").mkdir(exist_ok=True)
    (run_dir / "cache").symlink_to(work / "cache")  # features are keyed by sha256: shared by runs
    cfg = AuditConfig(
        split="default",
        folds=args.folds,
        backbone=args.backbone,
        weights=args.weights,
        seed=SEED,
    )
    with open_catalog(run_dir / "catalog.db") as cat:
        clean, flipped, outsiders = inject(
            cat, args.flip, args.off_topic, random.Random(SEED), args.outsiders
        )
        print(
            f"injected {len(flipped)} flips and {len(outsiders)} {args.outsiders} images "
            f"into {len(clean)} train images",
            flush=True,
        )
    real: dict = {}
    if args.with_run:
        real["noisy"] = trained(run_dir / "catalog.db", [], work, "noisy")
        cfg.run = real["noisy"]["run"]
    with open_catalog(run_dir / "catalog.db") as cat:
        t = time.perf_counter()
        last = [0.0]

        def progress(done: int, total: int) -> None:
            if time.perf_counter() - last[0] > 30 or done == total:
                last[0] = time.perf_counter()
                print(f"  features {done}/{total} ({last[0] - t:.0f} s)", flush=True)

        result = run_audit(cat, cfg, progress)
        seconds = time.perf_counter() - t
        train_ids = {r["id"] for r in split_images(cat, "default", "train")}
        flagged = {f["image_id"] for f in result.flags if f["image_id"] in train_ids}
        report = {
            "flip": args.flip,
            "outsiders": args.outsiders,
            "backbone": args.backbone,
            "folds": args.folds,
            "images": result.images,
            "audit_seconds": round(seconds, 1),
            "feature_seconds": round(result.seconds["features"], 1),
            "test_flags": sum(f["image_id"] not in train_ids for f in result.flags),
            "off_topic_kind": sum(f["kind"] == "off_topic" for f in result.flags),
            **scores(flagged, flipped, outsiders),
        }
        if args.save_probs:
            save_probs(args.save_probs, cat, result, train_ids, flipped, outsiders)
        if not args.no_accuracy:
            frozen = replace(cfg, run=None)
            report["accuracy_quick"] = accuracies(cat, frozen, clean, outsiders, flagged)
    if args.with_run and args.real_accuracy:
        real["excluded"] = trained(run_dir / "catalog.db", ["--exclude-flagged"], work, "excluded")
        real["clean"] = trained(base / "catalog.db", [], work, "clean")
    if real:
        report["accuracy_trainer"] = real
    print(json.dumps(report, indent=1))
    if args.out:
        args.out.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
