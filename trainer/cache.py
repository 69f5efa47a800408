"""The caches beside the catalog, in one place: where each lives, how big it is, removing it.

No Keras here: `train cache` starts fast.

Three kinds, all derived data that is rebuilt when missing, each in its own folder of
`cache/` (`CACHES`):
- `pixels/<size>/<ab>/<sha256>.npy`: decoded, resized uint8 images;
- `features/<key>/`: a `key.json` saying what defines the folder, float16 bottom maps
  and float32 pooled features per pass (`features`);
- `audit/<backbone>-<weights>-<size>-views/` and `audit/run<ID>-<digest>/`: per-image
  feature vectors of `train audit` (`vectors`).

Removal proves ownership first: only files whose names the trainer gives, in folders laid
out as the trainer lays them out, are removed; anything else found there is left alone
and reported.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from catalog import CACHE_DIR, Catalog

KEY_FILE = "key.json"  # written first into each features folder: the mark that the trainer made it
# Files being written carry the writer's pid: `<prefix><pid>-<random>.npy`. A killed run
# leaves them behind; the next run removes those whose writer is gone (`sweep_stale_*`).
PARTIAL_PREFIX = ".partial-"  # arrays.NpyWriter, in a features folder
PIXEL_TEMP_PREFIX = "tmp"  # data._cached, in a pixels folder

_PIXEL_FILE = re.compile(r"^([0-9a-f]{64}\.npy|tmp[\w-]+\.npy)$")
# audit.feature_cache and audit_run._folder name them
_AUDIT_FOLDER = re.compile(r"^(.+-\d+-views|run\d+-[0-9a-f]{16})$")
_FEATURE_FILE = re.compile(
    r"^((maps|pooled)-(plain|aug-?\d+)\.npy|\.partial-[\w-]+\.npy|key\.json|\.key\.json(\.[\w-]+)?\.tmp)$"
)


@dataclass
class CacheUsage:
    """Files of one cache: how many, their bytes, and foreign files found (kept)."""

    name: str
    folder: Path
    files: list[Path] = field(default_factory=list)
    foreign: list[Path] = field(default_factory=list)
    bytes: int = 0

    def add(self, path: Path, owned: bool) -> None:
        if owned:
            self.files.append(path)
            self.bytes += path.stat().st_size
        else:
            self.foreign.append(path)


# folder in cache/ -> what `train cache` calls it
CACHES = {"pixels": "decoded pixels", "features": "backbone features", "audit": "audit features"}


def cache_folder(cat: Catalog, kind: str) -> Path:
    """The folder of one of `CACHES` beside the catalog."""
    assert kind in CACHES, kind
    return cat.root / CACHE_DIR / kind


def cache_dir(cat: Catalog) -> Path:
    """Decoded pixels."""
    return cache_folder(cat, "pixels")


def features_dir(cat: Catalog) -> Path:
    """Cached backbone maps and pooled features (see `features`)."""
    return cache_folder(cat, "features")


def audit_dir(cat: Catalog) -> Path:
    """Per-image features of `train audit` (see `audit`, `audit_run`)."""
    return cache_folder(cat, "audit")


def cache_usage(cat: Catalog) -> list[CacheUsage]:
    """The trainer's files in each cache folder (and anything else found there, kept apart)."""
    return [
        _pixels(cache_dir(cat)),
        _features(features_dir(cat)),
        _audit(audit_dir(cat)),
    ]


def clear_cache(cat: Catalog) -> list[CacheUsage]:
    """Remove the trainer's cache files and the folders they leave empty; returns what was
    removed."""
    usages = cache_usage(cat)
    for usage in usages:
        for path in usage.files:
            path.unlink(missing_ok=True)
        for folder in sorted(
            {p.parent for p in usage.files} | {p.parent.parent for p in usage.files},
            key=lambda p: -len(p.parts),
        ):
            if (
                folder != usage.folder
                and folder.is_relative_to(usage.folder)
                and not any(folder.iterdir())
            ):
                folder.rmdir()
    return usages


def stale_features_partials(root: Path) -> list[Path]:
    """`.partial-<pid>-*.npy` files in the trainer's features folders whose writer is gone."""
    if not root.is_dir():
        return []
    return sorted(
        path
        for path in root.glob(f"*/{PARTIAL_PREFIX}*.npy")
        if (path.parent / KEY_FILE).is_file() and _writer_gone(path.name, PARTIAL_PREFIX)
    )


def stale_pixel_temps(root: Path) -> list[Path]:
    """`<size>/<aa>/tmp<pid>-*.npy` files in the decoded-pixels cache whose writer is gone."""
    if not root.is_dir():
        return []
    return sorted(
        path
        for path in root.glob(f"[0-9]*/[0-9a-f][0-9a-f]/{PIXEL_TEMP_PREFIX}*.npy")
        if path.parent.parent.name.isdigit() and _writer_gone(path.name, PIXEL_TEMP_PREFIX)
    )


def sweep(paths: list[Path]) -> int:
    """Remove the given stale temporary files; how many went."""
    for path in paths:
        path.unlink(missing_ok=True)
    return len(paths)


def _writer_gone(name: str, prefix: str) -> bool:
    """True only when the name carries a pid (ours) and no process has that pid now.

    A name without a pid (written before pids were recorded) proves nothing and is kept,
    as is a file whose pid is alive, even if the pid was reused: `train cache --clear`
    removes those.
    """
    match = re.fullmatch(rf"{re.escape(prefix)}(\d+)-[\w]+\.npy", name)
    if match is None:
        return False
    try:
        os.kill(int(match.group(1)), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OverflowError):
        return False  # alive under another user, or not a pid at all
    return False


def _pixels(root: Path) -> CacheUsage:
    def owned(
        rel: tuple[str, ...],
    ) -> bool:  # <size>/<aa>/<sha256>.npy, or a temp file being written
        return (
            len(rel) == 3
            and rel[0].isdigit()
            and re.fullmatch(r"[0-9a-f]{2}", rel[1]) is not None
            and _PIXEL_FILE.match(rel[2]) is not None
            and (rel[2].startswith("tmp") or rel[2].startswith(rel[1]))
        )

    return _walk(CACHES["pixels"], root, owned)


def _features(root: Path) -> CacheUsage:
    def owned(
        rel: tuple[str, ...],
    ) -> bool:  # <key>/<file> in a folder the trainer marked with its key file
        return (
            len(rel) == 2
            and (root / rel[0] / KEY_FILE).is_file()
            and _FEATURE_FILE.match(rel[1]) is not None
        )

    return _walk(CACHES["features"], root, owned)


def _audit(root: Path) -> CacheUsage:
    def owned(rel: tuple[str, ...]) -> bool:  # <folder>/<aa>/<sha256>.npy, or a temp file
        return (
            len(rel) == 3
            and _AUDIT_FOLDER.match(rel[0]) is not None
            and re.fullmatch(r"[0-9a-f]{2}", rel[1]) is not None
            and _PIXEL_FILE.match(rel[2]) is not None
            and (rel[2].startswith("tmp") or rel[2].startswith(rel[1]))
        )

    return _walk(CACHES["audit"], root, owned)


def _walk(name: str, root: Path, owned: Callable[[tuple[str, ...]], bool]) -> CacheUsage:
    """Every file under `root`, each marked as the trainer's own or foreign by `owned(parts)`."""
    usage = CacheUsage(name, root)
    if root.is_dir():
        for path in root.rglob("*"):
            if path.is_file():
                usage.add(path, owned(path.relative_to(root).parts))
    return usage
