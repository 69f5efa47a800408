"""Multi-index hashing over padded bucket tables: exact Hamming range search for millions.

Split each 64-bit code into four 16-bit chunks. Two codes within distance d agree to
within d // 4 bits on at least one chunk (pigeonhole), so every near pair lies in some
bucket pair (b, b ^ f) of some chunk table, for a flip mask f of at most d // 4 bits.
Buckets are padded to a fixed width so that one mask compares all its bucket pairs as
one dense XOR + popcount block, which numpy does at memory speed; members beyond the
width (crowded buckets) are joined one by one, so the search stays exact.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np

CHUNK_BITS = 16
BUCKETS = 1 << CHUNK_BITS
# Bucket width: 1.3x the mean occupancy at a million codes (15 per bucket). Wider wastes
# dense compares on empty slots; narrower sends more members down the slow overflow path.
DEFAULT_WIDTH = 20


def flip_masks(bits: int, radius: int) -> list[int]:
    """Every mask of at most `radius` set bits among `bits`, 0 first."""
    masks = [0]
    for r in range(1, radius + 1):
        masks += [sum(1 << b for b in combo) for combo in combinations(range(bits), r)]
    return masks


def mih_pairs(
    codes: np.ndarray,
    max_distance: int,
    *,
    chunks: list[int] | None = None,
    width: int | None = None,
):
    """Index pairs (i < j) within `max_distance`, possibly repeated; see module docstring.

    Args:
        chunks: which of the four chunk tables to search (all by default); the union
            over all four is exact, so workers can split them.
    """
    n = len(codes)
    width = width or max(4, min(DEFAULT_WIDTH, int(1.3 * n / BUCKETS) + 2))
    masks = flip_masks(CHUNK_BITS, max_distance // (64 // CHUNK_BITS))
    found: list[tuple[np.ndarray, np.ndarray]] = []
    for c in chunks if chunks is not None else range(64 // CHUNK_BITS):
        key = ((codes >> np.uint64(c * CHUNK_BITS)) & np.uint64(BUCKETS - 1)).astype(np.int64)
        table, overflow, order, starts = _table(key, width)
        # Empty slots hold all-zeros on the left and all-ones on the right: 64 bits apart,
        # so padding never looks near to padding (real codes are checked by id anyway).
        left_codes = np.where(table >= 0, codes[np.maximum(table, 0)], np.uint64(0))
        right_codes = np.where(table >= 0, left_codes, ~np.uint64(0))
        for mask in masks:
            found += _dense(table, left_codes, right_codes, mask, max_distance)
        if len(overflow):
            found += _overflow(codes, key, overflow, order, starts, masks, max_distance)
    if not found:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    i = np.concatenate([f[0] for f in found])
    j = np.concatenate([f[1] for f in found])
    return np.minimum(i, j), np.maximum(i, j)


def _table(key: np.ndarray, width: int):
    """Padded bucket table of code indices (-1 = empty) and the members that did not fit."""
    order = np.argsort(key, kind="stable")
    counts = np.bincount(key, minlength=BUCKETS)
    starts = np.concatenate([[0], np.cumsum(counts)])
    sorted_keys = key[order]
    slot = np.arange(len(key)) - starts[sorted_keys]
    fits = slot < width
    table = np.full((BUCKETS, width), -1, dtype=np.int64)
    table[sorted_keys[fits], slot[fits]] = order[fits]
    return table, order[~fits], order, starts


def _dense(table, left_codes, right_codes, mask: int, max_distance: int):
    """Near pairs between every bucket b and b ^ mask, compared row against row.

    Rather than one (buckets, width, width) broadcast, compare row a with row b rotated
    by each shift s: `width` contiguous XORs that touch every slot pair once. Hits are
    rare, so a cheap `any()` skips the index work for almost every shift.
    """
    found = []
    buckets = np.arange(BUCKETS)
    partner = buckets ^ mask
    left = buckets[buckets <= partner]  # each bucket pair once; mask 0 pairs a bucket with itself
    width = table.shape[1]
    a_codes = left_codes[left]
    b_codes = np.concatenate([right_codes[partner[left]]] * 2, axis=1)  # rotation = a slice
    xor, count, near = (
        np.empty_like(a_codes),
        np.empty(a_codes.shape, np.uint8),
        np.empty(a_codes.shape, bool),
    )
    for shift in range(width):
        # Preallocated outputs: this loop runs ~500k times for a million codes.
        np.bitwise_xor(a_codes, b_codes[:, shift : shift + width], out=xor)
        np.bitwise_count(xor, out=count)
        np.less_equal(count, max_distance, out=near)
        if not near.any():
            continue
        rows, slots = np.divmod(np.flatnonzero(near), width)
        i = table[left[rows], slots]
        j = table[partner[left[rows]], (slots + shift) % width]
        keep = (i >= 0) & (j >= 0) & (i != j)
        found.append((i[keep], j[keep]))
    return found


def _overflow(codes, key, overflow, order, starts, masks, max_distance: int):
    """Pairs of each member that did not fit its bucket's row with every code near it."""
    found = []
    for mask in masks:
        target = key[overflow] ^ mask
        counts = starts[target + 1] - starts[target]
        qi = np.repeat(overflow, counts)
        offsets = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
        qj = order[np.repeat(starts[target], counts) + offsets]
        near = (np.bitwise_count(codes[qi] ^ codes[qj]) <= max_distance) & (qi != qj)
        found.append((qi[near], qj[near]))
    return found
