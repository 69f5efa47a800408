"""The content-addressed image store: `images/<aa>/<sha256>.<ext>` beside the database."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # db imports this module to sweep temp files on open
    from .db import Catalog


TEMP_PREFIX = ".tmp-"


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def relative_path(sha256: str, ext: str) -> str:
    """The path of a stored file relative to the catalog's folder."""
    return f"images/{sha256[:2]}/{sha256}.{ext}"


def put_file(cat: Catalog, data: bytes, sha256: str, ext: str) -> str:
    """Write `data` into the store atomically and return its relative path.

    The bytes go to a temporary file in the destination folder, are flushed to disk and
    renamed into place, so a crash never leaves a partial file under a store name.
    """
    rel = relative_path(sha256, ext)
    final = cat.root / rel
    if final.exists() and final.stat().st_size == len(data):
        return rel
    final.parent.mkdir(parents=True, exist_ok=True)
    # The writer's pid is in the name, so a sweep can tell a dead writer's leftovers from
    # a file another live process is writing right now.
    fd, tmp = tempfile.mkstemp(dir=final.parent, prefix=f"{TEMP_PREFIX}{os.getpid()}-", suffix=f".{ext}")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, final)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return rel


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
    pid_text = name[len(TEMP_PREFIX):].split("-", 1)[0]
    if not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, owned by someone else
    return True
