"""Fixtures for the trainer tests: a small generated catalog."""

from __future__ import annotations

from pathlib import Path

import pytest
from trainer_tests.traingen import build_catalog


@pytest.fixture
def small_catalog(catalog_path: Path) -> tuple[Path, dict[str, list[int]]]:
    """(catalog path, {"train": ids, "test": ids}) for 3 classes x (5 train + 2 test)."""
    return catalog_path, build_catalog(catalog_path)
