"""`bench/train.py --scale`: the default configuration on 5,000 and 50,000 images (issue 10).

For each size N: write N training images (and N/9 test images) made from
../shared/data/sneakers41 by random crops, flips and colour changes of the originals
(JPEG, into a temporary folder, as DIR/train/<class>/ and DIR/test/<class>/; every copy
of one original lands in the same subset), `curate import` them into a fresh catalog
(split `imported`), then run `train` in a subprocess so its peak resident memory is its
own (`os.wait4`), sampling its RSS every few seconds. Prints the peak RSS, how it grew,
and the time of each phase that the run recorded.

    python bench/train.py --scale [--sizes 5000,50000] [--backbone NAME] [--time-limit S]
        [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PIL import Image, ImageEnhance, ImageOps

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT.parent / "shared" / "data" / "sneakers41"
BIN = Path(sys.executable).parent
TEST_SHARE = 0.1
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1"}


def originals() -> dict[str, list[Path]]:
    return {
        d.name: sorted(p for p in d.iterdir() if p.is_file())
        for d in sorted(SOURCE.iterdir())
        if d.is_dir()
    }


def variant(src: Path, dest: Path, seed: int) -> None:
    """A random crop (70-100% of each side), maybe mirrored, brightness/contrast/colour changed."""
    rng = random.Random(seed)
    with Image.open(src) as opened:
        img: Image.Image = ImageOps.exif_transpose(opened).convert("RGB")
        w, h = img.size
        cw, ch = int(w * rng.uniform(0.7, 1.0)), int(h * rng.uniform(0.7, 1.0))
        x, y = rng.randint(0, w - cw), rng.randint(0, h - ch)
        img = img.crop((x, y, x + cw, y + ch)).resize((w, h), Image.Resampling.BILINEAR)
        if rng.random() < 0.5:
            img = ImageOps.mirror(img)
        for enhance in (ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color):
            img = enhance(img).enhance(rng.uniform(0.75, 1.25))
        dest.parent.mkdir(parents=True, exist_ok=True)
        img.save(dest, "JPEG", quality=90)


def build_dataset(folder: Path, n_train: int, seed: int = 0) -> dict[str, int]:
    """N train images and about N/9 test images, spread over the classes as the originals are."""
    by_class = originals()
    items = [(cls, path) for cls, paths in by_class.items() for path in paths]
    rng = random.Random(seed)
    test_originals = {p for _, p in rng.sample(items, round(len(items) * TEST_SHARE))}
    train_items = [it for it in items if it[1] not in test_originals]
    test_items = [it for it in items if it[1] in test_originals]
    n_test = round(n_train * TEST_SHARE / (1 - TEST_SHARE))
    jobs: list[tuple[Path, Path, int]] = []
    trained: set[str] = set()
    for offset, (subset, pool, n) in enumerate(
        (("train", train_items, n_train), ("test", test_items, n_test))
    ):
        # Shuffled, so that a small N still spans the classes; every original is used once
        # before any is used twice; a test image only of a class with train images. Variant
        # seeds are plain numbers: `hash()` of a string changes from one process to the next.
        pool = sorted(it for it in pool if subset == "train" or it[0] in trained)
        rng.shuffle(pool)
        for k in range(n):
            cls, src = pool[k % len(pool)]
            trained.add(cls)
            jobs.append(
                (src, folder / subset / cls / f"{k:06d}.jpg", seed * 10**7 + offset * 10**6 + k)
            )
    started = time.perf_counter()
    with ThreadPoolExecutor(os.cpu_count() or 2) as workers:
        list(workers.map(lambda job: variant(*job), jobs))
    print(
        f"  wrote {len(jobs)} JPEGs ({n_train} train, {n_test} test) "
        f"in {time.perf_counter() - started:.0f} s",
        flush=True,
    )
    return {"train": n_train, "test": n_test}


def import_catalog(folder: Path, catalog: Path) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        [str(BIN / "curate"), "import", str(folder), "--add-classes", "--catalog", str(catalog)],
        capture_output=True,
        text=True,
        env=ENV,
    )
    if done.returncode:
        raise SystemExit(f"curate import failed: {done.stdout[-2000:]}{done.stderr[-2000:]}")
    return time.perf_counter() - started


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def train_measured(
    catalog: Path,
    options: list[str],
    time_limit: float | None,
    log: Path,
    env: dict[str, str] | None = None,
) -> dict:
    """`train [options]` in a child process: its own peak RSS (wait4), an RSS sample every 5 s,
    its wall time. Its output goes to `log`."""
    cmd = [str(BIN / "train"), *options, "--catalog", str(catalog)]
    samples: list[tuple[float, float]] = []
    started = time.perf_counter()
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env or ENV)
        stop = threading.Event()

        def sample() -> None:
            while not stop.wait(5.0):
                value = rss_mb(proc.pid)
                if value is not None:
                    samples.append((time.perf_counter() - started, value))
                if time_limit and time.perf_counter() - started > time_limit:
                    os.kill(proc.pid, signal.SIGTERM)
                    return

        watcher = threading.Thread(target=sample, daemon=True)
        watcher.start()
        _, status, usage = os.wait4(proc.pid, 0)
        stop.set()
        proc.returncode = os.waitstatus_to_exitcode(status)
    return {
        "rc": proc.returncode,
        "wall": time.perf_counter() - started,
        "peak_rss_mb": usage.ru_maxrss / 1024,
        "samples": samples,
        "cmd": " ".join(cmd),
    }


def run_metrics(catalog: Path) -> dict:
    """The newest run's status, backbone and metrics, read straight from the catalog."""
    with sqlite3.connect(catalog) as conn:
        row = conn.execute(
            "SELECT status, backbone, metrics FROM runs ORDER BY id DESC LIMIT 1"
        ).fetchone()
    return {"status": row[0], "backbone": row[1], **json.loads(row[2] or "{}")} if row else {}


