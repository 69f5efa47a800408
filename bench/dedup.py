"""Benchmark curation's hashing and near-duplicate search against imagededup 0.3.3.

imagededup imports PyTorch even for its hash methods, so it lives in its own virtual
environment and runs here as a subprocess on the same files and hashes (see
../shared/README.md):

    python3 -m venv /tmp/idd
    /tmp/idd/bin/pip install torch==2.14.1 torchvision==0.29.1 imagededup
    python bench/dedup.py --peer-python /tmp/idd/bin/python

Figures, each with its ratio to the peer measured in the same run:
  (a) hashing throughput on ~800x600 JPEGs (images/s; target >= 3x the peer);
      Measured 2026-11-30 on a quiet machine (load 0.4), `--only a --peer-python
      /work/venv-imagededup/bin/python`: 1,668 images/s vs imagededup's 384 (4.3x).
  (b) near-duplicate search time on 10,000 and 1,000,000 64-bit hashes (target: 1M < 60 s);
  (c) precision and recall on near-duplicate pairs made from the real thumbnails in
      ../shared (resize, JPEG quality 20, 5% crop, small watermark), mixed with the
      distinct images of the same classes (target: precision >= 0.99, recall >= 0.95).
  (d) the development set of bench/nearset.py (sneakers41 originals, six kinds of copies,
      every look-alike pair of different models): precision and recall of the pairs that
      share a group, groups holding two models, and the time of hashing + dedup on it
      (about 9,600 images) beside today's main checkout (--baseline) and imagededup
      (target: precision >= 0.995, recall >= 0.97, no mixed group, <= 2x main's time).
      Measured 2026-11-30 on a shared 2-core machine (load ~15), `--only d`: ours precision
      0.989, recall 0.904, 6 of 830 groups hold two models, 327 s vs main's 528 s (0.62x);
      imagededup PHash precision 0.110, recall 0.854. Short of the target: see issue 14.
      After bench/nearmiss.py's analysis (inlier share 0.3, the pHash+dHash <= 14 source at
      share 0.34), 2026-11-30, load ~3.8, `--only d --baseline ''`: precision 0.9963, recall
      0.9187, 4 of 818 groups hold two models, 159.7 s. Three of the four are shots from one
      shoot (same feet or room, another shoe), one is the same photo with its background
      replaced, filed as Chuck Taylor All Star low and Chuck 70 low.
      Same day, load ~4.6, `--only d --baseline <main before issue 14 (b4ad20e)>
      --peer-python /work/venv-imagededup/bin/python`: the same figures, 148.7 s vs that
      main's 147.7 s (1.01x); imagededup PHash precision 0.1098, recall 0.8540 (37.7 s).
      With window candidates for crops, the refined fit, the edge check below 40% inliers
      and the soft colour histogram, 2026-11-30, load ~6, the same command: precision
      0.9966, recall 0.9653, 812 groups, none holding two models (the Converse photo filed
      under two models, nearset.SAME_PHOTO, is grouped and counted as one source: a label
      conflict); 228.9 s vs that main's 228.1 s (1.00x); imagededup PHash precision 0.1098,
      recall 0.8541 (36.9 s). Short of recall 0.97: watermarks over the shoe and crops that
      no window finds. Tried after: window pHash within 10 bits and edges >= 0.9 (load
      ~5): precision 0.9943, recall 0.9678, 0 mixed, 0.97x main's time; kept 8 and 0.92.
      Second pass: 162 of the 583 missed pairs were 27 "watermarked" copies that were the
      original's bytes (white text on white), one catalog row; nearset now draws such a
      text in a visible colour (digest 9a26236106fb7aa8) and files repeating another's
      bytes are left out of the truth. The code above, scored without them: precision
      0.9966, recall 0.9747 (bench/nearmiss.py's group figures). Then a colourway check
      (hue turned on the shared foreground), candidates within 16 bits of both hashes and
      windows within 10/12, inlier floor 0.12, edges >= 0.94, all chosen on the tune half
      (tune: precision 0.9983, recall 0.9852; held: 0.9973, 0.9813; no mixed group).
      2026-11-30, load 3.2-3.6, `--only d --baseline <b4ad20e> --peer-python
      /work/venv-imagededup/bin/python`: precision 0.9985, recall 0.9823, 809 groups, none
      holding two models; 298.1 s vs that main's 338.3 s (0.88x); imagededup PHash
      precision 0.1101, recall 0.8530 (35.2 s).
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "sneakers10"
sys.path[:0] = [
    str(ROOT),
    str(ROOT / "tests"),
    str(ROOT / "tests" / "curation_tests"),
    str(ROOT / "bench"),
]

import nearset  # noqa: E402
from imagegen import make_image  # noqa: E402
from nearcopies import TRANSFORMS  # noqa: E402

from catalog import InvalidImage, Provenance, add_image, open_catalog  # noqa: E402
from catalog.classes import add_class  # noqa: E402
from catalog.hashes import hashed_images  # noqa: E402
from curation.dedup import DEFAULT_MAX_DISTANCE, confirmed_edges  # noqa: E402
from curation.hashing import hash_catalog, hash_files  # noqa: E402
from curation.neardup import groups as neardup_groups  # noqa: E402
from curation.search import find_groups  # noqa: E402

# Pairs in sneakers10 that are the same photo, checked by eye (tests/curation_tests/
# test_sneakers10.py): their copies count as the same source.
SAME_PHOTO = [
    ("Air_Force_1/Air_Force_1_013.jpg", "Air_Force_1/Air_Force_1_025.jpg"),
    ("Air_Max_1/Air_Max_1_005.jpg", "Air_Max_1/Air_Max_1_039.jpg"),
    ("Air_Max_90/Air_Max_90_008.jpg", "Air_Max_90/Air_Max_90_027.jpg"),
    ("Air_Max_1/Air_Max_1_018.webp", "Air_Max_90/Air_Max_90_028.jpg"),
]

PEER = r"""
import json, sys, time, logging
logging.disable(logging.WARNING)
from imagededup.methods import PHash
task = json.loads(sys.argv[1])
ph = PHash(verbose=False)
t = time.perf_counter()
if task["kind"] == "encode":
    enc = ph.encode_images(image_dir=task["dir"], num_enc_workers=2)
    print(json.dumps({"seconds": time.perf_counter() - t, "count": len(enc)}))
