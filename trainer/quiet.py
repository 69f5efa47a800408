"""Import the Keras backend without the start-up notes it writes to stderr.

TensorFlow 2.19+ logs "oneDNN custom operations are on" and a CPU-features note from C++
before absl's logging is set up, so TF_CPP_MIN_LOG_LEVEL cannot silence them (it still
filters what comes later: `trainer/__init__.py` sets it). Here the first import runs with
file descriptor 2 pointed at a temporary file; afterwards everything it wrote is replayed
except the known notes, so real warnings and errors still show (a crash inside the import
would lose them: the import of a working install does not crash). TensorFlow's Python
logger is set to errors only.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
from collections.abc import Iterator
from types import ModuleType

# Substrings of the lines dropped; anything else written during the import is kept.
NOTES = (
    "All log messages before absl::InitializeLog() is called",
    "oneDNN custom operations are on",
    "cpu_feature_guard.cc",
    "To enable the following instructions:",
)


def import_keras() -> ModuleType:
    """`import keras` (and its backend), with the backend's start-up notes dropped.

    Example:
        >>> keras = import_keras()  # then `import keras` elsewhere is free and silent
    """
    if "keras" in sys.modules:
        return sys.modules["keras"]
    with filtered_stderr(NOTES):
        import keras
    # TensorFlow's Python logger warns about tf.function retracing when batch shapes vary
    # (a last partial batch): noise for a user. Errors still show; a level the user set wins.
    tf_logger = logging.getLogger("tensorflow")
    if tf_logger.level == logging.NOTSET:
        tf_logger.setLevel(logging.ERROR)
    return keras


@contextlib.contextmanager
def filtered_stderr(drop: tuple[str, ...]) -> Iterator[None]:
    """Capture what C and Python write to fd 2 in the block; replay it without lines containing
    `drop`."""
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no stderr at all (a daemon): nothing to filter
        yield
        return
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            kept = [
                line
                for line in sink.read().decode(errors="replace").splitlines(keepends=True)
                if not any(note in line for note in drop)
            ]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()
