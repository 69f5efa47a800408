"""Ours against two baselines on both development datasets, in one run (issue 11).

    python bench/train.py [--datasets sneakers10,sneakers41] [--skip-two-phase] [--skip-original]
        [--two-phase-epochs 10,10] [--original-epochs 12] [--curves] [--train-args "..."]
        [--max-per-class N] [--workdir DIR]

For each dataset ../shared/data/<name>/ (folder = class), into a fresh catalog:
1. `curate import --add-classes`, `curate dedup`, `curate split` with its defaults, as a
   user would (split `default`: 80/20 per class, seed 42).
2. Ours: plain `train` in a child process: the recommended configuration with every
   default, as a user runs it. Top-1/top-3 from the run the catalog records; wall time of
   the whole command (start-up, decoding, training, saving, evaluation); peak RSS.
   MobileNetV2's ImageNet weights come from ../shared/weights, placed where Keras looks
   for them (`$KERAS_HOME/models`) when they are not there yet: the command stays plain.
3. A plain two-phase fine-tune of MobileNetV2 (the textbook Keras transfer-learning
   recipe) and the original project's recipe, on the same split (see bench/baselines.py).
4. Each line: top-1, top-3, wall time; then ours against each baseline (top-1 and top-3
   differences, wall-time ratio) and the issue-11 targets.

`--max-per-class N` imports at most N images per class (smoke runs): the figures are then
not comparable to full runs or to the targets, and the output says so. `--train-args`
adds options to ours (then no longer the default configuration; the output says so).

    python bench/train.py --scale [--sizes 5000,50000] [--time-limit S]

runs the default configuration on 5,000 and 50,000 augmented sneakers41 images and prints
peak resident memory and time per phase (see bench/scale.py). Neither mode imports Keras
in this process before a baseline runs.

The CPU may be shared with other work: wall times then grow for all sides alike; the load
average is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
MOBILENET = SHARED / "weights" / "mobilenet_v2_1.0_224_imagenet_notop.weights.h5"
SPLIT = "default"  # what `curate split` names its split, and what `train` picks
# Issue 11's targets for plain `train` on the default split: (top-1, top-3).
TARGETS = {"sneakers10": (0.93, 0.99), "sneakers41": (0.85, 0.95)}
BIN = Path(sys.executable).parent


def curate(*args: str, catalog: Path) -> None:
    exe = shutil.which("curate", path=str(BIN)) or shutil.which("curate") or "curate"
    done = subprocess.run([exe, *args, "--catalog", str(catalog)], capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"curate {args[0]} failed: {done.stdout[-1000:]}{done.stderr[-1000:]}")


def subset(source: Path, dest: Path, per_class: int) -> Path:
    """A copy of `source` with at most `per_class` files per class folder (the first by name)."""
    for folder in sorted(p for p in source.iterdir() if p.is_dir()):
        files = sorted(p for p in folder.iterdir() if p.is_file())[:per_class]
        (dest / folder.name).mkdir(parents=True, exist_ok=True)
        for path in files:
            shutil.copy2(path, dest / folder.name / path.name)
    return dest


def prepare(data: Path, catalog: Path) -> float:
    """Import, dedup and split like a user; the seconds it took."""
    started = time.perf_counter()
    curate("import", str(data), "--add-classes", catalog=catalog)
    curate("dedup", catalog=catalog)
    curate("split", catalog=catalog)
    return time.perf_counter() - started


def split_counts(catalog: Path) -> dict[str, int]:
    """Usable images per subset of the split (no Keras needed)."""
    from catalog import open_catalog
    from catalog.schema import USABLE_STATUSES
    from catalog.splits import split_images

    with open_catalog(catalog) as cat:
        rows = split_images(cat, SPLIT, statuses=USABLE_STATUSES)
    return {s: sum(r["subset"] == s for r in rows) for s in ("train", "test")}


def split_files(catalog: Path) -> tuple[list[str], dict[str, list[tuple[Path, int]]]]:
    """The split's classes (the trainer's label order) and (file, label) per subset."""
    from trainer.quiet import import_keras

    import_keras()  # trainer.data imports Keras: without its start-up notes
    from catalog import image_file, open_catalog
    from catalog.schema import USABLE_STATUSES
    from catalog.splits import split_images
    from trainer.data import load_split

    with open_catalog(catalog) as cat:
        classes = load_split(cat, SPLIT, val_fraction=0.0).classes
        label = {c: i for i, c in enumerate(classes)}
        files: dict[str, list[tuple[Path, int]]] = {"train": [], "test": []}
        for r in split_images(cat, SPLIT, statuses=USABLE_STATUSES):
            files[r["subset"]].append((image_file(cat, r), label[r["class"]]))
    return classes, files


def keras_env(work: Path) -> dict[str, str]:
    """The environment for `train`: MobileNetV2's weights where Keras looks, if not there yet."""
    from trainer.backbones import BACKBONES, keras_models_dir

    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    wanted = BACKBONES["mobilenet_v2"].imagenet_file
    assert wanted is not None
    if (keras_models_dir() / wanted).is_file() or not MOBILENET.is_file():
        return env
    home = work / "keras"
    (home / "models").mkdir(parents=True, exist_ok=True)
    link = home / "models" / wanted
    if not link.exists():
        link.symlink_to(MOBILENET)  # a Keras 3 file under the legacy name: `train` reads it
    env["KERAS_HOME"] = str(home)
    return env


