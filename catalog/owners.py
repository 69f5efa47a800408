"""Who owns a stored file: the catalogs that share a store, and the files each created.

Two catalogs in one folder share `images/` (issue 13): a file without a row in one may be
another's image. A file is an orphan only when the catalog that created it says so (its
`store_files` row) and no catalog using the store refers to it. The catalogs using a store
are those registered in `.images-catalogs` beside the store (each writes itself there
before its first write) and every SQLite file in the folder beside `images/` (catalogs
made before the registry existed).
"""

from __future__ import annotations

import fcntl
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

from .storelock import store_control
from .timeutil import now

if TYPE_CHECKING:
    from .db import Catalog

REGISTRY_NAME = ".images-catalogs"
SQLITE_HEADER = b"SQLite format 3\x00"


class OwnershipUnknown(Exception):
    """A catalog using the store could not be read, so no file can be proved an orphan."""


def claim(cat: Catalog, rel: str) -> None:
    """Record that this catalog is about to create the stored file `rel`."""
    cat.db.execute(
        "INSERT OR IGNORE INTO store_files (path, created_at) VALUES (?, ?)", [rel, now()]
    )


def release(cat: Catalog, rel: str) -> None:
    """Forget a created file that was removed."""
    cat.db.execute("DELETE FROM store_files WHERE path = ?", [rel])


def created_files(cat: Catalog) -> set[str]:
    """The relative paths of the stored files this catalog created."""
    return {row[0] for row in cat.db.execute("SELECT path FROM store_files").fetchall()}


def register(store_dir: Path, catalog_path: Path) -> None:
    """Add a catalog to the store's registry (once; safe between processes)."""
    entry = str(catalog_path.resolve())
    with open(
        store_control(store_dir, REGISTRY_NAME), "a+", encoding="utf-8", errors="surrogateescape"
    ) as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        fh.seek(0)
        if entry not in fh.read().splitlines():
            fh.write(entry + "\n")
            fh.flush()


def sibling_catalogs(cat: Catalog) -> list[Path]:
    """Every other database that may refer to files in this catalog's store."""
    found: set[Path] = set()
    registry = store_control(cat.store_dir, REGISTRY_NAME)
    if registry.is_file():
        text = registry.read_text(encoding="utf-8", errors="surrogateescape")
        found |= {Path(line) for line in text.splitlines() if line.strip()}
    found |= {p for p in cat.store_dir.resolve().parent.iterdir() if _looks_like_sqlite(p)}
    me = cat.path.resolve()
    return sorted(p for p in found if p.exists() and p.resolve() != me)


def _looks_like_sqlite(path: Path) -> bool:
    try:
        if not path.is_file():
            return False
        with path.open("rb") as fh:
            return fh.read(len(SQLITE_HEADER)) == SQLITE_HEADER
    except OSError:
        return False


def files_referenced_by(path: Path) -> set[Path]:
    """The absolute store paths of the images a catalog refers to, read without writing.

    A database without an `images` table is not a catalog and refers to nothing.

    Raises:
        OwnershipUnknown: the database exists but cannot be read.
    """
    store = (path.resolve().parent / "images").resolve()
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
    except sqlite3.Error as exc:
        raise OwnershipUnknown(f"cannot read catalog {path}: {exc}") from exc
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "images" not in tables:
            return set()
        rows = conn.execute("SELECT path FROM images").fetchall()
    except sqlite3.Error as exc:
        raise OwnershipUnknown(f"cannot read catalog {path}: {exc}") from exc
    finally:
        conn.close()
    return {store / rel.removeprefix("images/") for (rel,) in rows if isinstance(rel, str)}
