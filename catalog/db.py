"""Opening a catalog: one SQLite file plus the image store beside it."""

from __future__ import annotations

import fcntl
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlite_utils import Database
from sqlite_utils.db import Table

from .errors import CatalogError
from .owners import register
from .schema import known_migrations, migrations
from .store import sweep_stale_temp_files
from .storelock import WriterLock

# The environment variable that overrides the default catalog path for every command.
CATALOG_ENV = "IMAGESET_CATALOG"
DEFAULT_CATALOG = "catalog.db"
BUSY_TIMEOUT_MS = 30_000


@dataclass
class Catalog:
    """An open catalog: the database and the folder its image store lives in."""

    db: Database
    path: Path
    _writer: WriterLock | None = field(default=None, repr=False)
    # Opened read-only: the file or its folder cannot be written (a read-only share, an
    # archive). Reading works; `writing()` refuses, and SQLite refuses any other write.
    read_only: bool = False

    @property
    def root(self) -> Path:
        """The folder that holds the database; stored image paths are relative to it."""
        return self.path.parent

    @property
    def store_dir(self) -> Path:
        return self.root / "images"

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the store's writer lock (shared) for a block that stores files and their rows.

        `curate check --fix` takes it exclusively, so it never removes a file whose row
        is still being written. The first use registers this catalog in the
        store, so a sweep from a sibling catalog reads this one's rows.
        """
        if self.read_only:
            raise ReadOnlyCatalog(self.path)
        if self._writer is None:
            register(self.store_dir, self.path)
            self._writer = WriterLock(self.store_dir)
        with self._writer.shared():
            yield

    def table(self, name: str) -> Table:
        return self.db.table(name)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def default_catalog_path() -> Path:
    """The catalog named by $IMAGESET_CATALOG, else ./catalog.db."""
    return Path(os.environ.get(CATALOG_ENV) or DEFAULT_CATALOG)


def open_catalog(path: str | Path | None = None) -> Catalog:
    """Open (creating if needed) the catalog at `path` and bring its schema up to date.

    Args:
        path: the SQLite file; its folder must exist and be writable.

    Returns:
        An open `Catalog`. Use it as a context manager or call `close()`.

    Raises:
        CatalogError: the folder is missing or not writable, or the file is not a catalog.
    """
    path = Path(path) if path is not None else default_catalog_path()
    if _read_only(path):
        return _open_read_only(path)
    _check_location(path)
    try:
        conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        db = Database(conn)
        db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        db.execute("PRAGMA foreign_keys = ON")
        # With WAL, NORMAL loses no committed transaction when a process is killed (only,
        # at worst, the last ones on a power cut) and skips an fsync per commit.
        db.execute("PRAGMA synchronous = NORMAL")
        _refuse_foreign_or_newer(db, path)  # before anything is written, the lock file too
        with _setup_lock(path):
            _refuse_foreign_or_newer(db, path)  # again, now that no other process is setting it up
            db.execute("PRAGMA journal_mode = WAL")
            migrations.apply(db)
    except sqlite3.DatabaseError as exc:
        raise CatalogError(f"cannot open catalog {path}: {exc}") from exc
    cat = Catalog(db=db, path=path.resolve())
    try:
        sweep_stale_temp_files(cat.store_dir)  # what a killed writer left half-written
    except OSError:
        pass  # a read-only store: leave them for `curate check`
    return cat


class ReadOnlyCatalog(CatalogError):
    """A command that writes was given a catalog that can only be read."""

    def __init__(self, path: Path):
        super().__init__(
            f"catalog {path} is read-only (its file or folder cannot be written): this command "
            "writes to it; commands that only read it work"
        )


def _read_only(path: Path) -> bool:
    """An existing catalog whose file or folder this process cannot write."""
    folder = path.parent if str(path.parent) else Path(".")
    return (
        path.is_file()
        and folder.is_dir()
        and not (os.access(path, os.W_OK) and os.access(folder, os.W_OK))
    )


def _open_read_only(path: Path) -> Catalog:
    """Open without writing anything: SQLite's read-only mode, `immutable` where the folder
    cannot take the WAL's shared-memory file (then nothing else may be writing it either).

    A catalog whose schema is older than this code cannot be migrated here: that is an
    error saying so, not a catalog read with the wrong schema.
    """
    folder = path.parent if str(path.parent) else Path(".")
    mode = "mode=ro" if os.access(folder, os.W_OK) else "immutable=1"
    try:
        conn = sqlite3.connect(
            f"{path.resolve().as_uri()}?{mode}",
            uri=True,
            timeout=BUSY_TIMEOUT_MS / 1000,
            isolation_level=None,
        )
        db = Database(conn)
        db.execute("PRAGMA foreign_keys = ON")
        _refuse_foreign_or_newer(db, path)
        pending = [m.name for m in migrations.pending(db)]
    except sqlite3.DatabaseError as exc:
        raise CatalogError(f"cannot open catalog {path} read-only: {exc}") from exc
    if pending:
        conn.close()
        raise CatalogError(
            f"catalog {path} is read-only and its schema is older than this imageset "
            f"(step {pending[0]!r} is missing): open it once where it can be written"
        )
    return Catalog(db=db, path=path.resolve(), read_only=True)


def _check_location(path: Path) -> None:
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise CatalogError(f"cannot create catalog {path}: folder {folder} does not exist")
    if path.is_dir():
        raise CatalogError(
            f"catalog path {path} is a folder; give a file name such as {path / DEFAULT_CATALOG}"
        )
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise CatalogError(f"cannot write catalog {path}: permission denied")


def _refuse_foreign_or_newer(db: Database, path: Path) -> None:
    """Refuse a database that is not a catalog, or a catalog newer than this code.

    An empty file becomes a catalog. A database with tables but no catalog migrations is
    someone else's: migrating it would add tables and switch it to WAL. A catalog with a
    migration this code does not know has a schema it may misread or damage.
    """
    # A bare migrations table is what a concurrent first open creates before its first step.
    if not set(db.table_names()) - {migrations.migrations_table}:
        return
    applied = [m.name for m in migrations.applied(db)]
    if not applied:
        raise CatalogError(
            f"{path} is an SQLite database but not an imageset catalog: left unchanged; "
            "give --catalog a new file name"
        )
    unknown = [name for name in applied if name not in known_migrations()]
    if unknown:
        raise CatalogError(
            f"catalog {path} was written by a newer version of imageset (schema step "
            f"{unknown[0]!r} "
            f"is unknown to this one, which knows up to {known_migrations()[-1]!r}): upgrade "
            "imageset to use it"
        )


@contextmanager
def _setup_lock(path: Path) -> Iterator[None]:
    """Serialise schema set-up between processes opening the same catalog.

    Two commands that open a new catalog at once would otherwise both see the same
    migrations pending and race to create the tables ("already exists", or "database is
    locked" when a deferred transaction cannot upgrade). A lock on a file beside the
    database (never on the database file itself: closing another descriptor of it would
    drop SQLite's own POSIX locks) makes the second one wait and find nothing to do.
    """
    lock_path = path.with_name(path.name + ".lock")
    with open(lock_path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
