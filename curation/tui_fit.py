"""How many terminal cells an image takes in the review screen.

A picture stretched to fill its panel hides its size: a small image would look as large as
any other. It is drawn at its own aspect ratio, as large as the panel allows but never more
than `MAX_UPSCALE` times its size in pixels.

Example:
    >>> fit_cells((159, 84), (100, 40), (10, 20))
    (31, 8)
"""

from __future__ import annotations

MAX_UPSCALE = 2.0


def fit_cells(
    image_px: tuple[int, int],
    panel_cells: tuple[int, int],
    cell_px: tuple[int, int],
    max_upscale: float = MAX_UPSCALE,
) -> tuple[int, int]:
    """(columns, rows) for an image of `image_px` pixels in a panel of `panel_cells` cells.

    `cell_px` is one cell's size in pixels (terminals are about 1:2). The aspect ratio is
    kept in pixels, the panel is never exceeded and the image is at most `max_upscale` times
    its own size. At least one cell each way while the panel has room.
    """
    (img_w, img_h), (cols, rows), (cell_w, cell_h) = image_px, panel_cells, cell_px
    if min(img_w, img_h, cols, rows, cell_w, cell_h) <= 0:
        return 0, 0
    scale = min(cols * cell_w / img_w, rows * cell_h / img_h, max_upscale)
    return max(1, min(cols, int(img_w * scale / cell_w))), max(
        1, min(rows, int(img_h * scale / cell_h))
    )


def cell_px() -> tuple[int, int]:
    """One terminal cell's size in pixels, as textual-image measured it (10×20 when unknown)."""
    try:
        from textual_image._terminal import (
            get_cell_size,
        )  # cached: asked once, before the app starts

        size = get_cell_size()
        return (size.width or 10, size.height or 20)
    except Exception:  # a closed stdout or an odd terminal: assume the usual 1:2 cell
        return (10, 20)
