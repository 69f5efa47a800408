"""The content-addressed image store: `images/<aa>/<sha256>.<ext>` beside the database."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from .db import Catalog


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
    fd, tmp = tempfile.mkstemp(dir=final.parent, prefix=".tmp-", suffix=f".{ext}")
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
