"""Quality flags: each check on a generated image made to fail it, thresholds as options."""

from __future__ import annotations

from curation_tests.nearcopies import encode
from imagegen import make_image
from PIL import Image, ImageDraw, ImageFilter

from catalog import Provenance, add_image, get_image, image_flags
from curation.quality import Thresholds, check_quality, flags_for

T = Thresholds()


def sharp(seed: int, size=(200, 150)) -> Image.Image:
    """A generated picture with crisp lines: the smooth ones alone read as slightly soft."""
    img = make_image(seed, size)
    draw = ImageDraw.Draw(img)
    for x in range(0, size[0], 16):
        draw.line([(x, 0), (x, size[1])], fill=(20, 20, 20), width=2)
    return img


def flags(img: Image.Image, t: Thresholds = T) -> list[str]:
    return flags_for(img, img.width, img.height, t)


def test_a_good_image_has_no_flags():
    assert flags(sharp(1, (200, 150))) == []


def test_each_flag():
    assert flags(sharp(1, (80, 80))) == ["too-small"]
    assert flags(sharp(1, (400, 100))) == ["extreme-aspect"]
    assert flags(Image.new("RGB", (200, 150), (240, 240, 240))) == ["near-uniform", "grayscale"]
    assert flags(sharp(1, (200, 150)).convert("L")) == ["grayscale"]
    assert flags(sharp(1).filter(ImageFilter.GaussianBlur(3))) == ["blurry"]


def test_thresholds_are_options():
    assert flags(sharp(1, (80, 80)), Thresholds(small_below=64)) == []
    assert flags(sharp(1, (200, 150)), Thresholds(small_below=300)) == ["too-small"]


def test_check_quality_stores_flags_and_keeps_status(cat):
    prov = Provenance(origin="import")
    good = add_image(cat, encode(sharp(1, (200, 150))), "Yeezy_350", prov).image["id"]
    grey = add_image(cat, encode(sharp(2, (200, 150)).convert("L")), "Yeezy_350", prov).image["id"]
    report = check_quality(cat)
    assert (report.checked, report.changed, dict(report.counts)) == (2, 1, {"grayscale": 1})
    assert image_flags(get_image(cat, grey)) == ["grayscale"]
    assert get_image(cat, grey)["status"] == "pending"
    assert image_flags(get_image(cat, good)) == []
    assert check_quality(cat).changed == 0
    assert check_quality(cat, Thresholds(max_chroma=0)).changed == 1  # thresholds re-flag
    assert image_flags(get_image(cat, grey)) == []
