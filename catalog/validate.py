"""Validate image bytes by decoding them fully with Pillow before anything is stored."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from .errors import InvalidImage

# Pillow format name -> file extension used in the store.
ALLOWED_FORMATS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "GIF": "gif", "BMP": "bmp"}
# Formats that are one of the allowed ones to every reader: a multi-picture JPEG (MPO, what
# many phones write for portrait or 3D shots) starts with a baseline JPEG, its first
# picture, which is what every decoder shows.
FORMAT_ALIASES = {"MPO": "JPEG"}
# The storage floor: an image whose shorter side is under this many pixels is refused
# (too-small) by every way into the catalog (crawl, import) unless told otherwise. Smaller
# files are icons and spacers, not photos. `curate quality` only flags small images above it.
MIN_STORED_SIDE = 32
# Far above any photo we want (about 8000 x 5000), far below what exhausts memory.
DEFAULT_MAX_PIXELS = 40_000_000
_EXIF_ORIENTATION = 0x0112
_TRANSPOSED = {5, 6, 7, 8}  # EXIF orientations that rotate by 90 or 270 degrees


@dataclass(frozen=True)
class ImageInfo:
    width: int
    height: int
    format: str

    @property
    def ext(self) -> str:
        return ALLOWED_FORMATS[self.format]


def validate_image(
    data: bytes,
    *,
    min_side: int = MIN_STORED_SIDE,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    formats: dict[str, str] = ALLOWED_FORMATS,
) -> ImageInfo:
    """Decode `data` completely and check it is an acceptable image.

    Raises:
        InvalidImage: with reason empty, not-an-image, unsupported-format,
            decompression-bomb, truncated or too-small.
    """
    if not data:
        raise InvalidImage("empty", "zero bytes")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            fmt = FORMAT_ALIASES.get(img.format or "", img.format or "unknown")
            if fmt not in formats:
                raise InvalidImage("unsupported-format", f"{fmt} (allowed: {', '.join(formats)})")
            width, height = img.size
            # Checked before decoding, so a bomb is refused without allocating its pixels.
            if width * height > max_pixels:
                raise InvalidImage(
                    "decompression-bomb", f"{width}x{height} exceeds {max_pixels} pixels"
                )
            img.load()
            if img.getexif().get(_EXIF_ORIENTATION) in _TRANSPOSED:
                width, height = height, width  # record the size as the image displays
    except InvalidImage:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InvalidImage("decompression-bomb", str(exc)) from exc
    except UnidentifiedImageError as exc:
        raise InvalidImage("not-an-image", _sniff(data)) from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise InvalidImage("truncated", f"cannot decode: {exc}") from exc
    if min(width, height) < min_side:
        raise InvalidImage("too-small", f"{width}x{height} is under {min_side} px on a side")
    return ImageInfo(width=width, height=height, format=fmt)


def _sniff(data: bytes) -> str:
    head = data[:256].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")) or b"<html" in head:
        return "the bytes are an HTML page"
    if head.startswith(b"<?xml") or b"<svg" in head:
        return "the bytes are XML/SVG (vector images are not supported)"
    return "Pillow cannot identify the bytes as an image"
