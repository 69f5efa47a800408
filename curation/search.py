"""Near-duplicate search over 64-bit hashes: all pairs within a Hamming distance.

Two searches sit behind one interface, as imagededup keeps brute force and a BK-tree
behind one API: a vectorised XOR + popcount over all pairs (exact, fast to tens of
thousands) and multi-index hashing for millions (`mih`: Norouzi et al., exact by
pigeonhole: if two hashes differ in at most d bits, one of 4 chunks differs in at most
d // 4).

Example:
    >>> find_groups({1: "ffff000000000000", 2: "ffff000000000001", 3: "0000ffff0000ffff"}, 2)
    [{1, 2}]
"""

from __future__ import annotations

import os
from collections.abc import Hashable, Iterable, Mapping
from concurrent.futures import ProcessPoolExecutor

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from .mih import CHUNK_BITS, mih_pairs

# Brute force compares n^2/2 pairs; above this the index is cheaper.
BRUTE_FORCE_MAX = 50_000
BLOCK = 2048
# Below this many codes one process is quicker than starting a pool.
PARALLEL_MIN = 200_000


def to_codes(hashes: Iterable[str | int]) -> np.ndarray:
    """Hex strings (or ints) as a uint64 array."""
    return np.array([int(h, 16) if isinstance(h, str) else int(h) for h in hashes], dtype=np.uint64)


def near_pairs(
    codes: np.ndarray, max_distance: int, *, method: str = "auto"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All index pairs (i < j) whose codes differ in at most `max_distance` bits.

    Args:
        codes: uint64 hashes.
        max_distance: the largest Hamming distance that counts as near.
        method: "brute", "index" or "auto" (brute force up to BRUTE_FORCE_MAX hashes).

    Returns:
        Arrays i, j, distance, sorted by (i, j).
    """
    codes = np.ascontiguousarray(codes, dtype=np.uint64)
    if method == "auto":
        method = "brute" if len(codes) <= BRUTE_FORCE_MAX else "index"
    finder = _brute_pairs if method == "brute" else _index_pairs
    i, j, d = finder(codes, max_distance)
    order = np.lexsort((j, i))
    return i[order], j[order], d[order]


def _brute_pairs(codes: np.ndarray, max_distance: int):
    found_i, found_j, found_d = [], [], []
    for start in range(0, len(codes), BLOCK):
        block = codes[start : start + BLOCK]
        # Compare the block with itself and everything after it: each pair once.
        dist = np.bitwise_count(block[:, None] ^ codes[None, start:])
        ii, jj = np.nonzero(dist <= max_distance)
        keep = jj > ii
        ii, jj = ii[keep], jj[keep]
        found_i.append(ii + start)
        found_j.append(jj + start)
        found_d.append(dist[ii, jj])
    return _concat(found_i, found_j, found_d)


def _index_pairs(codes: np.ndarray, max_distance: int):
    n_chunks = 64 // CHUNK_BITS
    workers = min(os.cpu_count() or 1, n_chunks)
    if len(codes) < PARALLEL_MIN or workers == 1:
        i, j = mih_pairs(codes, max_distance)
    else:
        # The four chunk tables are independent: split them over the cores.
        parts = [list(range(w, n_chunks, workers)) for w in range(workers)]
        with ProcessPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(_mih_part, [(codes, max_distance, p) for p in parts]))
        i = np.concatenate([r[0] for r in results])
        j = np.concatenate([r[1] for r in results])
    # A pair near in several chunks is found several times.
    key = np.unique(i * len(codes) + j)
    i, j = key // len(codes), key % len(codes)
    return i, j, np.bitwise_count(codes[i] ^ codes[j]).astype(np.int64)


def _mih_part(args):
    codes, max_distance, chunks = args
    return mih_pairs(codes, max_distance, chunks=chunks)


def _concat(i: list, j: list, d: list):
    if not i:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    return (
        np.concatenate(i).astype(np.int64),
        np.concatenate(j).astype(np.int64),
        np.concatenate(d).astype(np.int64),
    )


def groups_from_pairs(n: int, i: np.ndarray, j: np.ndarray) -> list[np.ndarray]:
    """Connected components (of size >= 2) of the graph with edges (i, j) on n nodes."""
    if len(i) == 0:
        return []
    graph = coo_matrix((np.ones(len(i), dtype=np.int8), (i, j)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    order = np.argsort(labels, kind="stable")
    sorted_labels = labels[order]
    cuts = np.nonzero(np.diff(sorted_labels))[0] + 1
    return [g for g in np.split(order, cuts) if len(g) > 1]


def find_groups(
    hashes: Mapping[Hashable, str | int], max_distance: int, *, method: str = "auto"
) -> list[set]:
    """Group keys whose hashes are within `max_distance` bits, transitively.

    Returns:
        The groups of two or more keys, each a set, ordered by their smallest key.
    """
    keys = list(hashes)
    i, j, _ = near_pairs(to_codes(hashes.values()), max_distance, method=method)
    groups = [{keys[k] for k in g.tolist()} for g in groups_from_pairs(len(keys), i, j)]
    return sorted(groups, key=min)
