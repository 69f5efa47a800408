"""Where ../shared is: real sneaker images, saved Google pages and weights beside the repository.

Only development and CI machines have it; tests that read it are marked slow and skip without it.
"""

from __future__ import annotations

from pathlib import Path

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
