"""Read a file the user named, safely: a regular file only, never more than a cap.

A FIFO or a device such as /dev/zero never ends, and a file named `.jpg` may be a
gigabyte: read whole, either would hang a command or exhaust memory. Every file the tools
read on a user's behalf goes through `read_input_file`.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from .errors import CatalogError

MB = 1024 * 1024
# A photo worth training on is a few MB; a 50 MB "image" is a mistake or an attack.
IMAGE_MAX_BYTES = 50 * MB
# A saved result page is a few MB; bigger ones only make the parsers slow.
PAGE_MAX_BYTES = 20 * MB
# A class map or list of names: thousands of short lines at most.
TEXT_MAX_BYTES = 4 * MB


class InputFileError(CatalogError):
    """A file that cannot be read as input; `reason` is not-a-regular-file, too-large or
    unreadable."""

    def __init__(self, reason: str, detail: str):
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}")


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def _os_error(path: Path | str, exc: OSError) -> InputFileError:
    if exc.errno == errno.ELOOP:
        return InputFileError("not-a-regular-file", "a symbolic link loop")
    if exc.errno == errno.ENOENT and os.path.islink(path):
        return InputFileError(
            "not-a-regular-file", f"a dangling symbolic link (to {os.readlink(path)})"
        )
    return InputFileError("unreadable", exc.strerror or str(exc))


def read_input_file(path: Path | str, max_bytes: int) -> bytes:
    """The bytes of the regular file `path` (symlinks followed), at most `max_bytes`.

    The type is checked before opening (opening a FIFO blocks until a writer comes), and
    the open is non-blocking with a second check on the open file, so a FIFO swapped in
    between is refused too. The size is checked before reading, and the read stops one
    byte past the cap in case the file grows.

    Raises:
        InputFileError: not-a-regular-file, too-large or unreadable (with the OS error).
    """
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            raise InputFileError("not-a-regular-file", f"{_kind(info.st_mode)}, not a regular file")
        if info.st_size > max_bytes:
            raise InputFileError(
                "too-large", f"{info.st_size} bytes, over the {max_bytes}-byte limit"
            )
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        with os.fdopen(fd, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
                raise InputFileError(
                    "not-a-regular-file", "changed into something else while being opened"
                )
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        raise _os_error(path, exc) from exc
    if len(data) > max_bytes:
        raise InputFileError("too-large", f"grew over the {max_bytes}-byte limit while being read")
    return data
