"""`curate sheet`: a self-contained HTML contact sheet of thumbnails with their ids.

Images are grouped under a heading per class, and each caption names the class and, for a
duplicate, the image it duplicates, so no thumbnail of a long sheet is without its class.

Example:
    >>> write_sheet(cat, Path("yeezy.html"), class_name="Yeezy_350")   # doctest: +SKIP
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

from catalog import (
    Catalog,
    DuplicateMark,
    duplicate_marks,
    image_file,
    image_flags,
    iter_images,
    write_text_atomic,
)

from .hashing import open_reduced

THUMB = 160
PAGE = """<!doctype html><meta charset="utf-8"><title>{title}</title>
<style>body{{font:13px sans-serif;background:#222;color:#ddd}}
figure{{display:inline-block;margin:4px;width:{w}px;vertical-align:top}}
img{{max-width:{w}px;max-height:{w}px;background:#fff}}
figcaption{{word-wrap:break-word}} .duplicate,.rejected{{opacity:.45}} .flags{{color:#fb4}}
.of{{color:#8cf}} h2{{margin:16px 4px 4px;font-size:15px}}</style>
<h1>{title}</h1><p>{count} images</p>
{figures}
"""


def write_sheet(
    cat: Catalog, out: Path, *, class_name: str | None = None, statuses: list[str] | None = None
) -> int:
    """Write the sheet for a class (and statuses) to `out`; returns how many images it shows."""
    marks = {m.image_id: m for m in duplicate_marks(cat)}
    rows = sorted(
        iter_images(cat, class_name=class_name, statuses=statuses),
        key=lambda r: (r["class"], r["id"]),
    )
    figures: list[int] = []
    sections: list[tuple[str, list[str]]] = []
    for row in rows:
        if not sections or sections[-1][0] != row["class"]:
            sections.append((row["class"], []))
        sections[-1][1].append(_figure(cat, row, marks.get(row["id"])))
        figures.append(row["id"])
    body = "\n".join(
        f"<h2>{html.escape(name)} ({len(items)})</h2>\n" + "\n".join(items)
        for name, items in sections
    )
    title = html.escape(f"{class_name or 'all classes'} — {cat.path.name}")
    page = PAGE.format(title=title, w=THUMB, count=len(figures), figures=body)
    write_text_atomic(out, page)
    return len(figures)


def _figure(cat: Catalog, row: dict, mark: DuplicateMark | None) -> str:
    caption = f"#{row['id']} {row['class']} {row['width']}×{row['height']} {row['status']}"
    flags = ", ".join(image_flags(row))
    of = (
        f"<br><span class=of>duplicate of #{mark.duplicate_of} ({mark.method}, distance "
        f"{mark.distance})</span>"
        if mark
        else ""
    )
    return (
        f'<figure class="{row["status"]}"><img src="{_thumb_uri(cat, row)}" alt="{row["id"]}">'
        f"<figcaption>{html.escape(caption)}{of}<br><span "
        f"class=flags>{html.escape(flags)}</span></figcaption></figure>"
    )


def _thumb_uri(cat: Catalog, row: dict) -> str:
    try:
        with open_reduced(image_file(cat, row)) as img:
            rgb = img.convert("RGB")
            rgb.thumbnail((THUMB, THUMB))
            buf = io.BytesIO()
            rgb.save(buf, "JPEG", quality=80)
    except (OSError, ValueError):
        return ""  # a missing file shows as an empty frame, the caption still says which
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()