elif task["kind"] == "search":
    enc = json.load(open(task["file"]))
    dup = ph.find_duplicates(
        encoding_map=enc, max_distance_threshold=task["d"], num_dist_workers=2
    )
    pairs = sum(len(v) for v in dup.values()) // 2
    print(json.dumps({"seconds": time.perf_counter() - t, "pairs": pairs}))
else:
    dup = ph.find_duplicates(
        image_dir=task["dir"],
        max_distance_threshold=task["d"],
        num_enc_workers=2,
        num_dist_workers=2,
    )
    pairs = sorted({tuple(sorted((a, b))) for a, v in dup.items() for b in v})
    print(json.dumps({"seconds": time.perf_counter() - t, "pairs": pairs}))
"""


def peer(python: str | None, task: dict) -> dict | None:
    if not python:
        return None
    out = subprocess.run([python, "-c", PEER, json.dumps(task)], capture_output=True, text=True)
    if out.returncode != 0:
        print(f"  peer failed: {out.stderr.strip().splitlines()[-1:]}")
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


def ratio(ours: float, theirs: float | None, higher_is_better: bool = True) -> str:
    if not theirs:
        return "peer: not measured"
    r = ours / theirs if higher_is_better else theirs / ours
    return f"{r:.1f}x the peer"


def sources() -> list[Path]:
    """The real thumbnails, one file per distinct content, or nothing without ../shared."""
    if not SHARED.is_dir():
        return []
    seen, files = set(), []
    for path in sorted(SHARED.glob("*/*")):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest not in seen:
            seen.add(digest)
            files.append(path)
    return files


def bench_hashing(work: Path, python: str | None, count: int) -> None:
    folder = work / "jpegs"
    folder.mkdir()
    real = sources()
    for k in range(count):
        img = Image.open(real[k % len(real)]).convert("RGB") if real else make_image(k, (200, 150))
        img.resize((800, 600), Image.Resampling.BICUBIC).save(folder / f"{k:05d}.jpg", quality=90)
    paths = sorted(folder.iterdir())
    # Best of five for both sides: the machine is shared, a slow run measures neighbours.
    ours, theirs_rate = 0.0, None
    for _ in range(5):
        t = time.perf_counter()
        hash_files(paths, workers=2)
        ours = max(ours, count / (time.perf_counter() - t))
        theirs = peer(python, {"kind": "encode", "dir": str(folder)})
        if theirs:
            theirs_rate = max(theirs_rate or 0.0, count / theirs["seconds"])
    print(
        f"(a) hashing {count} JPEGs of 800x600: {ours:.0f} images/s "
        "(pHash+dHash+pixel+signature); "
        f"imagededup PHash {theirs_rate or 0:.0f} images/s -> {ratio(ours, theirs_rate)} "
        "(best of 5 each)"
    )


def synthetic_hashes(n: int, seed: int = 0) -> dict[str, str]:
    """Random 64-bit hashes with a near copy (1-6 bits flipped) planted for every tenth."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 2**63, n, dtype=np.int64).astype(np.uint64) * np.uint64(
        2
    ) + rng.integers(0, 2, n).astype(np.uint64)
    for k in range(0, n - 1, 10):
        bits = rng.choice(64, size=1 + k % 6, replace=False)
        codes[k + 1] = codes[k] ^ np.uint64(sum(1 << int(b) for b in bits))
    return {f"h{k:07d}": f"{int(c):016x}" for k, c in enumerate(codes)}


