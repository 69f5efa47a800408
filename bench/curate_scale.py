"""Curation at size: import, dedup, split and leaks on 10,000 and 100,000 generated images.

    python bench/curate_scale.py [--sizes 10000,100000] [--workdir DIR] [--keep]

For each size N it writes N JPEGs into DIR/n<N>/src/<class>/ (about 500 per class), made
so that curation has the work a big crawl gives it:
- distinct pictures: a few random shapes and a texture on a random background, long side
  96-320 px at random aspect ratios, 15% of them square;
- 10% near copies of a distinct picture of the same class: resized, re-encoded at a low
  JPEG quality, cropped by 3-8% off centre, or made a little brighter or darker;
- 2% look-alike pairs: a picture and its colourway (the same layout, another hue) in a
  neighbouring class, which must stay apart.
Then `curate import --add-classes`, `curate dedup`, `curate split` and `curate leaks`, each
in its own child process (`os.wait4` gives its own peak resident memory), into a fresh
catalog. Printed per step: wall time and peak RSS; then the total against the 20-minute
bar, the largest RSS against 2 GB, and split's and leaks' time as a share of dedup's
(the peer measured in the same run: split and leaks reuse what dedup stored).
"""

from __future__ import annotations

import argparse
import colorsys
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance

BIN = Path(sys.executable).parent
PER_CLASS = 500
NEAR_SHARE = 0.10
LOOKALIKE_SHARE = 0.02
SQUARE_SHARE = 0.15
ENV = {**os.environ, "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}


def picture(seed: int, hue_shift: float = 0.0) -> Image.Image:
    """A distinct picture: background, texture and shapes all drawn from `seed`."""
    rng = random.Random(seed)
    long_side = rng.randint(96, 320)
    if rng.random() < SQUARE_SHARE:
        size = (long_side, long_side)
    else:
        short = max(64, int(long_side * rng.uniform(0.5, 0.95)))
        size = (long_side, short) if rng.random() < 0.7 else (short, long_side)
    noise = np.random.default_rng(seed).integers(0, 256, (6, 6, 3), dtype=np.uint8)
    img = Image.fromarray(noise, "RGB").resize(size, Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(img)
    for _ in range(rng.randint(3, 7)):
        x0, y0 = rng.uniform(0, size[0] * 0.8), rng.uniform(0, size[1] * 0.8)
        x1, y1 = x0 + rng.uniform(10, size[0] * 0.5), y0 + rng.uniform(10, size[1] * 0.5)
        colour = _hued(rng.random() + hue_shift, rng.uniform(0.4, 1), rng.uniform(0.3, 1))
        shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
        shape((x0, y0, x1, y1), fill=colour, outline=(0, 0, 0), width=2)
    return img


def _hued(h: float, s: float, v: float) -> tuple[int, int, int]:
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, s, v)
    return int(r * 255), int(g * 255), int(b * 255)


def near_copy(img: Image.Image, seed: int) -> tuple[Image.Image, int]:
    """One of four everyday copies of `img`, and the JPEG quality to save it at."""
    rng = random.Random(seed)
    kind = rng.randrange(4)
    w, h = img.size
    if kind == 0:
        f = rng.uniform(0.6, 0.9)
        return img.resize((max(48, int(w * f)), max(48, int(h * f)))), 85
    if kind == 1:
        return img, rng.randint(25, 40)
    if kind == 2:
        c = rng.uniform(0.03, 0.08)
        dx, dy = int(w * c * rng.random()), int(h * c * rng.random())
        return img.crop((dx, dy, w - int(w * c) + dx, h - int(h * c) + dy)), 85
    return ImageEnhance.Brightness(img).enhance(rng.choice([0.85, 1.15])), 85


def write_class(args: tuple[Path, int, int, int]) -> int:
    """Write class `index`'s pictures (seeds from `first`), its near copies and colourways."""
    folder, index, first, count = args
    own = folder / f"class_{index:04d}"
    own.mkdir(parents=True, exist_ok=True)
    rng = random.Random(index)
    n_near = int(count * NEAR_SHARE)
    n_look = int(count * LOOKALIKE_SHARE)
    distinct = count - n_near - n_look
    written = 0
    for k in range(distinct):
        picture(first + k).save(own / f"{k:05d}.jpg", quality=85)
        written += 1
    for k in range(n_near):
        source = rng.randrange(distinct)
        img, quality = near_copy(picture(first + source), first * 7 + k)
        img.save(own / f"near_{k:05d}_of_{source:05d}.jpg", quality=quality)
        written += 1
    # Colourways of the previous class's first pictures: the same layout, another hue.
    for k in range(n_look):
        picture((first - PER_CLASS * 10 + k) % 10**9, hue_shift=0.33).save(
            own / f"look_{k:05d}.jpg", quality=85
        )
        written += 1
    return written


def build(folder: Path, n: int) -> float:
    started = time.perf_counter()
    classes = max(1, n // PER_CLASS)
    jobs = [(folder, c, 1 + c * PER_CLASS * 10, n // classes) for c in range(classes)]
    with ProcessPoolExecutor() as pool:
        total = sum(pool.map(write_class, jobs))
    print(f"  wrote {total:,} images in {classes} classes: {time.perf_counter() - started:.0f} s")
    return time.perf_counter() - started


def step(name: str, args: list[str], catalog: Path, log: Path) -> tuple[float, float, int]:
    """Run `curate ARGS --catalog CATALOG`; its wall time (s), peak RSS (MB) and exit code."""
    cmd = [str(BIN / "curate"), *args, "--catalog", str(catalog)]
    started = time.perf_counter()
    with open(log, "a") as out:
        out.write(f"\n$ {' '.join(cmd)}\n")
        out.flush()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=ENV)
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    rc = os.waitstatus_to_exitcode(status)
    print(f"  {name:<7} {wall:8.1f} s  peak RSS {usage.ru_maxrss / 1024:7.0f} MB  exit {rc}")
    return wall, usage.ru_maxrss / 1024, rc


def measure(n: int, workdir: Path) -> None:
    root = workdir / f"n{n}"
    if root.exists():
        shutil.rmtree(root)
    print(f"== {n:,} images ({root})")
    build(root / "src", n)
    catalog, log = root / "catalog" / "catalog.db", root / "curate.log"
    catalog.parent.mkdir()
    steps = {
        "import": ["import", str(root / "src"), "--add-classes"],
        "dedup": ["dedup"],
        "split": ["split", "--name", "default"],
        "leaks": ["leaks", "default"],
    }
    figures = {name: step(name, args, catalog, log) for name, args in steps.items()}
    total = sum(wall for wall, _, _ in figures.values())
    peak = max(rss for _, rss, _ in figures.values())
    dedup = figures["dedup"][0]
    print(f"  total {total / 60:.1f} min (bar 20 min: ratio {total / 1200:.2f})")
    print(f"  largest peak RSS {peak:.0f} MB (bar 2048 MB: ratio {peak / 2048:.2f})")
    print(f"  split / dedup time {figures['split'][0] / dedup:.2f} (bar 0.33)")
    print(f"  leaks / dedup time {figures['leaks'][0] / dedup:.2f}")
    failed = [name for name, (_, _, rc) in figures.items() if rc not in (0,)]
    if failed:
        print(f"  steps that exited non-zero: {', '.join(failed)} (see {log})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--keep", action="store_true", help="keep the images and catalogs")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="curate-scale-"))
    print(f"workdir {workdir}; load average {os.getloadavg()[0]:.1f}")
    for n in (int(s) for s in args.sizes.split(",")):
        measure(n, workdir)
        if not args.keep:
            shutil.rmtree(workdir / f"n{n}")


if __name__ == "__main__":
    main()
