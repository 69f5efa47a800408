"""The bad-input corpus (issue 6): files every stage must handle without a traceback.

`write_corpus(folder)` writes each case into `folder` and returns what a stage that
validates images must conclude for it: the `InvalidImage` reason it fails with, or
"ok" with the format and displayed size it is accepted as.
"""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from imagegen import image_bytes, make_image
from PIL import Image


@dataclass(frozen=True)
class Case:
    filename: str
    data: bytes
    outcome: str  # "ok" or the InvalidImage reason
    format: str | None = None
    size: tuple[int, int] | None = None  # (width, height) as displayed


def _encode(img: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def png_bomb(width: int = 30_000, height: int = 30_000) -> bytes:
    """A few hundred bytes of PNG whose header claims width x height pixels."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\x00" * (width + 1) * 8)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")
    )


def _gif_animation() -> bytes:
    frames = [make_image(seed, (64, 48)).convert("P") for seed in range(3)]
    return _encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


def _exif_rotated_jpeg() -> bytes:
    """A 96x64 JPEG whose EXIF says "rotate 90°": it displays as 64x96."""
    exif = Image.Exif()
    exif[0x0112] = 6
    return _encode(make_image(5, (96, 64)), "JPEG", exif=exif.tobytes())


def _png16() -> bytes:
    arr = (np.linspace(0, 65535, 64 * 48).reshape(48, 64)).astype(np.uint16)
    return _encode(Image.fromarray(arr), "PNG")  # uint16 -> mode I;16


def cases() -> list[Case]:
    jpeg = image_bytes(1, (200, 150))
    png = image_bytes(2, (200, 150), "PNG")
    webp = image_bytes(3, (200, 150), "WEBP")
    return [
        Case("zero bytes.jpg", b"", "empty"),
        Case("truncated.jpg", jpeg[: len(jpeg) // 3], "truncated"),
        Case("truncated.png", png[: len(png) // 2], "truncated"),
        Case("truncated.webp", webp[: len(webp) // 2], "truncated"),
        Case("bomb.png", png_bomb(), "decompression-bomb"),
        Case(
            "drawing.svg",
            b'<svg xmlns="http://www.w3.org/2000/svg" width="99" height="99"><rect/></svg>',
            "not-an-image",
        ),
        Case(
            "page.jpg",
            b"<!DOCTYPE html><html><body>Our systems have detected unusual traffic</body></html>",
            "not-an-image",
        ),
        Case("animation.gif", _gif_animation(), "ok", "GIF", (64, 48)),
        Case(
            "cmyk.jpg",
            _encode(make_image(6, (80, 60)).convert("CMYK"), "JPEG"),
            "ok",
            "JPEG",
            (80, 60),
        ),
        Case("sixteen-bit.png", _png16(), "ok", "PNG", (64, 48)),
        Case("rotated.jpg", _exif_rotated_jpeg(), "ok", "JPEG", (64, 96)),
        Case("really a jpeg.png", image_bytes(7, (90, 70)), "ok", "JPEG", (90, 70)),
        Case("naïve café 日本 shoe.jpg", image_bytes(8, (90, 70)), "ok", "JPEG", (90, 70)),
        Case("tiny.png", image_bytes(9, (12, 12), "PNG"), "too-small"),
        Case("scan.tiff", _encode(make_image(10, (64, 64)), "TIFF"), "unsupported-format"),
        Case("notes.txt", b"just some text, not an image\n" * 10, "not-an-image"),
    ]


def write_corpus(folder: Path) -> list[Case]:
    folder.mkdir(parents=True, exist_ok=True)
    written = cases()
    for case in written:
        (folder / case.filename).write_bytes(case.data)
    return written