def one_size(n: int, args: argparse.Namespace, work: Path) -> None:
    print(f"\n== {n} training images ==", flush=True)
    # One folder per size: a catalog keeps its runs, images and caches beside itself.
    folder, catalog = work / f"{n}" / "source", work / f"{n}" / "catalog.db"
    if not folder.exists():
        build_dataset(folder, n)
    if not catalog.exists():
        print(f"  curate import: {import_catalog(folder, catalog):.0f} s", flush=True)
    load = os.getloadavg()
    options = [*(["--backbone", args.backbone] if args.backbone else []), "--split", "imported"]
    result = train_measured(
        catalog, [*options, *args.train_args.split()], args.time_limit, work / f"{n}" / "train.log"
    )
    m = run_metrics(catalog)
    print(
        f"  train ({result['cmd']}): exit {result['rc']}, wall {result['wall']:.0f} s, "
        f"peak RSS {result['peak_rss_mb']:.0f} MB; "
        f"load average before {load[0]:.1f}, after {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    trace = result["samples"][:: max(1, len(result["samples"]) // 24)]
    print(
        "  RSS over time (s: MB): " + ", ".join(f"{t:.0f}: {v:.0f}" for t, v in trace), flush=True
    )
    if m:
        print(
            f"  run status {m.get('status')}; phases (s) {m.get('seconds')}; plan {m.get('plan')}; "
            f"counts {m.get('counts')}; test top-1 {m.get('top1')} top-3 {m.get('top3')}",
            flush=True,
        )
    print(f"  log: {work / f'{n}' / 'train.log'}", flush=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="bench/train.py --scale", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--scale", action="store_true")
    parser.add_argument(
        "--sizes", default="5000,50000", help="training-image counts, comma separated"
    )
    parser.add_argument(
        "--backbone", default="", help="default: the trainer's default (no --backbone given)"
    )
    parser.add_argument(
        "--train-args", default="", help="extra `train` options, e.g. '--weights none'"
    )
    parser.add_argument(
        "--time-limit",
        type=float,
        default=None,
        help="stop each training after S seconds (peak RSS still reported)",
    )
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args(argv)
    if not SOURCE.is_dir():
        print(f"skipped: {SOURCE} is absent")
        return 0
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    print(
        f"workdir {work}; {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f}", flush=True
    )
    for n in (int(s) for s in args.sizes.split(",")):
        one_size(n, args, work)
    return 0
