"""Which processes a test left behind, found by a folder only that test uses."""

from __future__ import annotations

import os
from pathlib import Path


def processes_naming(marker: str | os.PathLike) -> list[str]:
    """Command lines of the running processes that mention `marker` (a test's tmp folder)."""
    found = []
    needle = str(marker).encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if needle in cmdline:
            found.append(cmdline.replace(b"\0", b" ").decode(errors="replace")[:200])
    return found
