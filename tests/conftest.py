"""Fixtures every test area shares: catalogs in tmp_path, generated images, shared data."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from catalog import Catalog, open_catalog

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


def pytest_configure(config: pytest.Config) -> None:
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


def make_image(seed: int, size: tuple[int, int] = (96, 64), mode: str = "RGB") -> Image.Image:
    """A deterministic, textured picture: different seeds give visibly different images."""
    rng = np.random.default_rng(seed)
    w, h = size
    # Low-frequency structure (so perceptual hashes differ by seed) plus a little noise.
    coarse = rng.integers(0, 256, size=(4, 4, 3), dtype=np.uint8)
    img = Image.fromarray(coarse, "RGB").resize((w, h), Image.Resampling.BICUBIC)
    noise = rng.integers(-12, 13, size=(h, w, 3))
    arr = np.clip(np.asarray(img, dtype=np.int16) + noise, 0, 255).astype(np.uint8)
    return Image.fromarray(arr, "RGB").convert(mode)


def image_bytes(seed: int, size: tuple[int, int] = (96, 64), fmt: str = "JPEG", **save: object) -> bytes:
    """Encoded bytes of `make_image(seed, size)` in format `fmt`."""
    buf = io.BytesIO()
    make_image(seed, size).save(buf, fmt, **save)
    return buf.getvalue()


@pytest.fixture
def write_image():
    """Write a generated image file: write_image(path, seed, size=(96, 64), fmt=None)."""

    def write(path: Path, seed: int, size: tuple[int, int] = (96, 64), fmt: str | None = None) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        fmt = fmt or {".png": "PNG", ".webp": "WEBP", ".gif": "GIF", ".bmp": "BMP"}.get(path.suffix.lower(), "JPEG")
        path.write_bytes(image_bytes(seed, size, fmt))
        return path

    return write