def bench_search(work: Path, python: str | None, sizes: list[int], peer_max: int) -> None:
    for n in sizes:
        hashes = synthetic_hashes(n)
        t = time.perf_counter()
        groups = find_groups(hashes, DEFAULT_MAX_DISTANCE)
        ours = time.perf_counter() - t
        theirs = None
        if n <= peer_max:
            path = work / f"hashes-{n}.json"
            path.write_text(json.dumps(hashes))
            theirs = peer(python, {"kind": "search", "file": str(path), "d": DEFAULT_MAX_DISTANCE})
        peer_text = (
            f"imagededup {theirs['seconds']:.2f} s"
            if theirs
            else f"imagededup not run above {peer_max:,}"
        )
        print(
            f"(b) search {n:,} hashes within {DEFAULT_MAX_DISTANCE} bits: {ours:.2f} s, "
            f"{len(groups):,} groups; {peer_text} -> "
            f"{ratio(ours, theirs['seconds'] if theirs else None, higher_is_better=False)}"
        )


def make_pairs(folder: Path) -> dict[str, str]:
    """Originals plus their four near copies; returns file name -> source name."""
    source_of: dict[str, str] = {}
    for path in sources():
        rel = f"{path.parent.name}/{path.name}"
        base = f"{path.parent.name}__{path.stem}"
        img = Image.open(path).convert("RGB")
        img.save(folder / f"{base}.png")
        source_of[f"{base}.png"] = rel
        for name, transform in TRANSFORMS.items():
            transform(img).save(folder / f"{base}__{name}.jpg", quality=90)
            source_of[f"{base}__{name}.jpg"] = rel
    return source_of


def same_source(
    source_of: dict[str, str], same_photo: list[tuple[str, str]] = SAME_PHOTO
) -> set[tuple[str, str]]:
    alias = {b: a for a, b in same_photo}
    by_source: dict[str, list[str]] = {}
    for name, src in source_of.items():
        by_source.setdefault(alias.get(src, src), []).append(name)
    return {
        tuple(sorted(p)) for names in by_source.values() for p in itertools.combinations(names, 2)
    }


def score(pred: set, truth: set) -> tuple[float, float]:
    hits = len(pred & truth)
    return hits / max(1, len(pred)), hits / max(1, len(truth))


