"""Near-duplicate copies of an image, as a crawler meets them on the web."""

from __future__ import annotations

import io

from imagegen import image_bytes
from PIL import Image, ImageDraw, ImageFont

from catalog import Provenance, add_image


def resized(img: Image.Image, factor: float = 0.6) -> Image.Image:
    w, h = img.size
    return img.resize(
        (max(32, int(w * factor)), max(32, int(h * factor))), Image.Resampling.LANCZOS
    )


def reencoded(img: Image.Image, quality: int = 20) -> Image.Image:
    buf = io.BytesIO()
    img.convert("RGB").save(buf, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def cropped(img: Image.Image, share: float = 0.05) -> Image.Image:
    """Cut `share` of the width and height, half on each side."""
    w, h = img.size
    dx, dy = int(w * share / 2), int(h * share / 2)
    return img.crop((dx, dy, w - dx, h - dy))


def watermarked(img: Image.Image, text: str = "(c) shop") -> Image.Image:
    """A small half-transparent text in the lower right corner."""
    out = img.convert("RGB").copy()
    w, h = out.size
    draw = ImageDraw.Draw(out, "RGBA")
    font = ImageFont.load_default(max(8, h // 14))
    draw.text((w * 0.6, h * 0.88), text, fill=(128, 128, 128, 160), font=font)
    return out


TRANSFORMS = {"resize": resized, "reencode": reencoded, "crop": cropped, "watermark": watermarked}


def encode(img: Image.Image, fmt: str = "JPEG", **save: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **save)
    return buf.getvalue()


def add_generated(
    cat, seed: int, class_name: str = "Yeezy_350", size=(96, 64), fmt: str = "JPEG", **save
) -> int:
    """Add a generated image to `cat` and return its id."""
    data = image_bytes(seed, size, fmt, **save)
    return add_image(
        cat, data, class_name, Provenance(origin="import", title=f"seed-{seed}")
    ).image["id"]
