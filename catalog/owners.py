"""Who owns a stored file: the catalogs that share a store, and the files each created.

Two catalogs in one folder share `images/`: a file without a row in one may be
another's image. A file is an orphan only when the catalog that created it says so (its
`store_files` row) and no catalog using the store refers to it. The catalogs using a store
are those registered in `.images-catalogs` beside the store (each writes itself there
before its first write) and every SQLite file in the folder beside `images/` (catalogs
made before the registry existed).

Deleting needs more than that: the registry must be whole. A catalog elsewhere can share
the store through a link to its folder; only the registry knows it. So a file is removed
only while the registry is there, was never lost (`LOST_NAME`: a registry rebuilt where
`STORE_NAME` shows one existed), the store is where it was when it was first registered
(`STORE_NAME` holds its real path) and this catalog does not reach it through a link.
Otherwise the file is kept and the report says why (`deletion_doubt`).
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
STORE_NAME = ".images-store"  # the store's real path, written when it is first registered
LOST_NAME = ".images-catalogs.lost"  # the registry was found missing and rebuilt
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
    """Add a catalog to the registry of the store's real folder (once; safe between
    processes); the first registration records where the store is, and a registry found
    missing after that is marked as lost."""
    entry = str(catalog_path.resolve())
    with open(
        store_control(store_dir, REGISTRY_NAME), "a+", encoding="utf-8", errors="surrogateescape"
    ) as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        fh.seek(0)
        listed = fh.read().splitlines()
        identity = store_control(store_dir, STORE_NAME)
        if not listed and identity.exists():
            store_control(store_dir, LOST_NAME).write_text(now() + "\n", encoding="utf-8")
        if not identity.exists():
            identity.write_text(str(store_dir.resolve()) + "\n", encoding="utf-8")
        if entry not in listed:
            fh.write(entry + "\n")
            fh.flush()


def deletion_doubt(cat: Catalog) -> str | None:
    """Why no file of this catalog's store may be proved an orphan now, or None."""
    store = cat.store_dir
    if store.is_symlink() or store.resolve() != store.absolute():
        return f"this catalog reaches its store {store} through a link"
    registry = store_control(store, REGISTRY_NAME)
    if not registry.is_file():
        return f"the store's list of catalogs ({registry}) is missing"
    lost = store_control(store, LOST_NAME)
    if lost.exists():
        return (
            f"the store's list of catalogs was lost and rebuilt ({lost}): catalogs elsewhere "
            "that share the store may be missing from it"
        )
    identity = store_control(store, STORE_NAME)
    try:
        recorded = identity.read_text(encoding="utf-8").strip() if identity.exists() else None
    except OSError as exc:
        return f"cannot read {identity}: {exc}"
    if recorded is not None and recorded != str(store.resolve()):
        return f"the store was moved from {recorded}: the catalogs listed may be stale"
    return None


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
