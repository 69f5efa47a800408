"""On-disk .npy arrays written batch by batch and read back by rows, never whole.

Why not `np.memmap`: every page it touches counts towards the process's resident memory
until the kernel needs it back, so one epoch over a 10 GB memory map shows up as a
10 GB process. Explicit `pread`s of the rows a batch needs keep the resident set at
one batch. The files are plain .npy files (`np.load` reads them).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from catalog import AtomicFile

from .cache import PARTIAL_PREFIX


class NpyWriter:
    """Append rows to a new .npy file of a known shape; it appears under `path` only when complete.

    Example:
        >>> with NpyWriter(path, (n, 14, 14, 96), np.float16) as out:
        ...     for batch in batches: out.write(batch)
    """

    def __init__(self, path: Path, shape: tuple[int, ...], dtype) -> None:
        self.path, self.shape, self.dtype = (
            Path(path),
            tuple(int(s) for s in shape),
            np.dtype(dtype),
        )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # The pid in the name lets a later run remove what a killed writer left (`cache`).
        self._out = AtomicFile(self.path, prefix=PARTIAL_PREFIX, suffix=".npy")
        self._fh = self._out.file
        header = {
            "descr": np.lib.format.dtype_to_descr(self.dtype),
            "fortran_order": False,
            "shape": self.shape,
        }
        np.lib.format.write_array_header_2_0(self._fh, header)
        self.rows = 0

    def write(self, batch: np.ndarray) -> None:
        batch = np.ascontiguousarray(batch, dtype=self.dtype)
        if batch.shape[1:] != self.shape[1:] or self.rows + len(batch) > self.shape[0]:
            raise ValueError(
                f"rows of shape {batch.shape} do not fit {self.shape} after {self.rows} rows"
            )
        self._fh.write(batch.tobytes())
        self.rows += len(batch)

    def close(self) -> None:
        """Rename into place if every row was written; otherwise drop the partial file."""
        if self.rows == self.shape[0]:
            self._out.commit()  # atomic: a reader never sees half a file
        else:
            self._out.discard()

    def __enter__(self) -> NpyWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.rows = -1  # an error mid-way: never publish the partial file
        self.close()


class NpyRows:
    """Read rows of a .npy file by index with `pread` (thread-safe, no memory map)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        with open(self.path, "rb") as fh:
            version = np.lib.format.read_magic(fh)
            read_header = (
                np.lib.format.read_array_header_1_0
                if version == (1, 0)
                else np.lib.format.read_array_header_2_0
            )
            self.shape, fortran, self.dtype = read_header(fh)
            self.offset = fh.tell()
        if fortran:
            raise ValueError(f"{path}: Fortran-ordered arrays are not supported")
        self.row_bytes = int(np.prod(self.shape[1:], dtype=np.int64)) * self.dtype.itemsize
        self._fd = os.open(self.path, os.O_RDONLY)

    def __len__(self) -> int:
        return int(self.shape[0])

    def __del__(self) -> None:
        fd = getattr(self, "_fd", None)
        if fd is not None:
            os.close(fd)

    def read(self, start: int, stop: int) -> np.ndarray:
        """Rows start..stop-1 in one read."""
        return self.take(np.arange(start, min(stop, len(self))))

    def take(self, rows: np.ndarray) -> np.ndarray:
        """The given rows, in the given order; runs of consecutive rows are read at once.

        Sort `rows` first where the order does not matter: fewer, longer reads.
        """
        rows = np.asarray(rows, dtype=np.int64)
        out = np.empty((len(rows), *self.shape[1:]), dtype=self.dtype)
        flat = out.reshape(len(rows), -1).view(np.uint8)
        breaks = np.flatnonzero(np.diff(rows) != 1) + 1
        for first, run in zip(np.r_[0, breaks], np.split(rows, breaks), strict=True):
            if not len(run):
                continue
            nbytes = len(run) * self.row_bytes
            data = os.pread(self._fd, nbytes, self.offset + int(run[0]) * self.row_bytes)
            if len(data) != nbytes:
                raise OSError(
                    f"{self.path} is truncated: "
                    f"wanted {nbytes} bytes at row {run[0]}, got {len(data)}"
                )
            flat[first : first + len(run)] = np.frombuffer(data, np.uint8).reshape(len(run), -1)
        return out
