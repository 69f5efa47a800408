"""Pair search and grouping: hand-written hash dicts, and brute force == the index."""

from __future__ import annotations

import numpy as np
import pytest

from curation.search import find_groups, near_pairs


def test_groups_from_a_tiny_dict():
    hashes = {
        10: "0000000000000000",
        11: "0000000000000003",  # 2 bits from 10
        12: "000000000000000f",  # 2 bits from 11, 4 from 10: joins transitively
        20: "ffffffffffffffff",
        21: "fffffffffffffffe",
        30: "00000000ffffffff",
    }
    assert find_groups(hashes, 2) == [{10, 11, 12}, {20, 21}]
    assert find_groups(hashes, 0) == []
    assert find_groups(hashes, 1) == [{20, 21}]


def test_ints_and_empty_input():
    assert find_groups({1: 0b1, 2: 0b11, 3: 0b1111_0000}, 1) == [{1, 2}]
    assert find_groups({}, 5) == []


def test_distances_are_reported():
    codes = np.array([0, 0b111, 0b1], dtype=np.uint64)
    i, j, d = near_pairs(codes, 3)
    pairs = zip(i.tolist(), j.tolist(), d.tolist(), strict=True)
    assert list(pairs) == [(0, 1, 3), (0, 2, 1), (1, 2, 2)]


@pytest.mark.parametrize("max_distance", [0, 3, 7, 10])
def test_index_finds_exactly_what_brute_force_finds(max_distance):
    rng = np.random.default_rng(1)
    codes = rng.integers(0, 2**63, 3000, dtype=np.int64).astype(np.uint64) * np.uint64(
        2
    ) + np.uint64(1)
    for k in range(300):  # plant near copies 1 to 4 bits away
        bits = rng.choice(64, size=1 + k % 4, replace=False)
        codes[1000 + k] = codes[k] ^ np.uint64(sum(1 << int(b) for b in bits))
    brute = near_pairs(codes, max_distance, method="brute")
    index = near_pairs(codes, max_distance, method="index")
    for a, b in zip(brute, index, strict=True):
        assert a.tolist() == b.tolist()
    if max_distance >= 4:
        assert len(brute[0]) >= 300
