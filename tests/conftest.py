"""Fixtures every test area shares: catalogs in tmp_path, generated images, shared data."""

from __future__ import annotations

import os
from pathlib import Path

import no_network
import pytest
from imagegen import image_bytes

from catalog import open_catalog

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


def pytest_configure(config: pytest.Config) -> None:
    # No test reaches the network: only loopback connections are allowed (issue 6).
    no_network.install()
    # Keras writes ~/.keras; keep tests away from the user's home (and its cached weights).
    os.environ.setdefault("KERAS_HOME", str(Path(config.rootpath) / ".pytest_cache" / "keras"))


@pytest.fixture
def shared_dir() -> Path:
    """../shared beside the repository; tests that use it skip when it is absent."""
    if not SHARED.is_dir():
        pytest.skip("../shared is absent (it is only on development and CI machines)")
    return SHARED


@pytest.fixture
def catalog_path(tmp_path: Path) -> Path:
    """The path of a migrated catalog file under tmp_path."""
    path = tmp_path / "catalog.db"
    open_catalog(path).close()
    return path


@pytest.fixture
def cat(catalog_path: Path):
    """An open, migrated catalog file under tmp_path."""
    catalog = open_catalog(catalog_path)
    yield catalog
    catalog.close()


@pytest.fixture
def write_image():
    """Write a generated image file: write_image(path, seed, size=(96, 64), fmt=None)."""

    def write(
        path: Path, seed: int, size: tuple[int, int] = (96, 64), fmt: str | None = None
    ) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        fmt = fmt or {".png": "PNG", ".webp": "WEBP", ".gif": "GIF", ".bmp": "BMP"}.get(
            path.suffix.lower(), "JPEG"
        )
        path.write_bytes(image_bytes(seed, size, fmt))
        return path

    return write
