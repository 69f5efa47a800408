"""Misses and false merges of `curation.neardup` on the development set, with their figures.

    python bench/nearmiss.py /tmp/nearset          # builds the set there when it is absent

Every same-source pair and every candidate pair (hash neighbours within `--radius`) is
measured once (`neardup.measure(full=True)`, all figures even past the first rejection)
and written to pairs-RADIUS-mVERSION.json beside the set, so thresholds can be tuned
without decoding again. Sources are split in two halves by a hash of their name: thresholds are
chosen on the `tune` half and reported on the `held` half.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import pickle
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import nearset  # noqa: E402

from catalog import Provenance, add_image, open_catalog  # noqa: E402
from catalog.classes import add_class  # noqa: E402
from catalog.hashes import hashed_images  # noqa: E402
from curation import neardup  # noqa: E402
from curation.hashing import hash_catalog  # noqa: E402
from curation.search import to_codes  # noqa: E402

# Bumped whenever neardup.Features changes: the cache of an older one is not read.
FEATURES_VERSION = 2
# Bumped whenever neardup.Measure gains a figure (3: chroma): an older table is measured again.
MEASURE_VERSION = 3


def half(source: str) -> str:
    """'tune' or 'held', fixed by the source's name."""
    return "tune" if hashlib.sha256(source.encode()).digest()[0] % 2 == 0 else "held"


def catalog_of(dest: Path) -> tuple[dict[int, dict], dict[int, str], dict]:
    if not (dest / "truth.json").exists():
        nearset.build(dest)
    truth = json.loads((dest / "truth.json").read_text())
    # In a folder of its own: the catalog's image store goes beside it, not into the set.
    db = dest / "catalog" / "near.db"
    db.parent.mkdir(exist_ok=True)
    fresh = not db.exists()
    with open_catalog(db) as cat:
        if fresh:
            for model in sorted({n.split("__")[0] for n in truth["source_of"]}):
                add_class(cat, model)
            for name in sorted(truth["source_of"]):
                add_image(
                    cat,
                    (dest / "images" / name).read_bytes(),
                    name.split("__")[0],
                    Provenance("import", title=name),
                )
            hash_catalog(cat, workers=2)
        rows = {r["id"]: r for r in hashed_images(cat)}
        titles = {r["id"]: r["title"] for r in cat.table("images").rows}
        confirmer = neardup.Confirmer.of_rows(cat, rows)
        cache = dest / f"features-{FEATURES_VERSION}.pkl"
        if cache.exists():
            confirmer._features = pickle.loads(cache.read_bytes())
        else:
            t = time.perf_counter()
            for image_id in rows:
                confirmer.features(image_id)
            print(f"features of {len(rows)} images: {time.perf_counter() - t:.0f} s")
            cache.write_bytes(pickle.dumps(confirmer._features))
    return rows, titles, {"truth": truth, "confirmer": confirmer}


def pair_table(dest: Path, radius: int) -> list[dict]:
    path = dest / f"pairs-{radius}-m{MEASURE_VERSION}.json"
    if path.exists():
        return json.loads(path.read_text())
    rows, titles, ctx = catalog_of(dest)
    truth, confirmer = ctx["truth"], ctx["confirmer"]
    source_of = truth["source_of"]
    alias = {b: a for a, b in nearset.SAME_PHOTO}  # one photo filed under two models
    by_title = {t: i for i, t in titles.items()}
    ids = list(rows)
    pos = {i: k for k, i in enumerate(ids)}
    ph, dh = to_codes(rows[i]["phash"] for i in ids), to_codes(rows[i]["dhash"] for i in ids)
    pairs: set[tuple[int, int]] = set()
    by_source: dict[str, list[int]] = {}
    for name, src in source_of.items():
        if name not in by_title:  # the same bytes as another file: one row, one title
            continue
        by_source.setdefault(src, []).append(by_title[name])
    for members in by_source.values():
        pairs.update((min(p), max(p)) for p in itertools.combinations(members, 2))
    candidate = {
        (min(e.a, e.b), max(e.a, e.b))
        for e in neardup.candidates(
            rows, neardup.DEFAULT_MAX_DISTANCE, windows=neardup.stored_windows(rows)[0]
        )
    }
    # --radius widens what is measured beyond the candidates, the wide source included.
    wide = {
        (min(e.a, e.b), max(e.a, e.b))
        for e in neardup.candidates(rows, radius, squares=False, wide=None)
    }
    # Every candidate is measured, the wide and window sources included: their false
    # accepts count as much as the hash neighbours'.
    pairs |= wide | candidate
    print(
        f"{len(pairs)} pairs to measure ({len(candidate)} candidates, "
        f"{len(wide)} within {radius} bits)"
    )
    table = []
    t = time.perf_counter()
    for a, b in sorted(pairs):
        fa, fb = confirmer.features(a), confirmer.features(b)
        m = neardup.measure(fa, fb, full=True)
        sa, sb = (alias.get(source_of[titles[x]], source_of[titles[x]]) for x in (a, b))
        table.append(
            {
                "a": titles[a],
                "b": titles[b],
                "same": sa == sb,
                "half": half(sa),
                "phash": int(np.bitwise_count(ph[pos[a]] ^ ph[pos[b]])),
                "dhash": int(np.bitwise_count(dh[pos[a]] ^ dh[pos[b]])),
                "candidate": (a, b) in candidate,
                **m.__dict__,
            }
        )
    print(f"measured in {time.perf_counter() - t:.0f} s")
    path.write_text(json.dumps(table))
    return table


