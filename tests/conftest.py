"""Fixtures every test area shares: catalogs in tmp_path, generated images, shared data."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import fast_run
import no_network
import pytest
from imagegen import image_bytes
from shared_data import SHARED

from catalog import open_catalog

# Test modules whose every test is slow, left out of a run that deselects slow tests.
_NOT_COLLECTED = pytest.StashKey[list[str]]()
# (backends, where they were first seen loaded) in a run that deselects slow tests.
_BACKEND_SEEN = pytest.StashKey[tuple[list[str], str]]()


def pytest_configure(config: pytest.Config) -> None:
    # No test reaches the network: only loopback connections are allowed (issue 6).
    no_network.install()
    # Keras writes ~/.keras; keep tests away from the user's home (and its cached weights).
    os.environ.setdefault("KERAS_HOME", str(Path(config.rootpath) / ".pytest_cache" / "keras"))
    config.stash[_NOT_COLLECTED] = []


def _fast_run(config: pytest.Config) -> bool:
    return fast_run.excludes_slow(config.option.markexpr or "")


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """In a run that deselects slow tests, do not import modules whose every test is slow."""
    if (
        collection_path.suffix == ".py"
        and collection_path.name.startswith("test_")
        and _fast_run(config)
        and fast_run.module_is_slow(collection_path)
    ):
        config.stash[_NOT_COLLECTED].append(str(collection_path))
        return True
    return None


def pytest_report_collectionfinish(config: pytest.Config) -> str | None:
    skipped = config.stash[_NOT_COLLECTED]
    return f"not collected (every test slow): {len(skipped)} modules" if skipped else None


def _note_backends(config: pytest.Config, where: str) -> None:
    if _BACKEND_SEEN not in config.stash and _fast_run(config):
        loaded = fast_run.loaded_backends()
        if loaded:
            config.stash[_BACKEND_SEEN] = (loaded, where)


def pytest_collection_finish(session: pytest.Session) -> None:
    _note_backends(session.config, "during collection")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[None]:
    result = yield  # setup, call and teardown
    _note_backends(item.config, f"by {item.nodeid}")
    return result


def pytest_sessionfinish(session: pytest.Session) -> None:
    """A run without slow tests that imported TensorFlow or Keras fails (issue 17)."""
    if _BACKEND_SEEN in session.config.stash and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    if _BACKEND_SEEN in config.stash:
        loaded, where = config.stash[_BACKEND_SEEN]
        terminalreporter.write_line(
            f"FAILED: {' and '.join(loaded)} imported {where}, in a run without slow tests: "
            "mark the test slow, or keep the import out of its module's top level",
            red=True,
        )


@pytest.fixture
def shared_dir(request: pytest.FixtureRequest) -> Path:
    """../shared beside the repository; tests that use it skip when it is absent."""
    if request.node.get_closest_marker("slow") is None:
        pytest.fail("a test that reads ../shared is slow: mark it @pytest.mark.slow")
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