def ours(catalog: Path, extra: list[str], env: dict[str, str], log: Path) -> dict:
    """`train [extra]` as a user runs it, in a child process; its scores from the catalog."""
    from scale import run_metrics, train_measured  # bench/scale.py, beside this file

    measured = train_measured(catalog, extra, None, log, env)
    m = run_metrics(catalog)
    if measured["rc"] or m.get("status") != "finished":
        tail = log.read_text(errors="replace")[-2000:]
        print(f"  ours failed (exit {measured['rc']}): {measured['cmd']}\n{tail}", flush=True)
        return {}
    label = "ours: plain `train`" if not extra else f"ours: `train {shlex.join(extra)}`"
    return {
        "name": label,
        "top1": m["top1"],
        "top3": m["top3"],
        "seconds": measured["wall"],
        "peak_rss_mb": measured["peak_rss_mb"],
        "phases": m.get("seconds"),
        "plan": m.get("plan"),
        "backbone": m.get("backbone"),
    }


def baselines(catalog: Path, args: argparse.Namespace) -> list[dict]:
    if args.skip_two_phase and args.skip_original:
        return []
    classes, files = split_files(catalog)
    import baselines as recipes  # bench/baselines.py, beside this file: imports Keras

    out = []
    if not args.skip_two_phase:
        head, fine = (int(e) for e in args.two_phase_epochs.split(","))
        out.append(recipes.two_phase(len(classes), files, MOBILENET, (head, fine), args.curves))
        print_row(out[-1])
        recipes.release()
    if not args.skip_original:
        out.append(
            recipes.original(len(classes), files, MOBILENET, args.original_epochs, args.curves)
        )
        print_row(out[-1])
        recipes.release()
    return out