def kind(name: str) -> str:
    parts = Path(name).stem.split("__")
    return parts[2] if len(parts) > 2 else "original"


def verdict(p: dict) -> neardup.Verdict:
    fields = {k: p[k] for k in neardup.Measure.__dataclass_fields__}
    return neardup.judge(neardup.Measure(**fields))


def report(table: list[dict], which: str = "all") -> None:
    rows = [p for p in table if which == "all" or p["half"] == which]
    same = [p for p in rows if p["same"]]
    miss: Counter[tuple[str, str]] = Counter()
    for p in same:
        v = verdict(p)
        if not p["candidate"]:
            miss[("not a candidate", kind(p["a"]) + "/" + kind(p["b"]))] += 1
        elif not v.same:
            miss[(v.reason, kind(p["a"]) + "/" + kind(p["b"]))] += 1
    false = [p for p in rows if not p["same"] and p["candidate"] and verdict(p).same]
    hits = sum(1 for p in same if p["candidate"] and verdict(p).same)
    different = sum(1 for p in rows if not p["same"] and p["candidate"])
    # Groups never chain, so a copy joins its group only when confirmed against the kept
    # image, the original: these pairs decide dedup's recall.
    kept = [p for p in same if "original" in (kind(p["a"]), kind(p["b"]))]
    kept_hits = sum(1 for p in kept if p["candidate"] and verdict(p).same)
    print(
        f"[{which}] same-source pairs {len(same)}, confirmed {hits} "
        f"(pair recall {hits / max(1, len(same)):.4f}; original/copy {kept_hits} of {len(kept)}); "
        f"false accepts {len(false)} of {different} different candidates"
    )
    for (reason, kinds), n in miss.most_common(25):
        print(f"  miss {n:5d}  {reason:18s} {kinds}")
    for p in false[:40]:
        print(
            f"  FALSE {p['a']} ~ {p['b']}: phash {p['phash']} dhash {p['dhash']} "
            f"inliers {p['inliers']}/{p['keypoints']} scale {p['scale']:.2f} "
            f"rot {p['rotation']:.1f} agree {p['agreement']:.2f} edges {p['gradient']:.2f} "
            f"overlap {p['overlap']:.2f} chroma {p['chroma']:.2f} tex {p['textureless']}"
        )


def group_report(dest: Path, table: list[dict]) -> None:
    """What bench/dedup.py scores, from the table: the pairs that share a group.

    The confirmed candidates are grouped as dedup groups them (no chaining, keep order);
    a half counts the pairs with a member from its sources, and its groups of two models.
    """
    with open_catalog(dest / "catalog" / "near.db") as cat:
        rows = {r["id"]: r for r in hashed_images(cat)}
        titles = {r["id"]: r["title"] for r in cat.table("images").rows}
    by_title = {t: i for i, t in titles.items()}
    source_of = json.loads((dest / "truth.json").read_text())["source_of"]
    alias = {b: a for a, b in nearset.SAME_PHOTO}
    source = {t: alias.get(source_of[t], source_of[t]) for t in titles.values()}
    edges = [
        neardup.Edge(by_title[p["a"]], by_title[p["b"]], 0, "table")
        for p in table
        if p["candidate"] and verdict(p).same
    ]
    named = [[titles[i] for i in g] for g in neardup.groups(rows, edges)]
    members: dict[str, list[str]] = {}
    for t in titles.values():
        members.setdefault(source[t], []).append(t)
    for which in ("tune", "held", "all"):

        def mine(names: list[str] | tuple[str, ...], which: str = which) -> bool:
            return which == "all" or any(half(source[n]) == which for n in names)

        truth = {
            tuple(sorted(q))
            for names in members.values()
            if mine(names)
            for q in itertools.combinations(names, 2)
        }
        ours = {tuple(sorted(q)) for g in named for q in itertools.combinations(g, 2) if mine(q)}
        mixed = sum(1 for g in named if mine(g) and len({source[n].split("/")[0] for n in g}) > 1)
        hits = len(ours & truth)
        print(
            f"[{which}] grouped: precision {hits / max(1, len(ours)):.4f}, recall "
            f"{hits / max(1, len(truth)):.4f} ({len(ours) - hits} pairs wrongly grouped, "
            f"{len(truth) - hits} missed), {mixed} groups of two models"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("dest", type=Path)
    parser.add_argument(
        "--radius",
        type=int,
        default=neardup.DEFAULT_MAX_DISTANCE,
        help="Hash radius of the measured candidates.",
    )
    args = parser.parse_args()
    table = pair_table(args.dest, args.radius)
    for which in ("tune", "held"):
        report(table, which)
    group_report(args.dest, table)


if __name__ == "__main__":
    main()
