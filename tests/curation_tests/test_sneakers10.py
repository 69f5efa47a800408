"""End to end on the real thumbnails in ../shared (skipped where it is absent).

The expected groups were checked by eye: images 79, 197 and 242 are square related-search
chips cut from results 91, 231 and 260; 210 (Air_Max_1) is the same Off-White Air Max 90
photo as 261 (Air_Max_90). The closest distinct sneakers (pHash 0-2 apart: 216/262,
249/256) stay apart. Structural confirmation (issue 14) also finds Air_Jordan_1_015 and
Air_Max_1_015: the same product photos as Air_Jordan_1_039 and Air_Max_1_031, reframed (and
for the Air Max on another background), every lace and stitch in place, checked by eye. The
window candidates (issue 14) add Adidas_Ultra_Boost_4_028: the photo of _021 cut to a wider
frame, the same pair, laces and shadow, checked by eye. The pHash+dHash candidates
within 16 bits (issue 14, second pass) add Yeezy_500_022 (pHash 14 bits away, half its
keypoints fit): the photo of _012 on a square canvas with an "AuKick.com" watermark on the
heel, every panel and the lace pull in place, checked by eye.
"""

from __future__ import annotations

import pytest

from catalog import open_catalog
from catalog.conflicts import open_conflicts
from curation.dedup import dedup
from curation.importer import import_plan, plan_import
from curation.split import leaks, split_catalog

pytestmark = pytest.mark.slow  # the real sneakers10 images from ../shared


def test_sneakers10(shared_dir, catalog_path):
    with open_catalog(catalog_path) as cat:
        report = import_plan(cat, plan_import(shared_dir / "data" / "sneakers10"))
        assert (report.added, len(report.conflicts)) == (385, 2)
        result = dedup(cat)
        titles = {r["id"]: r["title"] for r in cat.table("images").rows}
        groups = {
            titles[g.keep]: sorted(titles[m.image_id] for m in g.members) for g in result.groups
        }
        assert groups == {
            "Air_Force_1_025.jpg": ["Air_Force_1_013.jpg"],
            "Air_Max_1_039.jpg": ["Air_Max_1_005.jpg"],
            "Air_Max_90_027.jpg": ["Air_Max_90_008.jpg"],
            "Air_Jordan_1_039.jpg": ["Air_Jordan_1_015.webp"],
            "Air_Max_1_031.jpg": ["Air_Max_1_015.webp"],
            "Adidas_Ultra_Boost_4_021.jpg": ["Adidas_Ultra_Boost_4_028.jpg"],
            "Yeezy_500_022.jpg": ["Yeezy_500_012.webp"],
        }
        assert {(titles[k], c) for k, c, _ in result.conflicts} == {
            ("Air_Max_1_018.webp", "Air_Max_90"),
            ("Air_Max_90_028.jpg", "Air_Max_1"),
        }
        # The 2 byte duplicates, plus 261 -> Air_Max_1 (210 -> Air_Max_90 was already one).
        assert len(open_conflicts(cat)) == 3
        split = split_catalog(cat, "default", test=0.2, seed=42)
        for counts in split.per_class.values():
            assert abs(counts["test"] / (counts["train"] + counts["test"]) - 0.2) < 0.02
        assert leaks(cat, "default") == []
