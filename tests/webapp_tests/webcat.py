"""A small catalog with something on every page of `curate serve`: images in three classes
(some flagged, some with hostile text), a near-duplicate group, a label conflict, a split,
an audit and a finished run with predictions (import as `from webapp_tests.webcat import ...`).
"""

from __future__ import annotations

from pathlib import Path

from imagegen import image_bytes

from catalog import (
    DuplicateMark,
    Flag,
    Prediction,
    Provenance,
    add_image,
    assign_split,
    mark_duplicates,
    open_catalog,
    record_audit,
    record_conflict,
    save_predictions,
    start_run,
    update_image,
    update_run,
)

CLASSES = ("Air_Max_90", "Yeezy_350", "Yeezy_500")
HOSTILE_QUERY = "<script>alert('q')</script> [/y] \x1b[31mred"
HOSTILE_URL = "javascript:alert('url')"
HOSTILE_TITLE = '"><img src=x onerror=alert(1)>'


def add(cat, seed: int, class_name: str, **provenance) -> int:
    data = image_bytes(seed, (64 + seed % 7 * 8, 48 + seed % 5 * 8))
    origin = provenance.pop("origin", "import")
    return add_image(cat, data, class_name, Provenance(origin=origin, **provenance)).image["id"]


def build(path: Path, per_class: int = 8) -> dict:
    """Fill a new catalog at `path`; returns what the tests look for (ids, run and audit)."""
    cat = open_catalog(path)
    try:
        ids: dict[str, list[int]] = {c: [] for c in CLASSES}
        seed = 0
        for class_name in CLASSES:
            for k in range(per_class):
                seed += 1
                engine = "bing" if k % 2 else None
                ids[class_name].append(
                    add(
                        cat,
                        seed,
                        class_name,
                        origin="download" if engine else "import",
                        engine=engine,
                        query=f"{class_name} sneaker" if engine else None,
                    )
                )
        hostile = add(
            cat,
            500,
            "Yeezy_350",
            origin="download",
            engine="google",
            query=HOSTILE_QUERY,
            source_url=HOSTILE_URL,
            title=HOSTILE_TITLE,
        )
        update_image(cat, hostile, reason="[/y] <b>bold</b>")
        update_image(cat, ids["Air_Max_90"][0], flags=["blurry"])
        update_image(cat, ids["Air_Max_90"][1], flags=["too-small", "grey"])
        # The largest of the three is kept, as dedup would (sizes grow with the seed here).
        keeper, dups = ids["Yeezy_500"][2], ids["Yeezy_500"][0:2]
        mark_duplicates(cat, [DuplicateMark(d, keeper, 4, "phash") for d in dups])
        conflicted = ids["Yeezy_350"][0]
        look_alike = ids["Yeezy_500"][5]
        record_conflict(cat, conflicted, "Yeezy_500", f"near duplicate of image {look_alike}")
        every = [i for group in ids.values() for i in group]
        assign_split(
            cat, "default", [(i, "test" if n % 4 == 0 else "train") for n, i in enumerate(every)]
        )
        flagged = ids["Air_Max_90"][2:5]
        audit = record_audit(
            cat,
            "default",
            "efficientnet_lite0",
            {},
            [
                Flag(flagged[0], "Air_Max_90", "Yeezy_350", 0.01, "label"),
                Flag(flagged[1], "Air_Max_90", None, 0.05, "off_topic"),
                Flag(flagged[2], "Air_Max_90", "Yeezy_500", 0.2, "label"),
            ],
        )
        run = _run(cat, ids)
        return {
            "ids": ids,
            "hostile": hostile,
            "keeper": keeper,
            "dups": dups,
            "conflicted": conflicted,
            "look_alike": look_alike,
            "audit": audit,
            "flagged": flagged,
            "run": run,
        }
    finally:
        cat.close()


def _run(cat, ids: dict[str, list[int]]) -> int:
    """A finished run whose test predictions put two Air_Max_90 images in Yeezy_350."""
    run = start_run(cat, "mobilenet_v2", "default", "imagenet", {})
    wrong = set(ids["Air_Max_90"][5:7])
    predictions = []
    for class_name, members in ids.items():
        for image_id in members[5:]:
            guess = "Yeezy_350" if image_id in wrong else class_name
            others = [c for c in CLASSES if c != guess]
            predictions.append(
                Prediction(image_id, class_name, [(guess, 0.7), (others[0], 0.2), (others[1], 0.1)])
            )
    save_predictions(cat, run["id"], predictions)
    matrix = [
        [sum(1 for p in predictions if p.true_class == t and p.predicted == g) for g in CLASSES]
        for t in CLASSES
    ]
    per_class = {c: {"precision": 0.9, "recall": 0.8, "support": 3} for c in CLASSES}
    metrics = {
        "top1": 0.78,
        "test_images": len(predictions),
        "per_class": per_class,
        "confusion": {"classes": list(CLASSES), "matrix": matrix},
        "history": {"head": {"loss": [1.2, 0.8, 0.5], "val_loss": [1.3, 0.9, 0.7]}},
    }
    update_run(cat, run["id"], status="finished", metrics=metrics, finished=True)
    return run["id"]