def bench_accuracy(work: Path, python: str | None) -> None:
    if not SHARED.is_dir():
        print("(c) skipped: ../shared/data/sneakers10 is absent")
        return
    folder = work / "pairs"
    folder.mkdir()
    source_of = make_pairs(folder)
    truth = same_source(source_of)
    with open_catalog(work / "bench.db") as cat:
        for name in sorted(source_of):
            try:
                add_image(
                    cat,
                    (folder / name).read_bytes(),
                    source_of[name].split("/")[0],
                    Provenance("import", title=name),
                )
            except InvalidImage:
                pass
        t = time.perf_counter()
        hash_catalog(cat)
        rows = {r["id"]: r for r in hashed_images(cat)}
        titles = {r["id"]: r["title"] for r in cat.table("images").rows}
        edges = confirmed_edges(cat, rows, DEFAULT_MAX_DISTANCE)
        seconds = time.perf_counter() - t
    ours = {tuple(sorted((titles[e.a], titles[e.b]))) for e in edges}
    p, r = score(ours, truth)
    print(
        f"(c) {len(source_of)} images from {len(set(source_of.values()))} real thumbnails, "
        f"{len(truth)} same-source pairs:"
    )
    print(f"    ours: precision {p:.3f}, recall {r:.3f} ({len(ours)} pairs, {seconds:.1f} s)")
    theirs = peer(python, {"kind": "accuracy", "dir": str(folder), "d": DEFAULT_MAX_DISTANCE})
    if theirs:
        tp, tr = score({tuple(x) for x in theirs["pairs"]}, truth)
        print(
            f"    imagededup PHash (threshold {DEFAULT_MAX_DISTANCE}): precision {tp:.3f}, "
            f"recall {tr:.3f} ({len(theirs['pairs'])} pairs, {theirs['seconds']:.1f} s) -> "
            f"precision {p / max(tp, 1e-9):.2f}x, recall {r / max(tr, 1e-9):.2f}x the peer"
        )


BASELINE = r"""
import sys, time
from pathlib import Path
from catalog import open_catalog
from catalog.hashes import hashed_images
from curation.dedup import confirmed_edges
from curation.hashing import hash_catalog
with open_catalog(Path(sys.argv[1])) as cat:
    t = time.perf_counter()
    hash_catalog(cat, workers=2)
    confirmed_edges(cat, {r["id"]: r for r in hashed_images(cat)}, 10)
    print(time.perf_counter() - t)
"""


def nearset_catalog(folder: Path, db: Path, source_of: dict[str, str]) -> None:
    with open_catalog(db) as cat:
        for model in sorted({n.split("__")[0] for n in source_of}):
            add_class(cat, model)
        for name in sorted(source_of):
            add_image(
                cat,
                (folder / name).read_bytes(),
                name.split("__")[0],
                Provenance("import", title=name),
            )


def one_name_per_file(folder: Path, source_of: dict[str, str]) -> dict[str, str]:
    """`source_of` less the files whose bytes repeat an earlier file's.

    The catalog stores such a file once, under the first name (sha256 at import): a pair
    with it can never share a group, so it is left out of the truth rather than scored as
    a miss (27 invisible watermarks of an earlier nearset were, issue 14).
    """
    seen: set[str] = set()
    out = {}
    for name in sorted(source_of):
        digest = hashlib.sha256((folder / name).read_bytes()).hexdigest()
        if digest not in seen:
            seen.add(digest)
            out[name] = source_of[name]
    return out


