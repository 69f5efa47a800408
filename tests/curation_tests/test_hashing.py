"""Hashes: pinned values, reduced JPEG decoding, hashing only new images, failures."""

from __future__ import annotations

from curation_tests.nearcopies import encode
from imagegen import make_image

from catalog import Provenance, add_image, get_image, image_file
from curation.hashing import hash_catalog, hash_file, hash_files, hash_image, open_reduced


def test_hashes_are_constant():
    # Pinned like imagehash's test_hash_is_constant: a change here changes every catalog.
    h = hash_image(make_image(1, (200, 150)))
    assert (h.phash, h.dhash) == ("c6e471db83258e9a", "83c7e7e7f8f83818")
    assert h.pixel_hash.startswith("d38ee548e09770da")
    assert h.signature.startswith("fce812e7ef4499f8a847e2b8")
    assert len(h.signature) == 8 * 8 * 3 * 2


def test_large_jpeg_is_decoded_reduced(tmp_path):
    path = tmp_path / "big.jpg"
    path.write_bytes(encode(make_image(5, (800, 600))))
    with open_reduced(path) as img:
        assert img.size == (100, 75)  # DCT scaling by 1/8, never below 64 px a side
    png = tmp_path / "big.png"
    png.write_bytes(encode(make_image(5, (800, 600)), "PNG"))
    with open_reduced(png) as img:
        assert img.size == (800, 600)


def test_same_pixels_in_two_lossless_formats_share_the_pixel_hash(tmp_path):
    img = make_image(7, (120, 90))
    (tmp_path / "a.png").write_bytes(encode(img, "PNG"))
    (tmp_path / "b.webp").write_bytes(encode(img, "WEBP", lossless=True))
    (tmp_path / "c.png").write_bytes(encode(make_image(8, (120, 90)), "PNG"))
    a, b, c = hash_files([tmp_path / n for n in ("a.png", "b.webp", "c.png")], workers=1)
    assert a.pixel_hash == b.pixel_hash != c.pixel_hash


def test_unreadable_file_is_reported_not_raised(tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image")
    assert "Error" in hash_file(bad)


def test_hash_catalog_hashes_only_new_images(cat):
    for seed in range(3):
        add_image(cat, encode(make_image(seed)), "Yeezy_350", Provenance(origin="import"))
    first = hash_catalog(cat, workers=1)
    assert (first.hashed, first.already) == (3, 0)
    add_image(cat, encode(make_image(9)), "Yeezy_350", Provenance(origin="import"))
    second = hash_catalog(cat, workers=1)
    assert (second.hashed, second.already) == (1, 3)
    row = get_image(cat, 4)
    assert row["phash"] == hash_file(image_file(cat, row)).phash


def test_hash_catalog_records_a_missing_file_and_goes_on(cat):
    for seed in range(2):
        add_image(cat, encode(make_image(seed)), "Yeezy_350", Provenance(origin="import"))
    image_file(cat, get_image(cat, 1)).unlink()
    report = hash_catalog(cat, workers=1)
    assert report.hashed == 1 and [i for i, _ in report.failures] == [1]
    assert get_image(cat, 1)["phash"] is None


def test_process_pool_gives_the_same_hashes(tmp_path):
    paths = []
    for seed in range(140):
        path = tmp_path / f"{seed}.jpg"
        path.write_bytes(encode(make_image(seed, (64, 48))))
        paths.append(path)
    assert hash_files(paths, workers=2) == hash_files(paths, workers=1)
