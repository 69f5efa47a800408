"""Near duplicates, one way for dedup, split and leaks: candidates, confirmation, groups.

1. Candidates come from the stored hashes: equal decoded pixels, pHash or dHash within
   `max_distance` bits (the numpy XOR + popcount / multi-index search in `search`), both
   within `WIDE_DISTANCE` bits (crops and rotations that move each hash further), and
   square thumbnails that repeat a window of a larger result of the same class.
2. A candidate is confirmed by structure, not by colour averages (issue 14): ORB keypoints
   of both images (OpenCV) are matched and a similarity transform (scale, rotation,
   shift) is fitted with RANSAC. A copy has many inliers under a near-identity transform
   (a 3-10% crop, a small rotation, a resize); then the second image is warped onto the
   first and the *foreground* pixels (those that differ from the background colour) must
   agree in colour after one brightness/contrast fit, so the same model in another
   colourway, photographed in the same pose, stays apart. Square chips are confirmed by
   the aligned window correlation in `verify`.
3. Groups never chain: images are taken in keep order (largest area, then lowest id); an
   image not yet placed keeps a group, and joins it only those still unplaced images that
   are confirmed against *it*.

What needs decoding (a 128 px colour copy, its keypoints and a foreground histogram) is
computed once per image, and only for images that are candidates.

Example:
    >>> edges = confirmed_edges(cat, rows, 10)          # doctest: +SKIP
    >>> groups(rows, edges)                              # doctest: +SKIP
    [[12, 40, 41]]
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from catalog import Catalog, image_file

from .hashing import open_reduced
from .search import groups_from_pairs, near_pairs, to_codes
from .verify import Views, confirm, confirm_square, square_views_of, views_of

__all__ = [
    "DEFAULT_MAX_DISTANCE",
    "WIDE_DISTANCE",
    "Edge",
    "Confirmer",
    "candidates",
    "components",
    "confirmed_edges",
    "groups",
    "keep_order",
]

DEFAULT_MAX_DISTANCE = 10
# The second, tolerant source: pHash *and* dHash both within this many bits. On
# bench/nearset.py it adds 35k pairs to 150k (23 s of checks) and confirms 401 of the 1,247
# same-source pairs that neither hash alone finds within 10 bits, against 4 false accepts.
WIDE_DISTANCE = 14
# Square thumbnails this much smaller (by area) than another image may be a chip of it.
SQUARE_AREA_RATIO = 0.8

# Thresholds measured on bench/nearset.py (sneakers41 originals, their transformed copies
# and every other candidate pair): see README and bench/dedup.py.
SIDE = 128  # the long side both images are compared at
MIN_HISTOGRAM_OVERLAP = 0.3  # foreground colour histograms: a cheap first rejection
MAX_DESCRIPTOR_DISTANCE = 48  # ORB: bits of 256
MIN_INLIERS = 15
# Inliers per keypoint of the sparser image: different models in the same pose share the
# outline (~10% of keypoints fit); a copy keeps over a quarter of them. 0.3 rather than
# 0.25 (bench/nearmiss.py, chosen on the tune half, held half): false accepts among
# candidate pairs 76 -> 24 for a recall of confirmed candidates 0.973 -> 0.961.
MIN_INLIER_SHARE = 0.3
# Pairs of the tolerant source are more often different pictures: a stricter share.
# Chosen on the tune half (removes all 4 false accepts there), held half: 203 of 218
# same-source wide pairs still confirmed.
MIN_WIDE_INLIER_SHARE = 0.34
MAX_SCALE = 1.25  # a 10% crop seen at the same long side is 1.11x; search chips reframe more
MAX_ROTATION = 8.0  # degrees
BACKGROUND_DIFF = 30  # a pixel this far from the border's median colour is foreground
COLOUR_TOLERANCE = 40
MIN_FOREGROUND_AGREEMENT = 0.7
# Fewer keypoints than this (a smooth, textureless picture) and local features say
# nothing; such a pair is judged by the aligned thumbnails of `verify` instead.
MIN_KEYPOINTS = 50

_ORB = None


def _orb():
    global _ORB
    if _ORB is None:
        # Small patches: product photos here are ~140 px, the default 31 px patch would
        # leave only the middle of the picture for keypoints.
        # cv2's type stubs do not declare ORB_create, which cv2 has.
        _ORB = cv2.ORB_create(  # type: ignore[attr-defined]
            nfeatures=200, edgeThreshold=10, patchSize=15, fastThreshold=8
        )
    return _ORB


@dataclass(frozen=True)
class Edge:
    a: int
    b: int
    distance: int
    method: str  # pixels, phash, dhash, phash+dhash or square-crop


@dataclass(frozen=True)
class Features:
    """What confirmation needs of one image, computed once."""

    rgb: np.ndarray  # (h, w, 3) uint8, long side SIDE
    points: np.ndarray  # (n, 2) float32 keypoint positions
    descriptors: np.ndarray | None
    background: np.ndarray  # (3,) median border colour
    histogram: np.ndarray  # (64,) foreground colour histogram, sums to 1
    views: Views  # aligned thumbnails, for textureless pictures


def features_of(img: Image.Image) -> Features:
    rgb_img = img.convert("RGB")
    f = SIDE / max(rgb_img.size)
    size = (max(8, round(rgb_img.width * f)), max(8, round(rgb_img.height * f)))
    rgb = np.asarray(rgb_img.resize(size, Image.Resampling.BILINEAR))
    keypoints, descriptors = _orb().detectAndCompute(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), None)
    points = np.array([k.pt for k in keypoints], dtype=np.float32).reshape(-1, 2)
    border = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]]).astype(np.float32)
    background = np.median(border, axis=0)
    fg = np.abs(rgb.astype(np.float32) - background).max(axis=2) > BACKGROUND_DIFF
    q = (rgb[fg] // 64).astype(np.int64)
    hist = np.bincount(q[:, 0] * 16 + q[:, 1] * 4 + q[:, 2], minlength=64).astype(np.float32)
    return Features(
        rgb, points, descriptors, background, hist / max(1.0, float(hist.sum())), views_of(rgb_img)
    )


@dataclass(frozen=True)
class Verdict:
    same: bool
    inliers: int = 0
    agreement: float = 0.0
    reason: str = ""


@dataclass(frozen=True)
class Measure:
    """The raw figures `verify` judges, kept apart so bench/nearmiss.py can tune on them."""

    overlap: float  # foreground colour histogram intersection
    keypoints: int  # of the sparser image
    matches: int = 0
    inliers: int = 0
    scale: float = 1.0
    rotation: float = 0.0
    agreement: float = 0.0
    textureless: bool | None = None  # judged by thumbnails: their verdict


def measure(a: Features, b: Features, *, full: bool = False) -> Measure:
    """Match `b` onto `a`; stops at the first figure that rejects unless `full`."""
    overlap = float(np.minimum(a.histogram, b.histogram).sum())
    keypoints = min(len(a.points), len(b.points))
    if overlap < MIN_HISTOGRAM_OVERLAP and not full:
        return Measure(overlap, keypoints)
    if keypoints < MIN_KEYPOINTS:
        return Measure(overlap, keypoints, textureless=confirm(a.views, b.views).same)
    matcher = cv2.BFMatcher(cv2.NORM_HAMMING, crossCheck=True)
    # ORB gives descriptors with its keypoints: both have MIN_KEYPOINTS of them here.
    assert a.descriptors is not None and b.descriptors is not None
    matches = [
        m
        for m in matcher.match(b.descriptors, a.descriptors)
        if m.distance <= MAX_DESCRIPTOR_DISTANCE
    ]
    if len(matches) < 3 or (len(matches) < MIN_INLIERS and not full):
        return Measure(overlap, keypoints, len(matches))
    src = b.points[[m.queryIdx for m in matches]]
    dst = a.points[[m.trainIdx for m in matches]]
    M, inliers = cv2.estimateAffinePartial2D(
        src, dst, method=cv2.RANSAC, ransacReprojThreshold=2.5, maxIters=300, refineIters=0
    )
    count = int(inliers.sum()) if inliers is not None else 0
    if M is None:
        return Measure(overlap, keypoints, len(matches), count)
    scale = float(np.hypot(M[0, 0], M[1, 0]))
    rotation = abs(float(np.degrees(np.arctan2(M[1, 0], M[0, 0]))))
    # Even `full` skips the warp below 8 inliers: no threshold worth trying accepts those.
    if (
        count < 8
        or not full
        and (
            count < max(MIN_INLIERS, MIN_INLIER_SHARE * keypoints)
            or not _plausible(scale, rotation)
        )
    ):
        return Measure(overlap, keypoints, len(matches), count, scale, rotation)
    return Measure(
        overlap, keypoints, len(matches), count, scale, rotation, _foreground_agreement(a, b, M)
    )


def _plausible(scale: float, rotation: float) -> bool:
    return 1 / MAX_SCALE <= scale <= MAX_SCALE and rotation <= MAX_ROTATION


def judge(m: Measure, min_share: float = MIN_INLIER_SHARE) -> Verdict:
    """The thresholds, applied in the order `measure` computes the figures."""
    if m.overlap < MIN_HISTOGRAM_OVERLAP:
        return Verdict(False, reason="colours")
    if m.textureless is not None:
        return Verdict(m.textureless, reason="textureless: thumbnails")
    if m.matches < MIN_INLIERS:
        return Verdict(False, reason="few matches")
    if m.inliers < max(MIN_INLIERS, min_share * m.keypoints):
        return Verdict(False, m.inliers, reason="few inliers")
    if not _plausible(m.scale, m.rotation):
        return Verdict(False, m.inliers, reason="transform")
    same = m.agreement >= MIN_FOREGROUND_AGREEMENT
    return Verdict(same, m.inliers, m.agreement, "" if same else "pixels")


def verify(a: Features, b: Features, min_share: float = MIN_INLIER_SHARE) -> Verdict:
    """Are `a` and `b` the same picture? Structure first, then foreground colour."""
    return judge(measure(a, b), min_share)


def _foreground_agreement(a: Features, b: Features, M: np.ndarray) -> float:
    """Share of foreground pixels whose colours agree once `b` is warped onto `a`.

    One gain and offset (fitted on grey) absorb a brightness/contrast change; a different
    colourway in the same pose disagrees on most of the shoe.
    """
    h, w = a.rgb.shape[:2]
    # A light blur of both: resampling and JPEG blocks move sharp edges by a pixel.
    warped = cv2.GaussianBlur(
        cv2.warpAffine(b.rgb, M, (w, h), flags=cv2.INTER_LINEAR), (5, 5), 0
    ).astype(np.float32)
    valid = (
        cv2.warpAffine(np.ones(b.rgb.shape[:2], np.uint8), M, (w, h), flags=cv2.INTER_NEAREST) > 0
    )
    A = cv2.GaussianBlur(a.rgb, (5, 5), 0).astype(np.float32)
    fg = valid & (
        (np.abs(A - a.background).max(axis=2) > BACKGROUND_DIFF)
        | (np.abs(warped - a.background).max(axis=2) > BACKGROUND_DIFF)
    )
    if fg.sum() < 50:
        return 0.0
    fa, fb = A[fg], warped[fg]
    ga, gb = fa.mean(axis=1), fb.mean(axis=1)
    gain = float(np.clip(np.cov(ga, gb)[0, 1] / max(1e-3, float(gb.var())), 0.7, 1.4))
    offset = float(ga.mean() - gain * gb.mean())
    return float((np.abs(fa - (fb * gain + offset)).max(axis=1) < COLOUR_TOLERANCE).mean())


class Confirmer:
    """Features decoded once per image, only for images that some candidate needs.

    A file that cannot be read (deleted from the store by hand) confirms nothing; its id
    is kept in `unreadable` rather than stopping the whole run.
    """

    def __init__(self, cat: Catalog, rows: dict[int, dict]):
        self.cat, self.rows = cat, rows
        self._features: dict[int, Features | None] = {}
        self._squares: dict[tuple[int, bool], Views | None] = {}
        self.unreadable: set[int] = set()

    def _open(self, image_id: int, make):
        try:
            with open_reduced(image_file(self.cat, self.rows[image_id]), (SIDE, SIDE)) as img:
                return make(img)
        except (OSError, ValueError):
            self.unreadable.add(image_id)
            return None

    def features(self, image_id: int) -> Features | None:
        if image_id not in self._features:
            self._features[image_id] = self._open(image_id, features_of)
        return self._features[image_id]

    def views(self, image_id: int, squares: bool) -> Views | None:
        key = (image_id, squares)
        if key not in self._squares:
            self._squares[key] = self._open(image_id, square_views_of if squares else views_of)
        return self._squares[key]

    def confirm(self, edge: Edge) -> bool:
        if edge.method == "pixels":
            return True
        if edge.method == "square-crop":
            square, windows = self.views(edge.a, False), self.views(edge.b, True)
            return (
                square is not None and windows is not None and confirm_square(square, windows).same
            )
        fa, fb = self.features(edge.a), self.features(edge.b)
        share = MIN_WIDE_INLIER_SHARE if edge.method == "phash+dhash" else MIN_INLIER_SHARE
        return fa is not None and fb is not None and verify(fa, fb, share).same


def candidates(
    rows: dict[int, dict],
    max_distance: int,
    *,
    squares: bool = True,
    wide: int | None = WIDE_DISTANCE,
) -> Iterator[Edge]:
    """Unconfirmed candidate pairs: equal pixels first, then hash neighbours, then chips.

    pHash moves by up to 16 bits under a 5% crop of a smooth picture while dHash barely
    moves; a resized or re-encoded copy is close in both. Crops and rotations that move
    both hashes past `max_distance` are still within `wide` bits in *both*: those pairs
    come last ("phash+dhash"), judged by the same structural check. A square-crop edge has the
    chip as `a` and the larger image as `b`.
    """
    ids = list(rows)
    by_pixels: dict[str, list[int]] = defaultdict(list)
    for image_id in ids:
        by_pixels[rows[image_id]["pixel_hash"]].append(image_id)
    same_pixels = {frozenset((g[0], o)) for g in by_pixels.values() for o in g[1:]}
    for pair in same_pixels:
        a, b = sorted(pair)
        yield Edge(a, b, 0, "pixels")
    codes, dcodes = to_codes(rows[i]["phash"] for i in ids), to_codes(rows[i]["dhash"] for i in ids)
    seen: set[tuple[int, int]] = set()
    for kind, hashes in (("phash", codes), ("dhash", dcodes)):
        ii, jj, _ = near_pairs(hashes, max_distance)
        yield from _new_edges(ids, codes, ii, jj, kind, seen, same_pixels)
    if wide is not None and wide > max_distance:
        ii, jj, _ = near_pairs(codes, wide)
        both = np.bitwise_count(dcodes[ii] ^ dcodes[jj]) <= wide
        yield from _new_edges(ids, codes, ii[both], jj[both], "phash+dhash", seen, same_pixels)
    if squares:
        yield from _square_candidates(rows, codes, ids)


def _new_edges(ids, codes, ii, jj, kind, seen, same_pixels) -> Iterator[Edge]:
    for i, j in zip(ii.tolist(), jj.tolist(), strict=True):
        if (i, j) in seen or frozenset((ids[i], ids[j])) in same_pixels:
            continue
        seen.add((i, j))
        yield Edge(ids[i], ids[j], int(np.bitwise_count(codes[i] ^ codes[j])), kind)


def _square_candidates(rows: dict[int, dict], codes: np.ndarray, ids: list[int]) -> Iterator[Edge]:
    # Within a class only: a chip of another class's result is found as a conflict by the
    # hash pass when it is close enough; an all-pairs window search would not scale.
    index = {image_id: k for k, image_id in enumerate(ids)}
    by_class: dict[str, list[int]] = defaultdict(list)
    for image_id, row in rows.items():
        by_class[row["class"]].append(image_id)
    for square_id, row in rows.items():
        if row["width"] != row["height"]:
            continue
        area = row["width"] * row["height"]
        for other_id in by_class[row["class"]]:
            other = rows[other_id]
            if (
                other_id != square_id
                and other["width"] * other["height"] * SQUARE_AREA_RATIO >= area
            ):
                d = int(np.bitwise_count(codes[index[square_id]] ^ codes[index[other_id]]))
                yield Edge(square_id, other_id, d, "square-crop")


def confirmed_edges(
    cat: Catalog,
    rows: dict[int, dict],
    max_distance: int = DEFAULT_MAX_DISTANCE,
    *,
    squares: bool = True,
) -> list[Edge]:
    """Every candidate pair that confirmation accepts: the pairs leaks and split need."""
    confirmer = Confirmer(cat, rows)
    return [e for e in candidates(rows, max_distance, squares=squares) if confirmer.confirm(e)]


def keep_order(rows: dict[int, dict], image_id: int) -> tuple[int, int]:
    """Sort key of the keep rule: largest area first, then the lowest id."""
    return (-rows[image_id]["width"] * rows[image_id]["height"], image_id)


def groups(rows: dict[int, dict], edges: list[Edge]) -> list[list[int]]:
    """Groups without chaining, each [kept, members...]: every member confirmed against the kept.

    Images are visited in keep order; one not yet placed keeps a group and takes its
    confirmed neighbours that are not placed yet. A~B and B~C with A and C unconfirmed
    gives [A, B] and leaves C out (or to a group of its own).
    """
    neighbours: dict[int, set[int]] = defaultdict(set)
    for e in edges:
        neighbours[e.a].add(e.b)
        neighbours[e.b].add(e.a)
    placed: set[int] = set()
    out = []
    for keep in sorted(neighbours, key=lambda i: keep_order(rows, i)):
        if keep in placed:
            continue
        members = sorted(m for m in neighbours[keep] if m not in placed)
        if members:
            placed.update([keep, *members])
            out.append([keep, *members])
    return sorted(out, key=lambda g: g[0])


def components(ids: list[int], edges: list[Edge]) -> list[list[int]]:
    """Connected components of confirmed pairs (split keeps them on one side), each sorted.

    Unlike `groups` these do chain: a split must keep B with A *and* with C, or the pair
    (B, C) would leak; nothing is deleted on the strength of a component.
    """
    pos = {image_id: k for k, image_id in enumerate(ids)}
    kept = [e for e in edges if e.a in pos and e.b in pos]
    i = np.array([pos[e.a] for e in kept], dtype=np.int64)
    j = np.array([pos[e.b] for e in kept], dtype=np.int64)
    return [sorted(ids[k] for k in g.tolist()) for g in groups_from_pairs(len(ids), i, j)]
