"""The content-addressed image store: `images/<aa>/<sha256>.<ext>` beside the database."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

from .atomic import AtomicFile
from .owners import claim

if TYPE_CHECKING:  # db imports this module to sweep temp files on open
    from .db import Catalog


TEMP_PREFIX = ".tmp-"


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_of_file(path: Path) -> str:
    """The sha256 of a file, read in 1 MiB blocks (a file may be larger than memory)."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def relative_path(sha256: str, ext: str) -> str:
    """The path of a stored file relative to the catalog's folder."""
    return f"images/{sha256[:2]}/{sha256}.{ext}"


def stage_file(store_dir: Path, data: bytes, sha256: str, ext: str) -> Path:
    """Write `data` to a temporary file beside its store name and flush it to disk.

    The slow part of storing (fsync) can run on any thread; `put_file` then renames the
    file into place. The writer's pid is in the name, so a sweep can tell a dead writer's
    leftovers from a file another live process is still writing.
    """
    folder = store_dir / sha256[:2]
    folder.mkdir(parents=True, exist_ok=True)
    out = AtomicFile(folder / f"{sha256}.{ext}", prefix=TEMP_PREFIX, suffix=f".{ext}")
    try:
        out.file.write(data)
    except BaseException:
        out.discard()
        raise
    return out.close(fsync=True)


def claim_new(cat: Catalog, sha256: str, ext: str) -> None:
    """Record that this catalog is about to create a stored file, unless it is there already.

    Hold the store's writer lock from here until the file's row is committed.
    """
    rel = relative_path(sha256, ext)
    if not (cat.root / rel).exists():
        claim(cat, rel)


def put_file(
    cat: Catalog, data: bytes, sha256: str, ext: str, staged: Path | None = None
) -> tuple[str, bool]:
    """Move `data` into the store atomically; returns its relative path and whether it was created.

    Call it holding the store's writer lock (`cat.writing()`), up to the commit of the
    row that refers to the file. A file this call creates is first recorded as created by
    this catalog (`store_files`), which is what lets `curate check --fix` remove it later
    if its row never comes. A file already there is left as it is and not
    claimed: another catalog sharing the folder may have written it.

    Args:
        staged: a file `stage_file` already wrote with these bytes; it is renamed into
            place, or removed when the store has the file already.
    """
    rel = relative_path(sha256, ext)
    final = cat.root / rel
    if final.exists() and final.stat().st_size == len(data):
        if staged is not None:
            staged.unlink(missing_ok=True)
        return rel, False
    claim_new(cat, sha256, ext)
    tmp = staged or stage_file(cat.store_dir, data, sha256, ext)
    try:
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return rel, True


def absolute_path(cat: Catalog, rel: str) -> Path:
    return cat.root / rel


def stale_temp_files(store_dir: Path) -> list[Path]:
    """Temporary files left in the store by writers that are no longer running."""
    if not store_dir.is_dir():
        return []
    return sorted(p for p in store_dir.glob(f"*/{TEMP_PREFIX}*") if not _writer_alive(p.name))


def sweep_stale_temp_files(store_dir: Path) -> int:
    """Remove what killed writers left behind; returns how many files went."""
    removed = 0
    for path in stale_temp_files(store_dir):
        path.unlink(missing_ok=True)
        removed += 1
    return removed


def _writer_alive(name: str) -> bool:
    pid_text = name[len(TEMP_PREFIX) :].split("-", 1)[0]
    if not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, owned by someone else
    return True
