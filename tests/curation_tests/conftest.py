"""Fixtures for the curation tests: catalogs filled with generated images."""

from __future__ import annotations

import pytest
from curation_tests.nearcopies import add_generated


@pytest.fixture
def review_cat(cat):
    """A catalog with 4 pending images: ids 1-3 in Yeezy_350, 4 in Yeezy_500."""
    for seed in (1, 2, 3):
        add_generated(cat, seed)
    add_generated(cat, 4, "Yeezy_500")
    return cat