def one_dataset(name: str, args: argparse.Namespace, work: Path) -> dict | None:
    data = args.data / name
    if not data.is_dir():
        print(f"\n== {name}: skipped, {data} is absent", flush=True)
        return None
    folder = work / name
    folder.mkdir(parents=True, exist_ok=True)
    if args.max_per_class:
        data = subset(data, folder / "data", args.max_per_class)
    catalog = folder / "catalog.db"
    prep = prepare(data, catalog)
    counts = split_counts(catalog)
    print(
        f"\n== {name}: {counts['train']} train / {counts['test']} test images "
        f"(split {SPLIT!r} by `curate split`); "
        f"import + dedup + split {prep:.0f} s; load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    results = []
    if not args.skip_ours:
        mine = ours(catalog, shlex.split(args.train_args), keras_env(work), folder / "train.log")
        if mine:
            results.append(mine)
            print_row(mine)
    results += baselines(catalog, args)
    compare(results, name, args)
    return {"dataset": name, "results": results}


def main() -> int:
    if "--scale" in sys.argv[1:]:
        from scale import main as scale_main  # bench/scale.py, beside this file

        return scale_main(sys.argv[1:])
    args = parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-train-"))
    work.mkdir(parents=True, exist_ok=True)
    print(
        f"workdir {work}; {os.cpu_count()} CPUs; load average "
        f"{' '.join(f'{v:.1f}' for v in os.getloadavg())}",
        flush=True,
    )
    if args.max_per_class:
        print(
            f"NOTE: --max-per-class {args.max_per_class}: a smoke run on at most "
            f"{args.max_per_class} images per class; its figures are NOT comparable to full "
            "runs or to the targets",
            flush=True,
        )
    report = [r for name in args.datasets.split(",") if (r := one_dataset(name, args, work))]
    summary(report, args)
    (work / "report.json").write_text(json.dumps(report, indent=1))
    return 0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="sneakers10,sneakers41")
    parser.add_argument("--data", type=Path, default=SHARED / "data", help="holds the datasets")
    parser.add_argument("--skip-ours", action="store_true")
    parser.add_argument("--skip-two-phase", action="store_true")
    parser.add_argument("--skip-original", action="store_true")
    parser.add_argument(
        "--two-phase-epochs", default="10,10", help="frozen-base epochs,fine-tune epochs"
    )
    parser.add_argument("--original-epochs", type=int, default=12)
    parser.add_argument(
        "--curves", action="store_true", help="score the baselines after every epoch (off clock)"
    )
    parser.add_argument(
        "--train-args", default="", help="options added to ours, e.g. '--epochs 2' (smoke runs)"
    )
    parser.add_argument(
        "--max-per-class", type=int, default=0, help="smoke runs only: not comparable figures"
    )
    parser.add_argument("--workdir", type=Path, default=None)
    return parser.parse_args()


def print_row(r: dict) -> None:
    rss = f"  peak RSS {r['peak_rss_mb']:.0f} MB" if r.get("peak_rss_mb") else ""
    print(
        f"  {r['name']:52} top-1 {r['top1']:.3f}  top-3 {r['top3']:.3f}  "
        f"wall {r['seconds']:.0f} s{rss}",
        flush=True,
    )
    if r.get("phases"):
        print(
            f"    {r.get('backbone')}; phases (s) {r['phases']}; plan {r.get('plan')}", flush=True
        )


def compare(results: list[dict], name: str, args: argparse.Namespace) -> None:
    """Ours against each baseline: score differences, wall-time ratio, and when a curve
    shows it, how long the baseline took to first reach ours' top-1."""
    if not results or not results[0]["name"].startswith("ours"):
        return
    mine = results[0]
    for base in results[1:]:
        reached = next((t for t, top1, _ in base["curve"] if top1 >= mine["top1"] - 1e-6), None)
        when = (
            f"; it first reached ours' top-1 at {reached:.0f} s"
            if reached is not None
            else ("; it never reached ours' top-1" if base["curve"] else "")
        )
        print(
            f"  ours vs {base['name']}: top-1 {mine['top1'] - base['top1']:+.3f}, "
            f"top-3 {mine['top3'] - base['top3']:+.3f}, "
            f"wall time theirs/ours {base['seconds'] / mine['seconds']:.2f}x{when}",
            flush=True,
        )
    target = TARGETS.get(name)
    if target and not args.max_per_class and not args.train_args:
        met = mine["top1"] >= target[0] and mine["top3"] >= target[1]
        print(
            f"  issue-11 target for {name}: top-1 >= {target[0]}, top-3 >= {target[1]}: "
            f"{'met' if met else 'NOT met'}",
            flush=True,
        )


def summary(report: list[dict], args: argparse.Namespace) -> None:
    print(f"\nsummary (load average now {os.getloadavg()[0]:.1f})", flush=True)
    for entry in report:
        print(f"{entry['dataset']}:")
        for r in entry["results"]:
            print_row({k: v for k, v in r.items() if k != "phases"})
    if args.max_per_class:
        print(f"(--max-per-class {args.max_per_class}: smoke figures, not comparable)")


if __name__ == "__main__":
    raise SystemExit(main())