def bench_nearset(work: Path, python: str | None, baseline: str | None) -> None:
    if not nearset.SNEAKERS41.is_dir():
        print("(d) skipped: ../shared/data/sneakers41 is absent")
        return
    truth = nearset.build(work / "nearset")
    folder = work / "nearset" / "images"
    source_of = one_name_per_file(folder, truth["source_of"])
    repeats = len(truth["source_of"]) - len(source_of)
    pairs = same_source(source_of, nearset.SAME_PHOTO)
    print(
        f"(d) nearset: {len(source_of)} images, {len(pairs)} same-source pairs, "
        f"{len(truth['lookalikes'])} look-alike pairs of different models within "
        f"{nearset.LOOKALIKE_BITS} pHash bits "
        f"(digest {nearset.digest(work / 'nearset')})"
        + (f"; {repeats} files repeat another's bytes, left out" if repeats else "")
    )
    nearset_catalog(folder, work / "near.db", source_of)
    before = None
    if baseline:
        shutil.copy(work / "near.db", work / "near-main.db")  # beside it: the same image store
        out = subprocess.run(
            [sys.executable, "-c", BASELINE, str(work / "near-main.db")],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": baseline},
        )
        before = float(out.stdout.strip().splitlines()[-1]) if out.returncode == 0 else None
    with open_catalog(work / "near.db") as cat:
        t = time.perf_counter()
        hash_catalog(cat, workers=2)
        rows = {r["id"]: r for r in hashed_images(cat)}
        found = neardup_groups(rows, confirmed_edges(cat, rows, DEFAULT_MAX_DISTANCE))
        seconds = time.perf_counter() - t
        titles = {r["id"]: r["title"] for r in cat.table("images").rows}
    named = [[titles[i] for i in g] for g in found]
    ours = {tuple(sorted(p)) for g in named for p in itertools.combinations(g, 2)}
    # A group of two models is mixed unless its pictures are one photo filed twice
    # (nearset.SAME_PHOTO): that is a label conflict in the source data, shown apart.
    alias = {b: a for a, b in nearset.SAME_PHOTO}
    models = [{n.split("__")[0] for n in g} for g in named]
    sources = [{alias.get(source_of[n], source_of[n]) for n in g} for g in named]
    mixed = [
        g
        for g, m, s in zip(named, models, sources, strict=True)
        if len(m) > 1 and len({x.split("/")[0] for x in s}) > 1
    ]
    conflicts = [g for g, m in zip(named, models, strict=True) if len(m) > 1 and g not in mixed]
    p, r = score(ours, pairs)
    timing = f"{seconds:.1f} s" + (
        f", main {before:.1f} s -> {seconds / before:.2f}x" if before else ""
    )
    print(
        f"    ours: precision {p:.4f}, recall {r:.4f}, {len(found)} groups, "
        f"{len(mixed)} holding two models; hash + dedup {timing}"
    )
    for g in mixed[:5]:
        print(f"      mixed: {g}")
    for g in conflicts:
        print(f"      one photo under two models (nearset.SAME_PHOTO, a label conflict): {g}")
    theirs = peer(python, {"kind": "accuracy", "dir": str(folder), "d": DEFAULT_MAX_DISTANCE})
    if theirs:
        kept = {tuple(x) for x in theirs["pairs"] if x[0] in source_of and x[1] in source_of}
        tp, tr = score(kept, pairs)
        print(
            f"    imagededup PHash (threshold {DEFAULT_MAX_DISTANCE}): precision {tp:.4f}, "
            f"recall {tr:.4f} ({theirs['seconds']:.1f} s)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--peer-python",
        default="/tmp/idd/bin/python",
        help="Python of the imagededup venv ('' to skip).",
    )
    parser.add_argument("--images", type=int, default=600, help="JPEGs for the hashing figure.")
    parser.add_argument(
        "--sizes", default="10000,1000000", help="Hash counts for the search figure."
    )
    parser.add_argument(
        "--peer-max", type=int, default=10_000, help="Largest hash count given to the peer."
    )
    parser.add_argument("--only", default="abcd", help="Which figures to run, e.g. 'ad'.")
    parser.add_argument(
        "--baseline",
        default="/work/main",
        help="A checkout whose dedup is timed on the same set ('' to skip).",
    )
    args = parser.parse_args()
    python = args.peer_python if args.peer_python and Path(args.peer_python).exists() else None
    if not python:
        print("imagededup venv not found: peer figures are skipped")
    print(f"machine: {os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory(prefix="bench-dedup-") as tmp:
        work = Path(tmp)
        if "a" in args.only:
            bench_hashing(work, python, args.images)
        if "b" in args.only:
            bench_search(work, python, [int(s) for s in args.sizes.split(",")], args.peer_max)
        if "c" in args.only:
            bench_accuracy(work, python)
        if "d" in args.only:
            bench_nearset(
                work,
                python,
                args.baseline if args.baseline and Path(args.baseline).is_dir() else None,
            )


if __name__ == "__main__":
    main()
