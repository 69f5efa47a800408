"""The catalog's schema, built by numbered migrations that are safe to re-apply.

Each migration runs once and is recorded in `_sqlite_migrations` by sqlite-utils.
Add a new function at the end for every change; never edit one that has shipped.
"""

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

migrations = Migrations("catalog")

# The ten classes of the original sneaker project, with the queries used to search them.
SEED_CLASSES = {
    "Air_Max_90": "Nike Air Max 90 sneaker",
    "Air_Max_95": "Nike Air Max 95 sneaker",
    "Air_Jordan_4": "Air Jordan 4 sneaker",
    "Air_Max_1": "Nike Air Max 1 sneaker",
    "Air_Jordan_1": "Air Jordan 1 sneaker",
    "Air_Force_1": "Nike Air Force 1 sneaker",
    "Adidas_Ultra_Boost_4": "Adidas Ultra Boost 4.0 sneaker",
    "Adidas_NMD_R1": "Adidas NMD R1 sneaker",
    "Yeezy_350": "Yeezy 350 sneaker",
    "Yeezy_500": "Yeezy 500 sneaker",
}

IMAGE_STATUSES = ("pending", "accepted", "rejected", "duplicate")
# The statuses whose images a dataset contains (export, stats, training by default).
USABLE_STATUSES = ("pending", "accepted")


@migrations()
def m001_core_tables(db: Database) -> None:
    statuses = ", ".join(f"'{s}'" for s in IMAGE_STATUSES)
    # One statement at a time: executescript() would COMMIT and break the migration's
    # transaction.
    script = f"""
        CREATE TABLE classes (
            name TEXT PRIMARY KEY,
            query TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE TABLE images (
            id INTEGER PRIMARY KEY,
            sha256 TEXT NOT NULL UNIQUE,
            class TEXT NOT NULL REFERENCES classes(name) ON UPDATE CASCADE,
            status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ({statuses})),
            reason TEXT,
            flags TEXT,
            path TEXT NOT NULL,
            width INTEGER NOT NULL,
            height INTEGER NOT NULL,
            format TEXT NOT NULL,
            bytes INTEGER NOT NULL,
            phash TEXT,
            dhash TEXT,
            pixel_hash TEXT,
            origin TEXT NOT NULL,
            source_url TEXT,
            page_url TEXT,
            engine TEXT,
            query TEXT,
            rank INTEGER,
            title TEXT,
            added_at TEXT NOT NULL
        );
        CREATE INDEX images_class_status ON images(class, status);
        CREATE TABLE fetches (
            id INTEGER PRIMARY KEY,
            url TEXT NOT NULL,
            class TEXT NOT NULL REFERENCES classes(name) ON UPDATE CASCADE,
            engine TEXT,
            query TEXT,
            rank INTEGER,
            status TEXT NOT NULL,
            http_status INTEGER,
            error TEXT,
            sha256 TEXT,
            attempted_at TEXT NOT NULL,
            UNIQUE (class, url)
        );
        CREATE TABLE conflicts (
            id INTEGER PRIMARY KEY,
            image_id INTEGER NOT NULL REFERENCES images(id),
            class TEXT NOT NULL REFERENCES classes(name) ON UPDATE CASCADE,
            source TEXT,
            resolved_at TEXT,
            created_at TEXT NOT NULL,
            UNIQUE (image_id, class)
        );
        CREATE TABLE reviews (
            id INTEGER PRIMARY KEY,
            image_id INTEGER NOT NULL REFERENCES images(id),
            action TEXT NOT NULL,
            before TEXT NOT NULL,
            after TEXT NOT NULL,
            undone_by INTEGER REFERENCES reviews(id),
            at TEXT NOT NULL
        );
        CREATE TABLE duplicates (
            image_id INTEGER PRIMARY KEY REFERENCES images(id),
            duplicate_of INTEGER NOT NULL REFERENCES images(id),
            distance INTEGER NOT NULL,
            method TEXT NOT NULL
        );
        CREATE TABLE splits (
            name TEXT NOT NULL,
            image_id INTEGER NOT NULL REFERENCES images(id),
            subset TEXT NOT NULL CHECK (subset IN ('train', 'test')),
            seed INTEGER,
            created_at TEXT NOT NULL,
            PRIMARY KEY (name, image_id)
        );
        CREATE TABLE runs (
            id INTEGER PRIMARY KEY,
            backbone TEXT NOT NULL,
            split TEXT NOT NULL,
            weights TEXT,
            params TEXT,
            metrics TEXT,
            artifacts TEXT,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            status TEXT NOT NULL
        );
        CREATE TABLE predictions (
            run_id INTEGER NOT NULL REFERENCES runs(id),
            image_id INTEGER NOT NULL REFERENCES images(id),
            true_class TEXT NOT NULL,
            predicted TEXT NOT NULL,
            top_k TEXT NOT NULL,
            PRIMARY KEY (run_id, image_id)
        );
    """
    for statement in script.split(";"):
        if statement.strip():
            db.execute(statement)


