"""Fixtures for the curation tests: catalogs filled with generated images."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from imagegen import image_bytes

from catalog import Provenance, add_image

# Helpers shared by these tests (nearcopies.py) import by name, like tests/imagegen.py.
sys.path.insert(0, str(Path(__file__).parent))


def add_generated(cat, seed: int, class_name: str = "Yeezy_350", size=(96, 64), fmt: str = "JPEG", **save) -> int:
    """Add a generated image to `cat` and return its id."""
    data = image_bytes(seed, size, fmt, **save)
    return add_image(cat, data, class_name, Provenance(origin="import", title=f"seed-{seed}")).image["id"]


@pytest.fixture
def review_cat(cat):
    """A catalog with 4 pending images: ids 1-3 in Yeezy_350, 4 in Yeezy_500."""
    for seed in (1, 2, 3):
        add_generated(cat, seed)
    add_generated(cat, 4, "Yeezy_500")
    return cat
