"""Validation decodes every body with Pillow and names the reason it fails."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from imagegen import image_bytes, make_image

from catalog import InvalidImage, validate_image


def _png_bomb(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height grey pixels (all zero, deflated)."""
    raw = zlib.compress(b"\x00" * (width + 1) * 16)  # only a few rows: the size is what matters

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "GIF", "BMP"])
def test_each_allowed_format_is_accepted(fmt):
    info = validate_image(image_bytes(1, (64, 48), fmt))
    assert (info.width, info.height, info.format) == (64, 48, fmt)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (b"<!DOCTYPE html><html><body>blocked</body></html>", "not-an-image"),
        (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"></svg>', "not-an-image"),
        (image_bytes(2, (200, 150))[:800], "truncated"),
        (image_bytes(2, (20, 100)), "too-small"),
        (_png_bomb(20_000, 20_000), "decompression-bomb"),
    ],
    ids=["empty", "html", "svg", "truncated-jpeg", "too-small", "png-bomb"],
)
def test_bad_bodies_are_refused_with_a_reason(data, reason):
    with pytest.raises(InvalidImage) as err:
        validate_image(data)
    assert err.value.reason == reason


def test_unsupported_format_names_the_allowed_ones():
    buf = io.BytesIO()
    make_image(3).save(buf, "TIFF")
    with pytest.raises(InvalidImage) as err:
        validate_image(buf.getvalue())
    assert err.value.reason == "unsupported-format"
    assert "TIFF" in str(err.value) and "JPEG" in str(err.value)


def test_html_is_named_as_html():
    with pytest.raises(InvalidImage, match="HTML page"):
        validate_image(b"<html><head></head><body>captcha</body></html>")


def test_min_side_is_an_option():
    data = image_bytes(4, (40, 40))
    assert validate_image(data, min_side=32).width == 40
    with pytest.raises(InvalidImage, match="under 64 px"):
        validate_image(data, min_side=64)


def _mpo(size: tuple[int, int] = (64, 48)) -> bytes:
    first, second = make_image(3, size), make_image(4, size)
    buf = io.BytesIO()
    first.save(buf, "MPO", save_all=True, append_images=[second])
    return buf.getvalue()


def test_multi_picture_jpeg_is_accepted_as_jpeg(cat):
    """Issue 13: multi-picture JPEGs (Pillow format MPO, from phones) were refused as
    unsupported."""
    from catalog import Provenance, add_image

    data = _mpo()
    info = validate_image(data)
    assert (info.width, info.height, info.format, info.ext) == (64, 48, "JPEG", "jpg")
    result = add_image(cat, data, "Yeezy_350", Provenance(origin="import"))
    assert (
        result.created
        and result.image["format"] == "JPEG"
        and result.image["path"].endswith(".jpg")
    )
