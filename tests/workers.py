"""Functions run in child processes by the stress tests (importable, so `spawn` finds them)."""

from __future__ import annotations

from imagegen import image_bytes

from catalog import Provenance, add_image, open_catalog

CLASSES = ["Yeezy_350", "Yeezy_500", "Air_Max_1"]
PER_WORKER = 25


def add_images_worker(db: str, class_name: str, offset: int, errors) -> None:
    try:
        with open_catalog(db) as cat:
            for i in range(PER_WORKER):
                add_image(
                    cat, image_bytes(offset + i, (64, 48)), class_name, Provenance(origin="import")
                )
            # Every worker also stores the same shared images: one row each, the rest conflicts.
            for seed in range(5):
                add_image(
                    cat,
                    image_bytes(10_000 + seed, (64, 48)),
                    class_name,
                    Provenance(origin="import"),
                )
    except Exception as exc:  # reported to the parent, which fails the test with it
        errors.put(f"{class_name}: {type(exc).__name__}: {exc}")
