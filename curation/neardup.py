"""Near duplicates, one way for dedup, split and leaks: candidates, confirmation, groups.

1. Candidates come from the stored hashes: equal decoded pixels, pHash or dHash within
   `max_distance` bits (the numpy XOR + popcount / multi-index search in `search`), both
   within `WIDE_DISTANCE` bits (crops and rotations that move each hash further), the
   hashes of a few 94% windows of each picture against the whole of every other (a 3-10%
   crop moves both hashes of the whole picture far, but lands within a few bits of one
   window of its original), and square thumbnails that repeat a window of a larger result
   of the same class.
2. A candidate is confirmed by structure, not by colour averages (which a colour-jittered
   copy changes and a different shoe on the same white background can match): ORB keypoints
   of both images (OpenCV) are matched and a similarity transform (scale, rotation,
   shift) is fitted with RANSAC and refined on its inliers. A copy fits under a near-
   identity transform (a 3-10% crop, a small rotation, a resize); then the second image is
   warped onto the first and the *foreground* pixels (those that differ from the
   background colour) must agree in colour after one brightness/contrast fit, so the same
   model in another colourway, photographed in the same pose, stays apart; where both
   are foreground, few pixels may change hue (`MAX_CHROMA_CHANGE`): a shop's colourways
   made from one template photo differ only on the heel or the logo. A pair whose
   inliers are under `STRONG_SHARE` of the keypoints must also have the same *edges*
   after alignment (grey gradient correlation >= `MIN_GRADIENT_CORRELATION`): photos from
   one shoot (the same legs, floor and room, another shoe) fit a third of their keypoints
   on the scene, but their edges differ where the shoe is. Square chips are confirmed by
   the aligned window correlation in `verify`.
3. Groups never chain: images are taken in keep order (largest area, then lowest id); an
   image not yet placed keeps a group, and joins it only those still unplaced images that
   are confirmed against *it*.

What needs decoding (a 128 px colour copy, its keypoints, a foreground histogram and the
window hashes) is computed once per image.

Example:
    >>> edges = confirmed_edges(cat, rows, 10)          # doctest: +SKIP
    >>> groups(rows, edges)                              # doctest: +SKIP
    [[12, 40, 41]]
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
from PIL import Image
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import reverse_cuthill_mckee

from catalog import Catalog, image_file, near_verdicts, record_near_verdicts

from .hashing import open_reduced
from .search import groups_from_pairs, near_pairs, to_codes
from .verify import Views, confirm, confirm_square, square_views_of, views_of
from .windows import SIDE, decode, small_copy

__all__ = [
    "DEFAULT_MAX_DISTANCE",
    "WIDE_DISTANCE",
    "STRONG_SHARE",
    "Edge",
    "Confirmer",
    "candidates",
    "components",
    "confirmed_edges",
    "groups",
    "keep_order",
    "stored_windows",
]

DEFAULT_MAX_DISTANCE = 10
# The second, tolerant source: pHash *and* dHash both within this many bits. It confirms
# many copies that neither hash alone finds within DEFAULT_MAX_DISTANCE, for very few false
# accepts; 16 rather than 14 adds rotated copies mostly, for many more pairs to check. The
# figures: bench/RESULTS.md, "Near-duplicate thresholds in curation/neardup.py".
WIDE_DISTANCE = 16
# Square thumbnails this much smaller (by area) than another image may be a chip of it.
SQUARE_AREA_RATIO = 0.8

# The thresholds below were chosen on bench/nearset.py (sneakers41 originals, their
# transformed copies and every other candidate pair): on its tune half with
# bench/nearmiss.py, then checked on its held half. The figures behind each choice are in
# bench/RESULTS.md, "Near-duplicate thresholds in curation/neardup.py".
# Foreground colour histograms, a cheap first rejection; another colourway is rejected by
# the aligned colours below. Soft bins, because colour jitter (brightness, contrast,
# saturation 0.8-1.2) pushed hard-binned histograms of a copy almost apart; with soft bins
# the jitter copies stay above MIN_HISTOGRAM_OVERLAP. (Scaling colours by the
# background's brightness did better on jitter but failed rotated copies, whose white
# corners move the border's median.)
MIN_HISTOGRAM_OVERLAP = 0.2
HISTOGRAM_BINS = 4
MAX_DESCRIPTOR_DISTANCE = 48  # ORB: bits of 256
MIN_INLIERS = 15
# Inliers per keypoint of the sparser image: different models in the same pose share the
# outline, a small share of their keypoints. At STRONG_SHARE or more the fit alone decides;
# from MIN_INLIER_SHARE up, the aligned edges must also agree. Photos of one shoot with
# another shoe fit a good part of their keypoints on the legs and room, so STRONG_SHARE
# sits above them; a watermark over the shoe takes keypoints and leaves a copy below
# STRONG_SHARE, which the edge check lets through.
MIN_INLIER_SHARE = 0.12
STRONG_SHARE = 0.4
# Correlation of the grey gradients (Sobel on a 1 px blur) of both pictures once aligned,
# over their overlap less the cells only one of them has edges in (see
# `_Aligned.gradient_correlation`): leaving those cells out both loses fewer copies and
# accepts fewer different pairs. MIN_GRADIENT_CORRELATION keeps the recall of 0.92 and
# drops most of the pairs 0.92 groups wrongly, among them a group of two models.
MIN_GRADIENT_CORRELATION = 0.94
GRADIENT_CELL = 16
GRADIENT_IMBALANCE = 6.0
MAX_SCALE = 1.25  # a 10% crop seen at the same long side is 1.11x; search chips reframe more
MAX_ROTATION = 8.0  # degrees
BACKGROUND_DIFF = 30  # a pixel this far from the border's median colour is foreground
COLOUR_TOLERANCE = 40
MIN_FOREGROUND_AGREEMENT = 0.7
# Shops make colourways from one template photo (a blue and a green New Balance 550, a navy
# and a black Gazelle): the same edges, nearly the same grey levels, another *hue* on part
# of the shoe, which the grey-fitted agreement above lets through. Where both pictures are
# foreground, a pixel changed colour when its Lab hue turns by more than MAX_HUE_TURN
# degrees (both at a chroma of CHROMATIC or more), or when it is coloured (chroma >=
# COLOURED) in one picture and grey (< CHROMATIC) in the other. Hue rather than a*b*
# distance: colour jitter (brightness, contrast and saturation 0.8-1.2 at once) scales a
# chroma by up to half, which a distance takes for a colourway, but hardly turns it. More
# than MAX_CHROMA_CHANGE of such pixels is another colourway: the line sits between the
# accepted copies, below it, and the different pairs that passed every other check, above it.
CHROMATIC = 8.0
MAX_HUE_TURN = 60.0
COLOURED = 25.0
MAX_CHROMA_CHANGE = 0.065
# Fewer keypoints than this (a smooth, textureless picture) and local features say
# nothing; such a pair is judged by the aligned thumbnails of `verify` instead.
MIN_KEYPOINTS = 50
# Windows whose hashes are compared with every other picture's whole: the four corners and
# the centre (`windows.window_hashes`). Within WINDOW_PHASH bits of pHash and WINDOW_DHASH of
# dHash (the same window): these find most of the original/crop pairs that no other source
# finds; 8 and 10 bits found fewer of them, and these no more false ones.
WINDOW_PHASH = 10
WINDOW_DHASH = 12
# A square picture is a candidate chip of a larger one of its class when its pHash is within
# SQUARE_PHASH bits of one of the other's square windows (`windows.square_hashes`): real
# chips sit on their result's window, while nearly every other square/larger pair of a
# class is further apart than this.
SQUARE_PHASH = 10
# The version of the structural check whose verdicts the catalog keeps: change it with any
# threshold or step of `verify`/`confirm_square`, so stored verdicts are judged again.
CHECK_VERSION = "2026-12-02"
# Decoded pictures kept while candidates are confirmed (sorted, so neighbours reuse them):
# memory stays bounded whatever the size of the catalog.
FEATURES_CACHED = 2048
SQUARE_VIEWS_CACHED = 256
# Candidate pairs are judged in a process pool from this many on, in PARTS_PER_WORKER long
# stretches of `local_order` per worker: a short stretch decodes its pictures again.
PARALLEL_MIN = 256
PARTS_PER_WORKER = 2

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
    method: str  # pixels, phash, dhash, phash+dhash, window or square-crop


@dataclass(frozen=True)
class Features:
    """What confirmation needs of one image, computed once."""

    rgb: np.ndarray  # (h, w, 3) uint8, long side SIDE
    points: np.ndarray  # (n, 2) float32 keypoint positions
    descriptors: np.ndarray | None
    background: np.ndarray  # (3,) median border colour
    histogram: np.ndarray  # (HISTOGRAM_BINS**3,) foreground colour histogram, sums to 1
    views: Views  # aligned thumbnails, for textureless pictures


def features_of(img: Image.Image) -> Features:
    rgb_img = img.convert("RGB")
    small = small_copy(rgb_img)
    rgb = np.asarray(small)
    keypoints, descriptors = _orb().detectAndCompute(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), None)
    points = np.array([k.pt for k in keypoints], dtype=np.float32).reshape(-1, 2)
    border = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]]).astype(np.float32)
    background = np.median(border, axis=0)
    return Features(
        rgb,
        points,
        descriptors,
        background,
        _colour_histogram(rgb, background),
        views_of(rgb_img),
    )


def _colour_histogram(rgb: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Soft-binned histogram of the foreground's colours.

    Soft bins (each pixel shared between the nearest bin centres) keep a white shoe that
    sits on a bin edge from jumping to the next bin when the picture is made a little
    darker: with hard bins colour-jittered copies of one picture barely overlapped.
    """
    px = rgb.astype(np.float32)
    px = px[np.abs(px - background).max(axis=2) > BACKGROUND_DIFF]
    bins = HISTOGRAM_BINS
    hist = np.zeros(bins**3, np.float64)
    if len(px) == 0:
        return hist
    x = np.clip(px / 256 * bins - 0.5, 0, bins - 1 - 1e-6)
    lo = np.floor(x).astype(np.int64)
    w = x - lo
    for corner in range(8):
        up = [(corner >> k) & 1 for k in range(3)]
        idx = sum((lo[:, k] + up[k]) * bins ** (2 - k) for k in range(3))
        weight = np.prod([w[:, k] if up[k] else 1 - w[:, k] for k in range(3)], axis=0)
        hist += np.bincount(idx, weight, minlength=bins**3)
    return hist / hist.sum()


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
    gradient: float = 0.0  # aligned grey gradient correlation (computed when it can decide)
    chroma: float = 0.0  # share of the shared foreground whose hue changed (colourways)


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
    # Refined on the inliers: the bare RANSAC model of a JPEG copy could be a few percent
    # off in scale, enough to fail the colour check on the shoe's edges.
    M, inliers = cv2.estimateAffinePartial2D(
        src, dst, method=cv2.RANSAC, ransacReprojThreshold=2.5, maxIters=300, refineIters=10
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
    aligned = _Aligned(a, b, M)
    agreement = aligned.foreground_agreement()
    gradient = chroma = 0.0
    if full or agreement >= MIN_FOREGROUND_AGREEMENT:
        chroma = aligned.chroma_change()
    if full or (
        count < STRONG_SHARE * keypoints
        and agreement >= MIN_FOREGROUND_AGREEMENT
        and chroma <= MAX_CHROMA_CHANGE
    ):
        gradient = aligned.gradient_correlation()
    return Measure(
        overlap, keypoints, len(matches), count, scale, rotation, agreement, None, gradient, chroma
    )


def _plausible(scale: float, rotation: float) -> bool:
    return 1 / MAX_SCALE <= scale <= MAX_SCALE and rotation <= MAX_ROTATION


def judge(m: Measure, strong_share: float = STRONG_SHARE) -> Verdict:
    """The thresholds, applied in the order `measure` computes the figures."""
    if m.overlap < MIN_HISTOGRAM_OVERLAP:
        return Verdict(False, reason="colours")
    if m.textureless is not None:
        return Verdict(m.textureless, reason="textureless: thumbnails")
    if m.matches < MIN_INLIERS:
        return Verdict(False, reason="few matches")
    if m.inliers < max(MIN_INLIERS, MIN_INLIER_SHARE * m.keypoints):
        return Verdict(False, m.inliers, reason="few inliers")
    if not _plausible(m.scale, m.rotation):
        return Verdict(False, m.inliers, reason="transform")
    if m.agreement < MIN_FOREGROUND_AGREEMENT:
        return Verdict(False, m.inliers, m.agreement, "pixels")
    if m.chroma > MAX_CHROMA_CHANGE:
        return Verdict(False, m.inliers, m.agreement, "colourway")
    if m.inliers < strong_share * m.keypoints and m.gradient < MIN_GRADIENT_CORRELATION:
        return Verdict(False, m.inliers, m.agreement, "edges")
    return Verdict(True, m.inliers, m.agreement)


def verify(a: Features, b: Features, strong_share: float = STRONG_SHARE) -> Verdict:
    """Are `a` and `b` the same picture? Structure first, then foreground colour and edges."""
    return judge(measure(a, b), strong_share)


class _Aligned:
    """`b` warped onto `a` by the fitted transform, and what is compared there."""

    def __init__(self, a: Features, b: Features, M: np.ndarray):
        h, w = a.rgb.shape[:2]
        self.a, self.h, self.w = a, h, w
        self.warped = cv2.warpAffine(b.rgb, M, (w, h), flags=cv2.INTER_LINEAR)
        self.valid = (
            cv2.warpAffine(np.ones(b.rgb.shape[:2], np.uint8), M, (w, h), flags=cv2.INTER_NEAREST)
            > 0
        )
        # A light blur of both: resampling and JPEG blocks move sharp edges by a pixel.
        self.blurred = [cv2.GaussianBlur(x, (5, 5), 0) for x in (a.rgb, self.warped)]
        self.foreground = [
            np.abs(x.astype(np.float32) - a.background).max(axis=2) > BACKGROUND_DIFF
            for x in self.blurred
        ]

    def foreground_agreement(self) -> float:
        """Share of foreground pixels whose colours agree.

        One gain and offset (fitted on grey) absorb a brightness/contrast change; a
        different colourway in the same pose disagrees on most of the shoe.
        """
        A, warped = (x.astype(np.float32) for x in self.blurred)
        fg = self.valid & (self.foreground[0] | self.foreground[1])
        if fg.sum() < 50:
            return 0.0
        # The gain and offset are fitted on the whole overlap, background included: a
        # brightness/contrast change of the picture moves both; another colourway moves
        # only the shoe, and a fit on the shoe alone would absorb it.
        ga, gb = A[self.valid].mean(axis=1), warped[self.valid].mean(axis=1)
        gain = float(np.clip(np.cov(ga, gb)[0, 1] / max(1e-3, float(gb.var())), 0.7, 1.4))
        offset = float(ga.mean() - gain * gb.mean())
        fa, fb = A[fg], warped[fg]
        return float((np.abs(fa - (fb * gain + offset)).max(axis=1) < COLOUR_TOLERANCE).mean())

    def chroma_change(self) -> float:
        """Share of the foreground both pictures have whose hue changed (another colourway).

        Only where both are foreground: text laid over the background of a copy is left out.
        """
        both = self.valid & self.foreground[0] & self.foreground[1]
        if both.sum() < 50:
            return 0.0
        ab = [
            cv2.cvtColor(x, cv2.COLOR_RGB2LAB)[both][:, 1:].astype(np.float32) - 128
            for x in self.blurred
        ]
        chroma = [np.hypot(x[:, 0], x[:, 1]) for x in ab]
        hue = [np.degrees(np.arctan2(x[:, 1], x[:, 0])) for x in ab]
        turn = np.abs((hue[0] - hue[1] + 180) % 360 - 180)
        low, high = np.minimum(*chroma), np.maximum(*chroma)
        changed = ((low >= CHROMATIC) & (turn > MAX_HUE_TURN)) | (
            (high >= COLOURED) & (low < CHROMATIC)
        )
        return float(changed.mean())

    def gradient_correlation(self) -> float:
        """Correlation of both pictures' grey gradients over the overlap (less its rim).

        Summed over GRADIENT_CELL px cells, leaving out the cells where one picture has
        more than GRADIENT_IMBALANCE times the other's gradient energy: text laid over a
        smooth part of a copy, which the other simply lacks. Another shoe of the same shoot
        has edges in both pictures there, just not the same ones, and stays in.
        """
        valid = cv2.erode(self.valid.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(np.float32)
        gx, gy = [], []
        for rgb in (self.a.rgb, self.warped):
            grey = cv2.GaussianBlur(
                cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32), (0, 0), 1.0
            )
            gx.append(cv2.Sobel(grey, cv2.CV_32F, 1, 0))
            gy.append(cv2.Sobel(grey, cv2.CV_32F, 0, 1))
        dot = _cell_sums((gx[0] * gx[1] + gy[0] * gy[1]) * valid)
        ea = _cell_sums((gx[0] ** 2 + gy[0] ** 2) * valid)
        eb = _cell_sums((gx[1] ** 2 + gy[1] ** 2) * valid)
        keep = (ea <= GRADIENT_IMBALANCE * eb) & (eb <= GRADIENT_IMBALANCE * ea)
        if not keep.any():
            return 0.0
        return float(dot[keep].sum() / (np.sqrt(ea[keep].sum() * eb[keep].sum()) + 1e-6))


def _cell_sums(x: np.ndarray) -> np.ndarray:
    """Sums over GRADIENT_CELL x GRADIENT_CELL cells (the ragged right and bottom dropped)."""
    c = GRADIENT_CELL
    h, w = (x.shape[0] // c) * c, (x.shape[1] // c) * c
    return x[:h, :w].reshape(h // c, c, w // c, c).sum(axis=(1, 3)).ravel()


class Confirmer:
    """Decodes what confirmation needs, keeping the most recent pictures only.

    Candidates are confirmed in `local_order`, so a picture is reused while its pairs are
    checked; the caches are bounded, so memory does not grow with the catalog. A file that
    cannot be read (deleted from the store by hand) confirms nothing; its id is kept in
    `unreadable` rather than stopping the whole run.
    """

    def __init__(self, files: Mapping[int, Path]):
        self.files = files  # image id -> its file in the store
        self.unreadable: set[int] = set()
        self.features = lru_cache(maxsize=FEATURES_CACHED)(self._features)
        self.views = lru_cache(maxsize=SQUARE_VIEWS_CACHED)(self._views)

    @classmethod
    def of_rows(cls, cat: Catalog, rows: Mapping[int, dict]) -> Confirmer:
        return cls(_StoreFiles(cat, rows))

    def _open(self, image_id: int, make):
        try:
            with open_reduced(self.files[image_id], (SIDE, SIDE)) as img:
                return make(img)
        except (OSError, ValueError):
            self.unreadable.add(image_id)
            return None

    def _features(self, image_id: int) -> Features | None:
        return self._open(image_id, features_of)

    def _views(self, image_id: int, squares: bool) -> Views | None:
        return self._open(image_id, square_views_of if squares else views_of)

    def confirm(self, edge: Edge) -> bool:
        if edge.method == "pixels":
            return True
        if edge.method == "square-crop":
            square, windows = self.views(edge.a, False), self.views(edge.b, True)
            return (
                square is not None and windows is not None and confirm_square(square, windows).same
            )
        fa, fb = self.features(edge.a), self.features(edge.b)
        return fa is not None and fb is not None and verify(fa, fb).same


def stored_windows(rows: Mapping[int, dict]) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray]]:
    """The window and square-window hashes stored with each row (see `windows`)."""
    windows, squares = {}, {}
    for image_id, row in rows.items():
        if row.get("windows"):
            windows[image_id], squares[image_id] = decode(row["windows"])
    return windows, squares


def candidates(
    rows: dict[int, dict],
    max_distance: int,
    *,
    squares: Mapping[int, np.ndarray] | None = None,
    wide: int | None = WIDE_DISTANCE,
    windows: Mapping[int, np.ndarray] | None = None,
) -> Iterator[Edge]:
    """Unconfirmed candidate pairs: equal pixels first, then hash neighbours, then chips.

    pHash moves far under a small crop of a smooth picture while dHash barely moves; a
    resized or re-encoded copy is close in both. Crops and rotations that move
    both hashes past `max_distance` are still within `wide` bits in *both*: those pairs
    come next ("phash+dhash"). With `windows` (image id -> `window_hashes`), a picture whose
    whole is close to a window of another comes then ("window"): most 3-10% crops that the
    others miss. With `squares` (image id -> `square_hashes`), a square picture near a
    square window of a larger one of its class comes last ("square-crop"). All are judged
    by the same structural check. A square-crop edge has the chip as `a` and the larger
    image as `b`.
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
    if windows:
        ii, jj = _window_pairs(ids, windows)
        yield from _new_edges(ids, codes, ii, jj, "window", seen, same_pixels)
    if squares:
        yield from _square_candidates(rows, codes, ids, squares)


def _window_pairs(
    ids: list[int], windows: Mapping[int, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs (i < j) where one picture's whole is near a window of the other.

    All codes go into one multi-index search (it scales as the hash search does); pairs of
    two windows, or of one picture with itself, are dropped after.
    """
    have = [k for k, image_id in enumerate(ids) if image_id in windows]
    if len(have) < 2:
        empty = np.zeros(0, np.int64)
        return empty, empty
    stack = np.stack([windows[ids[k]] for k in have])  # (n, per, 2)
    per = stack.shape[1]
    ph, dh = stack[:, :, 0].reshape(-1), stack[:, :, 1].reshape(-1)
    i, j, _ = near_pairs(ph, WINDOW_PHASH)
    owner_i, owner_j = i // per, j // per
    keep = (
        (owner_i != owner_j)
        & ((i % per == 0) | (j % per == 0))
        & (np.bitwise_count(dh[i] ^ dh[j]) <= WINDOW_DHASH)
    )
    index = np.array(have, np.int64)
    a, b = index[owner_i[keep]], index[owner_j[keep]]
    key = np.unique(np.minimum(a, b) * len(ids) + np.maximum(a, b))
    return key // len(ids), key % len(ids)


def _new_edges(ids, codes, ii, jj, kind, seen, same_pixels) -> Iterator[Edge]:
    for i, j in zip(ii.tolist(), jj.tolist(), strict=True):
        if (i, j) in seen or frozenset((ids[i], ids[j])) in same_pixels:
            continue
        seen.add((i, j))
        yield Edge(ids[i], ids[j], int(np.bitwise_count(codes[i] ^ codes[j])), kind)


def _square_candidates(
    rows: dict[int, dict], codes: np.ndarray, ids: list[int], squares: Mapping[int, np.ndarray]
) -> Iterator[Edge]:
    # Within a class only: a chip of another class's result is found as a conflict by the
    # hash pass when it is close enough. Per class, one picture at a time: its square
    # windows against the pHash of every square picture smaller than it.
    index = {image_id: k for k, image_id in enumerate(ids)}
    by_class: dict[str, list[int]] = defaultdict(list)
    for image_id in ids:
        if image_id in squares:
            by_class[rows[image_id]["class"]].append(image_id)
    for members in by_class.values():
        chips = [i for i in members if rows[i]["width"] == rows[i]["height"]]
        if not chips:
            continue
        chip_codes = codes[[index[i] for i in chips]]
        chip_areas = np.array([rows[i]["width"] * rows[i]["height"] for i in chips])
        for other_id in members:
            other = rows[other_id]
            near = np.bitwise_count(squares[other_id][None, :] ^ chip_codes[:, None]).min(axis=1)
            fits = (near <= SQUARE_PHASH) & (
                other["width"] * other["height"] * SQUARE_AREA_RATIO >= chip_areas
            )
            for k in np.flatnonzero(fits).tolist():
                if chips[k] != other_id:
                    d = int(np.bitwise_count(codes[index[chips[k]]] ^ codes[index[other_id]]))
                    yield Edge(chips[k], other_id, d, "square-crop")


class _StoreFiles(Mapping[int, Path]):
    """Image id -> file, resolved only for the images asked for."""

    def __init__(self, cat: Catalog, rows: Mapping[int, dict]):
        self.cat, self.rows = cat, rows

    def __getitem__(self, image_id: int) -> Path:
        return image_file(self.cat, self.rows[image_id])

    def __iter__(self) -> Iterator[int]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)