@migrations()
def m002_seed_classes(db: Database) -> None:
    from .timeutil import now

    db.table("classes").insert_all(
        ({"name": n, "query": q, "created_at": now()} for n, q in SEED_CLASSES.items()),
        ignore=True,
    )


@migrations()
def m201_curation_signature(db: Database) -> None:
    # A tiny colour thumbnail (hex of 8x8 RGB bytes) computed once with the hashes: it
    # rejects most pHash look-alikes before any file is decoded to confirm a match.
    db.execute("ALTER TABLE images ADD COLUMN signature TEXT")


@migrations()
def m301_store_files(db: Database) -> None:
    # The stored files this catalog created, recorded before each file is written: the
    # proof `curate check --fix` needs before it removes a file without a row, since
    # catalogs in one folder share `images/`.
    db.execute("CREATE TABLE store_files (path TEXT PRIMARY KEY, created_at TEXT NOT NULL)")


@migrations()
def m401_run_liveness(db: Database) -> None:
    # Who runs a training run and when it last showed signs of life: a run the kernel
    # killed (out of memory) stays `running`; these columns let `train runs` call it died.
    for column, kind in (("pid", "INTEGER"), ("host", "TEXT"), ("heartbeat_at", "TEXT")):
        db.execute(f"ALTER TABLE runs ADD COLUMN {column} {kind}")


@migrations()
def m601_settings(db: Database) -> None:
    # Small catalog-wide choices a person makes, e.g. `default_run` set by `train use RUN`:
    # one key/value table rather than a column per choice.
    db.execute(
        "CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL, set_at TEXT NOT NULL)"
    )


@migrations()
def m501_audits(db: Database) -> None:
    # Label audits: one row per `train audit`, one per image it flagged. Flags
    # are findings, never decisions: review turns them into decisions (and `reviews` rows).
    db.execute(
        """CREATE TABLE audits (
            id INTEGER PRIMARY KEY,
            split TEXT NOT NULL,
            backbone TEXT NOT NULL,
            params TEXT NOT NULL,
            created_at TEXT NOT NULL
        )"""
    )
    db.execute(
        """CREATE TABLE audit_flags (
            audit_id INTEGER NOT NULL REFERENCES audits(id),
            image_id INTEGER NOT NULL REFERENCES images(id),
            given_class TEXT NOT NULL,
            suggested_class TEXT,
            score REAL NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('label', 'off_topic')),
            PRIMARY KEY (audit_id, image_id)
        )"""
    )


def known_migrations() -> list[str]:
    """The names of the migrations this version of the code knows, in order."""
    # sqlite-utils has no public accessor for a set's registered migrations.
    return [m.name for m in migrations._migrations]


@migrations()
def m701_window_hashes_and_near_verdicts(db: Database) -> None:
    # Window hashes stored with the other hashes and the structural check's verdict per
    # judged pair: split and leaks find and judge candidates without decoding again.
    db.execute("ALTER TABLE images ADD COLUMN windows TEXT")
    db.execute(
        """CREATE TABLE near_verdicts (
            a INTEGER NOT NULL REFERENCES images(id),
            b INTEGER NOT NULL REFERENCES images(id),
            method TEXT NOT NULL,
            same INTEGER NOT NULL,
            PRIMARY KEY (a, b, method)
        ) WITHOUT ROWID"""
    )