def _judge(confirmer: Confirmer, edges: list[Edge]) -> list[bool | None]:
    """Each edge's verdict, None where a file could not be read (that decides nothing)."""
    out: list[bool | None] = []
    for edge in edges:
        same = confirmer.confirm(edge)
        out.append(None if confirmer.unreadable & {edge.a, edge.b} else same)
    return out


def _judge_files(job: tuple[dict[int, Path], list[Edge]]) -> list[bool | None]:
    files, edges = job
    return _judge(Confirmer(files), edges)


def judge_all(cat: Catalog, rows: Mapping[int, dict], edges: list[Edge]) -> list[bool | None]:
    """Verdicts for `edges`, in their order, judged in `local_order` and in a process pool on
    every core when there are enough to pay for it: decoding and matching the two pictures
    is the cost of dedup."""
    order = local_order(edges)
    workers = os.cpu_count() or 1
    if workers == 1 or len(edges) < PARALLEL_MIN:
        verdicts = _judge(Confirmer.of_rows(cat, rows), [edges[k] for k in order])
    else:
        files = _StoreFiles(cat, rows)
        jobs = []
        part = -(-len(order) // (workers * PARTS_PER_WORKER))
        for start in range(0, len(order), part):
            chunk = [edges[k] for k in order[start : start + part]]
            ids = {i for e in chunk for i in (e.a, e.b)}
            jobs.append(({i: files[i] for i in ids}, chunk))
        with ProcessPoolExecutor(max_workers=workers) as pool:
            verdicts = [v for chunk in pool.map(_judge_files, jobs) for v in chunk]
    out: list[bool | None] = [None] * len(edges)
    for k, verdict in zip(order, verdicts, strict=True):
        out[k] = verdict
    return out


def local_order(edges: list[Edge]) -> list[int]:
    """Indices of `edges` in an order where each picture's pairs come close together.

    The pictures are numbered by reverse Cuthill-McKee (scipy), which keeps the two ends of
    every pair close in the numbering, and the pairs are taken by their later end: a
    picture is then needed only for a short stretch, and a bounded cache decodes each
    picture about once even when it pairs with dozens of look-alikes.
    """
    if not edges:
        return []
    ids = sorted({i for e in edges for i in (e.a, e.b)})
    index = {image_id: k for k, image_id in enumerate(ids)}
    a = np.array([index[e.a] for e in edges])
    b = np.array([index[e.b] for e in edges])
    graph = csr_matrix((np.ones(len(edges)), (a, b)), shape=(len(ids), len(ids)))
    rank = np.empty(len(ids), np.int64)
    rank[reverse_cuthill_mckee(graph, symmetric_mode=False)] = np.arange(len(ids))
    late, early = np.maximum(rank[a], rank[b]), np.minimum(rank[a], rank[b])
    return np.lexsort((early, late)).tolist()


def confirmed_edges(
    cat: Catalog,
    rows: dict[int, dict],
    max_distance: int = DEFAULT_MAX_DISTANCE,
    *,
    squares: bool = True,
    remember: bool = True,
) -> list[Edge]:
    """Every candidate pair that confirmation accepts: the pairs dedup, leaks and split need.

    A pair's verdict depends only on the two pictures, so verdicts are stored in the
    catalog (`near_verdicts`) and only pairs never judged are decoded and checked: split
    and leaks after dedup check nothing again. `remember=False` (a dry run) stores none.
    """
    windows, square_windows = stored_windows(rows)
    found = candidates(
        rows, max_distance, squares=square_windows if squares else None, windows=windows
    )
    known = near_verdicts(cat, CHECK_VERSION)
    ordered = sorted(found, key=lambda e: (e.a, e.b))
    todo = [e for e in ordered if (e.a, e.b, e.method) not in known]
    verdicts = dict(zip(todo, judge_all(cat, rows, todo), strict=True))
    if remember and verdicts:
        judged = [(e.a, e.b, e.method, same) for e, same in verdicts.items() if same is not None]
        record_near_verdicts(cat, CHECK_VERSION, judged)
    return [e for e in ordered if known.get((e.a, e.b, e.method)) or verdicts.get(e)]


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
